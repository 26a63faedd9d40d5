"""HTML of the report's pages: a per-subject overview (the answers, as tables) and the
methods and provenance of a run. Tables and dicts in, HTML text out; the report stage
(``stages.report``) reads the files and writes the pages.

The pages are plain, self-contained HTML (inline CSS, a few lines of JavaScript for the
row filter), readable in the report's frame and searchable with the browser's find.
"""
from __future__ import annotations

import html
import math

from . import palette

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em 1em 1em 2.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f2f2f2; } td { white-space: nowrap; } td.wrap { white-space: normal; max-width: 60em; } td.name, th.name { text-align: left; }
.layer { font-weight: 600; } .neg { color: #b2182b; } .sig { color: #555; font-size: 0.85em; }
.note { color: #555; max-width: 60em; } pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
input#filter { font-size: 1em; padding: 3px 6px; width: 22em; }
"""

_FILTER_JS = """
<script>
function filterRows(term) {
  term = term.trim().toLowerCase();
  for (const row of document.querySelectorAll("table.filterable tbody tr")) {
    row.style.display = (!term || row.textContent.toLowerCase().includes(term)) ? "" : "none";
  }
}
</script>
"""


def _page(title, body, script=""):
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style>{script}</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def _num(value, digits=4):
    """A number as text (4 decimals; scientific below 0.001, so no '-0.0000'): NaN as
    'undefined', negatives marked (class neg)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<span class="neg">undefined</span>'
    text = f"{value:.{digits}f}" if value == 0 or abs(value) >= 10 ** -(digits - 1) else f"{value:.1e}"
    return f'<span class="neg">{text}</span>' if value < 0 else text


def _layer(name, colours):
    return f'<span class="layer" style="color:{colours[name]}">{html.escape(name)}</span>'


def _sig(rec, prefix=""):
    """' (x% sig.)' where the statistics columns exist in a row, else ''."""
    for key in (f"{prefix}fraction_significant", f"{prefix}n_significant"):
        if key in rec and rec[key] is not None and not (isinstance(rec[key], float) and math.isnan(rec[key])):
            if key.endswith("fraction_significant"):
                return f' <span class="sig">({100 * float(rec[key]):.0f}% sig.)</span>'
            return f' <span class="sig">({int(rec[key])} sig.)</span>'
    return ""


# --------------------------------------------------------------------------- overview
def overview_tables(layers, layer_r2, counts, partition):
    """The overview's numbers from the three summary tables (pandas DataFrames).

    Returns (rois, roi_rows, pair_rows): roi_rows[roi] = {n_voxels, n_undefined, best_layer,
    best_share, r2: {layer: record of layer_r2}}; pair_rows[pair] = {roi: record of partition}.
    """
    rois = list(dict.fromkeys(layer_r2["roi"]))
    roi_rows = {}
    for roi in rois:
        c = counts[counts["roi"] == roi]
        n_undefined = int(c["n_undefined"].iloc[0]) if len(c) else 0
        by_layer = dict(zip(c["layer"], c["count"].astype(int)))
        n_voxels = int(sum(by_layer.values())) + n_undefined
        best = max(layers, key=lambda l: by_layer.get(l, 0)) if by_layer and max(by_layer.values()) > 0 else None
        r2 = {rec["layer"]: rec for rec in layer_r2[layer_r2["roi"] == roi].to_dict("records")}
        roi_rows[roi] = {"n_voxels": n_voxels, "n_undefined": n_undefined, "best_layer": best,
                         "best_count": by_layer.get(best, 0) if best else 0,
                         "best_share": by_layer.get(best, 0) / n_voxels if best and n_voxels else float("nan"),
                         "r2": r2}
    pair_rows = {}
    for rec in partition.to_dict("records"):
        pair_rows.setdefault(rec["pair"], {})[rec["roi"]] = rec
    return rois, roi_rows, pair_rows


def overview_html(subject, layers, layer_r2, counts, partition, viewer_href=None) -> str:
    """The subject's answers as HTML tables: per ROI its voxels, best layer (with its share
    of the ROI's voxels) and median R2 per layer; per layer pair the median unique A,
    shared and unique B per ROI. Layer names in the palette's colours; where the tables
    carry significance columns (n_significant / fraction_significant), the significant
    share beside each median."""
    colours = palette.layer_colours(layers)
    rois, roi_rows, pair_rows = overview_tables(layers, layer_r2, counts, partition)

    parts = [f'<p class="note">Validation R2 is the fraction of variance of each voxel\'s responses to the '
             f'validation images that a layer\'s ridge model predicts (below 0: worse than predicting the mean). '
             f'Medians are over the ROI\'s voxels with a defined R2. Type an ROI or layer name to filter the rows '
             f'(or use the browser\'s find).</p>',
             '<p><input id="filter" type="search" placeholder="filter rows: ROI or layer, e.g. FFA-1 or Conv5" '
             'oninput="filterRows(this.value)"></p>']
    head = "".join(f'<th>median R2 {_layer(l, colours)}</th>' for l in layers)
    rows = []
    for roi in rois:
        r = roi_rows[roi]
        best = (f'{_layer(r["best_layer"], colours)} ({100 * r["best_share"]:.0f}%, {r["best_count"]} voxels)'
                if r["best_layer"] else "none")
        cells = []
        for l in layers:
            rec = r["r2"].get(l)
            cells.append(f'<td>{_num(rec["median"]) if rec else "-"}{_sig(rec) if rec else ""}</td>')
        undefined = f' <span class="sig">({r["n_undefined"]} undefined)</span>' if r["n_undefined"] else ""
        rows.append(f'<tr><td class="name">{html.escape(roi)}</td><td>{r["n_voxels"]}{undefined}</td>'
                    f'<td class="name">{best}</td>{"".join(cells)}</tr>')
    parts.append("<h2>Which layer best explains each ROI?</h2>"
                 '<p class="note">Best layer: the layer with the highest validation R2 in the most voxels of the ROI, '
                 'with its share of the ROI\'s voxels (voxels whose R2 is undefined have no best layer).</p>'
                 f'<table class="filterable" id="roi_table"><thead><tr><th class="name">ROI</th><th>voxels</th>'
                 f'<th class="name">best layer (share of voxels)</th>{head}</tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>')

    if pair_rows:
        parts.append("<h2>How much variance does each layer add over the other?</h2>"
                     '<p class="note">Per layer pair A+B, medians over the ROI\'s voxels of unique A = R2(A+B) - R2(B), '
                     'shared = R2(A) + R2(B) - R2(A+B) and unique B = R2(A+B) - R2(A) (fraction of variance; '
                     'negative values in red).</p>')
        rows = []
        for pair, by_roi in pair_rows.items():
            for roi in rois:
                rec = by_roi.get(roi)
                if rec is None:
                    continue
                a, b = rec["layer_a"], rec["layer_b"]
                rows.append(
                    f'<tr><td class="name">{_layer(a, colours)}+{_layer(b, colours)}</td>'
                    f'<td class="name">{html.escape(roi)}</td><td>{int(rec["n_voxels"])}</td>'
                    f'<td>{_num(rec["unique_a_median"])}{_sig(rec, "unique_a_")}</td>'
                    f'<td>{_num(rec["shared_median"])}{_sig(rec, "shared_")}</td>'
                    f'<td>{_num(rec["unique_b_median"])}{_sig(rec, "unique_b_")}</td>'
                    f'<td>{_num(rec["r2_joint_median"])}{_sig(rec, "r2_joint_")}</td></tr>')
        parts.append('<table class="filterable" id="partition_table"><thead><tr><th class="name">pair A+B</th>'
                     '<th class="name">ROI</th><th>voxels</th><th>median unique A</th><th>median shared</th>'
                     '<th>median unique B</th><th>median R2(A+B)</th></tr></thead>'
                     f'<tbody>{"".join(rows)}</tbody></table>')
    if viewer_href:
        parts.append(f'<p class="note">Interactive 3D/flat view of these results: <a href="{html.escape(viewer_href)}" '
                     f'target="_blank">{html.escape(viewer_href)}</a> (relative to the folder holding report.html). '
                     f'pycortex\'s WebGL viewer must be served over HTTP, not opened as a file: run '
                     f'<code>python -m http.server --bind 127.0.0.1 8000</code> in the workflow folder and open '
                     f'<code>http://127.0.0.1:8000/{html.escape(viewer_href)}</code>.</p>')

    parts.append(f'<p class="note">From results/{html.escape(subject)}/summary/layer_r2.tsv, best_layer_counts.tsv '
                 f'and partition.tsv (also in this report, with min and max).</p>')
    return _page(f"{subject}: overview", "\n".join(parts), _FILTER_JS)


# --------------------------------------------------------------------------- provenance
def _kv_table(items, cls=""):
    rows = "".join(f'<tr><td class="name">{html.escape(str(k))}</td><td class="name wrap">{v}</td></tr>'
                   for k, v in items)
    return f'<table class="{cls}"><tbody>{rows}</tbody></table>'


def provenance_html(config, ridge, git, split_sizes, versions, date) -> str:
    """The methods and provenance of a run: every setting that changes a number, split
    sizes and seeds per subject, the commit (and whether the tree was dirty), package
    versions, the date and the full config as run (YAML).

    ridge: configuration.ridge_params(config); git: {'commit', 'dirty'}; split_sizes: {subject:
    sizes of its splits}; versions: {package: version}; date: text.
    """
    import yaml
    lambdas = ", ".join(f"{x:g}" for x in ridge["lambdas"])
    dirty = {True: "yes (tracked files differ from the commit)", False: "no", None: "unknown"}[git["dirty"]]
    parts = ['<p class="note">Every setting on this page reaches its rules through params, so changing it in the '
             'config reruns exactly the jobs it affects (and this page).</p>',
             "<h2>Methods: settings that change the numbers</h2>",
             _kv_table([
                 ("ridge.lambdas (lambda grid)", f"{len(ridge['lambdas'])} values: {html.escape(lambdas)}"),
                 ("ridge.intercept", html.escape(str(ridge["intercept"]))),
                 ("ridge.refit", html.escape(str(ridge["refit"]))),
                 ("ridge.input_precision", html.escape(str(ridge["precision"]))),
                 ("split.pct_holdout", html.escape(str(config["split"]["pct_holdout"]))),
                 ("layers", html.escape(", ".join(config["layers"]))),
                 ("rois", html.escape(", ".join(config["rois"]))),
                 ("merged_rois", html.escape(str(config.get("merged_rois", {})))),
                 ("summary.noise_ceiling_threshold", html.escape(str(config["summary"]["noise_ceiling_threshold"]))),
                 ("device", html.escape(str(config["device"])) + " (CPU and GPU differ only at rounding)"),
             ]),
             '<p class="note">Per voxel, lambda is chosen on the holdout images (highest holdout R2), the weights are '
             'those fitted on the training images (refit: on train+holdout) and R2 is scored on the validation images. '
             'Variance partition of a pair A+B: unique A = R2(A+B) - R2(B), unique B = R2(A+B) - R2(A), '
             'shared = R2(A) + R2(B) - R2(A+B).</p>',
             "<h2>Splits and seeds per subject</h2>"]
    head = ["subject", "source", "split_seed", "demo seed", "train", "holdout", "validation", "images kept",
            "voxels fitted"]
    rows = []
    for subject, s in split_sizes.items():
        scfg = config["subjects"][subject]
        demo_seed = scfg.get("demo", {}).get("seed", "") if scfg["source"] == "demo" else "-"
        cells = [subject, scfg["source"], scfg["split_seed"], demo_seed, s["train"], s["holdout"], s["validation"],
                 s["images kept"], s["voxels fitted"]]
        rows.append("<tr>" + "".join(f'<td class="name">{html.escape(str(c))}</td>' for c in cells) + "</tr>")
    parts.append(f'<table id="splits"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>')
    parts += ["<h2>Provenance</h2>",
              _kv_table([("git commit", f"<code>{html.escape(git['commit'])}</code>"),
                         ("tree dirty", dirty), ("date", html.escape(date))]),
              "<h2>Package versions</h2>",
              _kv_table([(k, html.escape(v)) for k, v in versions.items()], cls="versions"),
              "<h2>Config as run</h2>",
              f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"]
    return _page("Methods and provenance", "\n".join(parts))


# --------------------------------------------------------------------------- viewer
def viewer_pair(layers):
    """The layer pair whose partition volumes the viewer shows: the first and last layer."""
    return (layers[0], layers[-1]) if len(layers) > 1 else None


