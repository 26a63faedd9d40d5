"""HTML of the report's pages: a per-subject overview (the answers, as tables) and the
methods and provenance of a run. Tables and dicts in, HTML text out; the report stage
(``stages.report``) reads the files and writes the pages.

The pages are plain, self-contained HTML (inline CSS; the answers sort and filter with
inline event handlers, no <script>, so that they also work inside the Snakemake report's
first page), readable in the report's frame and searchable with the browser's find.
"""
from __future__ import annotations

import html
import math

from . import comparisons, palette

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


def _page(title, body, script=""):
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style>{script}</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def _is_nan(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value, digits=4, bound=None):
    """A number as text (4 decimals; scientific below 0.001, so no '-0.0000'): NaN as
    'undefined', negatives marked (class neg); with a rounding bound (R2 units), a value no
    larger in magnitude than the bound as '~0', its exact value in the tooltip."""
    if _is_nan(value):
        return '<span class="neg">undefined</span>'
    value = float(value)
    if bound is not None and comparisons.at_rounding_level(value, bound):
        return (f'<span class="em-zero" title="{value:.2e}: not larger than the rounding bound {bound:.1e} '
                f'(see the methods page)">~0</span>')
    text = f"{value:.{digits}f}" if value == 0 or abs(value) >= 10 ** -(digits - 1) else f"{value:.1e}"
    return f'<span class="neg">{text}</span>' if value < 0 else text


def _plain(value, bound):
    """A number as plain text (a tooltip): 'undefined', '~0' at rounding level, else 3 digits."""
    if _is_nan(value):
        return "undefined"
    return "~0" if comparisons.at_rounding_level(float(value), bound) else f"{float(value):.3g}"


def _sort_value(value, bound=None):
    """The value a numeric cell sorts by (data-v): NaN as '' (sorted last), a value at
    rounding level as 0 (as shown)."""
    if _is_nan(value):
        return ""
    value = float(value)
    return "0" if bound is not None and comparisons.at_rounding_level(value, bound) else repr(value)


def _layer(name, colours):
    return f'<span class="layer" style="color:{colours[name]}">{html.escape(name)}</span>'


def _sig(rec, fraction_key, count_key):
    """' (x% sig.)' from a row's fraction (or count) of significant voxels, '' when the
    statistics columns are absent (statistics off)."""
    if rec is None:
        return ""
    if fraction_key in rec and not _is_nan(rec[fraction_key]):
        return f' <span class="sig">({100 * float(rec[fraction_key]):.0f}% sig.)</span>'
    if count_key in rec and not _is_nan(rec[count_key]):
        return f' <span class="sig">({int(rec[count_key])} sig.)</span>'
    return ""


# The partition.tsv columns of each pair component's significance (paired bootstrap;
# the shared variance and the joint R2 have no test there).
PAIR_SIGNIFICANCE = {k: (f"fraction_significant_{k}", f"n_significant_{k}") for k in ("unique_a", "unique_b")}

# --------------------------------------------------------------------------- overview
# The answers (the report's first page and each subject's overview page) are one HTML
# fragment with no <script>: the report inserts its first page's description as
# innerHTML, where scripts do not run but inline event handlers do. One delegated
# handler per event sorts (click on a header) and filters (exact ROI names) the tables.
_ANSWERS_STYLE = """
.em-answers { font-family: system-ui, sans-serif; font-size: 13px; color: #222; max-width: none; }
.em-answers h2 { font-size: 1.25em; margin: 1.2em 0 0.3em 0; } .em-answers h3 { font-size: 1.05em; margin: 1em 0 0.2em 0; }
.em-answers table { border-collapse: collapse; margin: 0.3em 0 0.8em 0; width: auto; font-size: 13px; }
.em-answers th, .em-answers td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
.em-answers th { background: #f2f2f2; cursor: pointer; user-select: none; vertical-align: bottom; }
.em-answers th[data-dir="asc"]::after { content: " \\25B2"; } .em-answers th[data-dir="desc"]::after { content: " \\25BC"; }
.em-answers td.name, .em-answers th.name { text-align: left; }
.em-answers .layer { font-weight: 600; } .em-answers .neg { color: #b2182b; } .em-answers .sig { color: #555; font-size: 0.85em; }
.em-answers .em-zero { color: #777; } .em-answers td.em-max { background: #fff3c4; font-weight: 600; }
.em-answers .note { color: #555; max-width: 70em; margin: 0.3em 0; }
.em-answers input, .em-answers select { font-size: 1em; padding: 2px 5px; }
.em-answers p { margin: 0.3em 0; }
.em-answers code::before, .em-answers code::after { content: none; }
/* In the Snakemake report's first page: full width, answers above the rule graph, scrollable from the top. */
div.prose:has(.em-answers) { max-width: none; }
div.items-start:has(> div > div.prose .em-answers) { flex-direction: column; }
div.h-screen.items-center:has(.em-answers) { align-items: flex-start; justify-content: flex-start; }
"""

_SORT_JS = (
    "var th=event.target.closest('th');if(!th||!th.closest('table.em-sortable'))return;"
    "var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th);"
    "var d=th.getAttribute('data-dir')==='desc'?'asc':'desc';"
    "t.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-dir')});th.setAttribute('data-dir',d);"
    "var s=th.getAttribute('data-type')==='text';"
    "var rows=Array.prototype.slice.call(b.rows);"
    "rows.sort(function(r,q){var x=r.cells[i].getAttribute('data-v'),y=q.cells[i].getAttribute('data-v'),c;"
    "if(s){c=x.localeCompare(y);return d==='asc'?c:-c;}"
    "if(x===''||y===''){return x===y?0:(x===''?1:-1);}"
    "c=parseFloat(x)-parseFloat(y);return d==='asc'?c:-c;});"
    "rows.forEach(function(r){b.appendChild(r);});")

_FILTER_JS = (
    "var f=event.target;if(!f.classList.contains('em-roi-filter'))return;"
    "var want=f.value.split(/[\\s,]+/).filter(function(w){return w;}).map(function(w){return w.toLowerCase();});"
    "f.closest('section').querySelectorAll('tr[data-roi]').forEach(function(r){"
    "r.style.display=(!want.length||want.indexOf(r.getAttribute('data-roi').toLowerCase())>=0)?'':'none';});")

_PAIR_JS = (
    "var f=event.target;if(!f.classList.contains('em-pair-select'))return;"
    "f.closest('section').querySelectorAll('div.em-pair').forEach(function(p){"
    "p.style.display=(f.value==='all'||p.getAttribute('data-pair')===f.value)?'':'none';});")


def overview_tables(layers, layer_r2, counts, partition):
    """The overview's numbers from the three summary tables (pandas DataFrames).

    Returns (rois, roi_rows, pair_rows): roi_rows[roi] = {n_voxels, n_undefined, best_layer,
    best_count, best_share, best_significant (of best_count, those whose best layer's R2 is
    significant; None without statistics), r2: {layer: record of layer_r2}};
    pair_rows[pair] = {roi: record of partition}.
    """
    rois = list(dict.fromkeys(layer_r2["roi"]))
    roi_rows = {}
    for roi in rois:
        c = counts[counts["roi"] == roi]
        n_undefined = int(c["n_undefined"].iloc[0]) if len(c) else 0
        by_layer = dict(zip(c["layer"], c["count"].astype(int)))
        sig = dict(zip(c["layer"], c["n_significant"].astype(int))) if "n_significant" in c else {}
        n_voxels = int(sum(by_layer.values())) + n_undefined
        best = max(layers, key=lambda l: by_layer.get(l, 0)) if by_layer and max(by_layer.values()) > 0 else None
        r2 = {rec["layer"]: rec for rec in layer_r2[layer_r2["roi"] == roi].to_dict("records")}
        roi_rows[roi] = {"n_voxels": n_voxels, "n_undefined": n_undefined, "best_layer": best,
                         "best_count": by_layer.get(best, 0) if best else 0,
                         "best_significant": sig.get(best) if best else None,
                         "best_share": by_layer.get(best, 0) / n_voxels if best and n_voxels else float("nan"),
                         "r2": r2}
    pair_rows = {}
    for rec in partition.to_dict("records"):
        pair_rows.setdefault(rec["pair"], {})[rec["roi"]] = rec
    return rois, roi_rows, pair_rows


def pair_headers(a, b) -> dict:
    """Column headers of a pair's components, naming the layers (HTML-escaped)."""
    a, b = html.escape(a), html.escape(b)
    return {"unique_a": f"unique {a} beyond {b}", "shared": f"shared by {a} and {b}",
            "unique_b": f"unique {b} beyond {a}", "r2_joint": f"R2({a}+{b})"}


def largest_component(rec, bounds):
    """The pair component ('unique_a', 'shared' or 'unique_b') with the largest median (a
    median at rounding level counts as 0), or None when every median is undefined or at
    rounding level."""
    values, resolved = {}, False
    for k in ("unique_a", "shared", "unique_b"):
        v = rec.get(f"{k}_median")
        if _is_nan(v):
            continue
        at_zero = comparisons.at_rounding_level(v, bounds[k])
        values[k] = 0.0 if at_zero else float(v)
        resolved = resolved or not at_zero
    if not resolved:
        return None
    return max(values, key=values.get)


def _roi_cell(roi):
    return f'<td class="name" data-v="{html.escape(roi)}">{html.escape(roi)}</td>'


def answers_html(subject, layers, layer_r2, counts, partition, bounds, viewer_href=None, viewer_link=None) -> str:
    """A subject's answers as one HTML fragment (a <section>, no script), for the report's
    first page and the subject's overview page: per ROI its voxels, best layer (with its
    share of the ROI's voxels) and the median validation R2 of each layer with its
    significant share; per ROI and layer pair the component with the largest median; per
    pair the medians of unique and shared variance, headers naming the layers. Tables sort
    on a click on a header; the filter shows exact ROI names. Values no larger than their
    rounding bound (``bounds``: {'r2', 'r2_joint', 'unique_a', 'unique_b', 'shared'} ->
    bound, ``comparisons.rounding_bound``) are shown as ~0.

    layer_r2, counts, partition: the subject's summary tables (DataFrames).
    viewer_href: the WebGL viewer's page relative to the workflow folder (shown, and the
    link's target unless viewer_link, relative to the page's own folder, is given).
    """
    colours = palette.layer_colours(layers)
    rois, roi_rows, pair_rows = overview_tables(layers, layer_r2, counts, partition)
    sid = html.escape(subject)
    handlers = (f'onclick="{html.escape(_SORT_JS)}" '
                f'oninput="{html.escape(_FILTER_JS)}" onchange="{html.escape(_PAIR_JS)}"')
    parts = [f'<section class="em-answers" data-subject="{sid}" {handlers}>',
             f"<style>{_ANSWERS_STYLE}</style>",
             f"<h2>Subject {sid}: which layer explains each ROI, and what each layer adds</h2>",
             '<p class="note">Validation R2: the fraction of variance of a voxel\'s responses to the validation images '
             'that a layer\'s ridge model predicts (below 0, in red: worse than predicting the mean). Medians are over '
             'the ROI\'s voxels with a defined R2; "sig." is the share of those voxels whose value is significant: '
             f'positive, with a q-value at most stats.fdr_q (methods page). ~0: no larger than the rounding bound '
             f'({bounds["r2"]:.1e} for an R2, {bounds["unique_a"]:.1e} for '
             f'a unique and {bounds["shared"]:.1e} for a shared part; see the methods page). Click a column header to '
             'sort.</p>',
             f'<p><label>Show ROIs (exact names, comma-separated; empty: all): <input class="em-roi-filter" '
             f'type="search" placeholder="e.g. FFA-1, V1"></label></p>']

    head = "".join(f'<th>median R2 {_layer(l, colours)}</th>' for l in layers)
    rows = []
    for roi in rois:
        r = roi_rows[roi]
        n_sig = "" if r["best_significant"] is None else f', {r["best_significant"]} significant'
        best = (f'{_layer(r["best_layer"], colours)} ({100 * r["best_share"]:.0f}%, {r["best_count"]} voxels{n_sig})'
                if r["best_layer"] else "none")
        cells = []
        for l in layers:
            rec = r["r2"].get(l)
            if rec is None:
                cells.append('<td data-v="">-</td>')
                continue
            cells.append(f'<td data-v="{_sort_value(rec["median"], bounds["r2"])}">'
                         f'{_num(rec["median"], bound=bounds["r2"])}'
                         f'{_sig(rec, "fraction_significant", "n_significant")}</td>')
        undefined = f' <span class="sig">({r["n_undefined"]} undefined)</span>' if r["n_undefined"] else ""
        share = "" if _is_nan(r["best_share"]) else repr(r["best_share"])
        rows.append(f'<tr data-roi="{html.escape(roi)}">{_roi_cell(roi)}<td data-v="{r["n_voxels"]}">'
                    f'{r["n_voxels"]}{undefined}</td><td class="name" data-v="{share}">{best}</td>'
                    f'{"".join(cells)}</tr>')
    with_sig = any(roi_rows[r]["best_significant"] is not None for r in rois)
    sig_note = ('; "significant": of those voxels, the ones whose best layer\'s R2 is significant, which are '
                'the ones the best-layer map colours under maps.mask: fdr') if with_sig else ""
    parts.append('<h3>Which layer best explains each ROI?</h3>'
                 '<p class="note">Best layer: the layer with the highest validation R2 in the most voxels of the ROI, '
                 'with its share of the ROI\'s voxels (voxels whose R2 is undefined have no best layer). Every voxel '
                 f'counts here, significant or not{sig_note}.</p>'
                 f'<table class="em-sortable em-roi-table"><thead><tr><th class="name" data-type="text">ROI</th>'
                 f'<th>voxels</th><th class="name">best layer (share of voxels)</th>{head}</tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>')

    if pair_rows:
        pairs = list(pair_rows)
        names = {}
        for pair, by_roi in pair_rows.items():
            rec = next(iter(by_roi.values()))
            names[pair] = (rec["layer_a"], rec["layer_b"])
        # ROI x pair: the largest component of each pair
        head = "".join(f'<th>{_layer(names[p][0], colours)}<br>+ {_layer(names[p][1], colours)}</th>' for p in pairs)
        rows = []
        for roi in rois:
            cells = []
            for pair in pairs:
                rec = pair_rows[pair].get(roi)
                k = largest_component(rec, bounds) if rec else None
                if k is None:
                    cells.append('<td data-v="">-</td>' if rec is None else
                                 '<td data-v="0" title="every median undefined or ~0">~0</td>')
                    continue
                a, b = names[pair]
                label = {"unique_a": _layer(a, colours), "unique_b": _layer(b, colours),
                         "shared": f'<span class="layer" style="color:{palette.SHARED_COLOUR}">shared</span>'}[k]
                h = pair_headers(a, b)
                tip = "; ".join(f'{h[c]}: {_plain(rec[f"{c}_median"], bounds[c])}' for c in ("unique_a", "shared", "unique_b"))
                cells.append(f'<td data-v="{_sort_value(rec[f"{k}_median"], bounds[k])}" title="{tip}">{label} '
                             f'{_num(rec[f"{k}_median"], digits=3, bound=bounds[k])}</td>')
            rows.append(f'<tr data-roi="{html.escape(roi)}">{_roi_cell(roi)}{"".join(cells)}</tr>')
        parts.append('<h3>What does each layer add over the other? The largest part per ROI and pair</h3>'
                     '<p class="note">For each layer pair, the part of the variance with the largest median over the '
                     'ROI\'s voxels and that median (R2 units): a layer\'s name (in its colour) is the variance unique to '
                     'that layer (R2 of the pair minus R2 of the other layer), "shared" the variance both explain. Hover '
                     'a cell for all three; the pair tables below give them with their significant shares.</p>'
                     f'<table class="em-sortable em-pair-matrix"><thead><tr><th class="name" data-type="text">ROI</th>'
                     f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')

        options = "".join(f'<option value="{html.escape(p)}">{html.escape(names[p][0])} + '
                          f'{html.escape(names[p][1])}</option>' for p in pairs)
        parts.append('<h3>Unique and shared variance per pair</h3>'
                     '<p class="note">Medians over the ROI\'s voxels (R2 units): unique X beyond Y = R2(X+Y) - R2(Y), '
                     'shared = R2(X) + R2(Y) - R2(X+Y); the largest of the three is highlighted. "sig.": share of the '
                     'voxels whose unique part is significant (paired bootstrap; the shared part has no test).</p>'
                     f'<p><label>Pair: <select class="em-pair-select">{options}'
                     '<option value="all">all pairs</option></select></label></p>')
        for n, pair in enumerate(pairs):
            a, b = names[pair]
            h = pair_headers(a, b)
            rows = []
            for roi in rois:
                rec = pair_rows[pair].get(roi)
                if rec is None:
                    continue
                k = largest_component(rec, bounds)
                cells = []
                for c in ("unique_a", "shared", "unique_b", "r2_joint"):
                    sig = _sig(rec, *PAIR_SIGNIFICANCE[c]) if c in PAIR_SIGNIFICANCE else ""
                    cls = ' class="em-max"' if c == k else ""
                    cells.append(f'<td{cls} data-v="{_sort_value(rec[f"{c}_median"], bounds[c])}">'
                                 f'{_num(rec[f"{c}_median"], bound=bounds[c])}{sig}</td>')
                rows.append(f'<tr data-roi="{html.escape(roi)}">{_roi_cell(roi)}<td data-v="{int(rec["n_voxels"])}">'
                            f'{int(rec["n_voxels"])}</td>{"".join(cells)}</tr>')
            hidden = "" if n == 0 else ' style="display:none"'
            parts.append(f'<div class="em-pair" data-pair="{html.escape(pair)}"{hidden}>'
                         f'<h3>{_layer(a, colours)} + {_layer(b, colours)}</h3>'
                         f'<table class="em-sortable em-pair-table"><thead><tr><th class="name" data-type="text">ROI'
                         f'</th><th>voxels</th><th>median {h["unique_a"]}</th><th>median {h["shared"]}</th>'
                         f'<th>median {h["unique_b"]}</th><th>median {h["r2_joint"]}</th></tr></thead>'
                         f'<tbody>{"".join(rows)}</tbody></table></div>')
    if viewer_href:
        parts.append(f'<p class="note">Interactive 3D/flat view of these results: <a href="{html.escape(viewer_link or viewer_href)}" '
                     f'target="_blank">{html.escape(viewer_href)}</a> (in the workflow folder). '
                     f'pycortex\'s WebGL viewer must be served over HTTP, not opened as a file: run '
                     f'<code>python -m http.server --bind 127.0.0.1 8000</code> in the workflow folder and open '
                     f'<code>http://127.0.0.1:8000/{html.escape(viewer_href)}</code>.</p>')
    parts.append(f'<p class="note">From results/{sid}/summary/layer_r2.tsv, best_layer_counts.tsv and partition.tsv '
                 f'(in the report under {sid}, Tables, with min and max).</p></section>')
    return "\n".join(parts)


def overview_html(subject, layers, layer_r2, counts, partition, bounds, viewer_href=None, viewer_link=None) -> str:
    """The subject's overview page: ``answers_html`` as a page of its own."""
    return _page(f"{subject}: overview", answers_html(subject, layers, layer_r2, counts, partition, bounds,
                                                     viewer_href=viewer_href, viewer_link=viewer_link))


# --------------------------------------------------------------------------- provenance
def _kv_table(items, cls=""):
    rows = "".join(f'<tr><td class="name">{html.escape(str(k))}</td><td class="name wrap">{v}</td></tr>'
                   for k, v in items)
    return f'<table class="{cls}"><tbody>{rows}</tbody></table>'


def features_table(features) -> str:
    """How each extracted layer's features were made, as an HTML table ("" when none).

    features: {(subject, layer): attributes of its features file (stages.features.feature_attrs)}."""
    head = ["subject", "layer", "extractor", "library", "model", "weights", "node", "preprocessing", "PCA",
            "explained variance"]
    rows = []
    for (subject, layer), a in features.items():
        if not a:
            continue
        pca = f"{a['pca_n_components']} components fitted on {a['pca_fit_on']} ({a['pca_n_fit_rows']} images); {a['pca_method']}"
        cells = [subject, layer, a["extractor"], a["versions"], a["model"], f"{a['weights']} (seed {a['seed']})",
                 a["node"], a["preprocessing"], pca, f"{100 * float(a['pca_explained_variance_ratio_total']):.1f} %"]
        rows.append("<tr>" + "".join(f'<td class="name">{html.escape(str(c))}</td>' for c in cells) + "</tr>")
    if not rows:
        return ""
    return ("<h2>Features extracted from the stimulus images</h2>"
            f'<table id="features"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def lambda_counts_html(grid, counts) -> str:
    """A table of how many voxels chose each lambda of the grid, per model.

    grid: the lambda grid; counts: {model: array of counts per grid index}."""
    models = list(counts)
    head = "".join(f"<th>{html.escape(m)}</th>" for m in models)
    rows = []
    for k, lam in enumerate(grid):
        cells = "".join(f"<td>{int(counts[m][k]) if int(counts[m][k]) else ''}</td>" for m in models)
        rows.append(f'<tr><td>{k}</td><td>{lam:.4g}</td>{cells}</tr>')
    total = "".join(f"<td>{int(sum(counts[m]))}</td>" for m in models)
    return (f'<table class="lambdas"><thead><tr><th>index</th><th>lambda</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}<tr><td class="name" colspan="2">voxels</td>{total}</tr></tbody></table>')


def provenance_html(config, ridge, git, split_sizes, versions, date, stats_attrs=None, lambda_counts=None,
                    bounds=None, features=None) -> str:
    """The methods and provenance of a run: every setting that changes a number (ridge,
    statistics, maps), split sizes and seeds per subject, the permutations used, the
    lambdas chosen per model, the rounding bounds, the commit (and whether the tree was
    dirty), package versions, the date and the full config as run (YAML).

    ridge: configuration.ridge_params(config); git: {'commit', 'dirty'}; split_sizes: {subject:
    sizes of its splits}; versions: {package: version}; date: text; stats_attrs: {subject:
    attrs of a model's and a pair's statistics files ('n_permutations',
    'n_permutations_requested', 'n_val', 'n_bootstrap')} or None (statistics off);
    lambda_counts: {subject: {model: voxels per lambda index}}; bounds: {'r2', 'unique_a',
    'shared', ...}: the rounding bounds (``comparisons.rounding_bound``) of the tables.
    features: {(subject, layer): attributes} of the layers extracted from images (shown in a table).
    """
    import yaml
    from . import penalty
    lambdas = ", ".join(f"{x:g}" for x in ridge["lambdas"])
    dirty = {True: "yes (tracked files differ from the commit)", False: "no", None: "unknown"}[git["dirty"]]
    st, rcfg, mcfg = config["stats"], config["ridge"], config["maps"]
    joint = ridge.get("joint", rcfg.get("joint", "concatenated"))
    joint_text = {"concatenated": "concatenated: a model of 2+ layers is one ridge over the concatenated features "
                                  "with one lambda (the reference)",
                  "banded": "banded: one lambda per layer (an overall scale times a band ratio)"}.get(joint, joint)
    if joint == "banded":
        joint_text += f"; ridge.band_ratios: {html.escape(str(rcfg.get('band_ratios')))}"
    items = [
        ("ridge.lambdas (lambda grid)", f"{len(ridge['lambdas'])} values: {html.escape(lambdas)}"),
        ("ridge.joint", html.escape(joint_text)),
        ("ridge.intercept", html.escape(str(ridge["intercept"]))),
        ("ridge.refit", html.escape(str(ridge["refit"]))),
        ("ridge.input_precision", html.escape(str(ridge["precision"]))),
        ("split.pct_holdout", html.escape(str(config["split"]["pct_holdout"]))),
        ("layers", html.escape(", ".join(config["layers"]))),
        ("rois", html.escape(", ".join(config["rois"]))),
        ("merged_rois", html.escape(str(config.get("merged_rois", {})))),
        ("summary.noise_ceiling_threshold", html.escape(str(config["summary"]["noise_ceiling_threshold"]))),
        ("stats.enabled", html.escape(str(st["enabled"]))),
    ]
    if st["enabled"]:
        items += [("stats.permutations", f"{st['permutations']} requested (permutation test of each model's R2; at "
                                         f"most n_val - 1 distinct, see below)"),
                  ("stats.bootstrap", f"{st['bootstrap']} (paired bootstrap samples of each pair's and set's parts)"),
                  ("stats.fdr_q", f"{st['fdr_q']:g} (Benjamini-Hochberg FDR level, per map)"),
                  ("stats.seed", html.escape(str(st["seed"])))]
    mask = mcfg.get("mask")
    mask_text = {"fdr": "fdr: R2, R2 / noise ceiling, best-layer and unique-variance maps leave voxels that are not "
                        "significant at stats.fdr_q blank",
                 "none": "none: every voxel with a defined value is drawn"}.get(mask, str(mask))
    items += [("maps.enabled", html.escape(str(mcfg.get("enabled")))), ("maps.mask", html.escape(mask_text)),
              ("device", html.escape(str(config["device"])) + " (CPU and GPU differ only at rounding)")]
    parts = ['<p class="note">Every setting on this page reaches its rules through params, so changing it in the '
             'config reruns exactly the jobs it affects (and this page).</p>',
             "<h2>Methods: settings that change the numbers</h2>",
             _kv_table(items, cls="settings"),
             '<p class="note">Per voxel, lambda is chosen on the holdout images (highest holdout R2), the weights are '
             'those fitted on the training images (refit: on train+holdout) and R2 is scored on the validation images. '
             'Variance partition of a pair A+B: unique A = R2(A+B) - R2(B), unique B = R2(A+B) - R2(A), '
             'shared = R2(A) + R2(B) - R2(A+B).</p>']
    grid = [float(x) for x in ridge["lambdas"]]
    negative = [x for x in grid if x < 0]
    if negative:
        parts.append(
            f'<p class="note" id="negative-lambdas">The grid starts with {len(negative)} negative value(s) '
            f'({", ".join(f"{x:.4g}" for x in negative)}): it is the reference\'s own grid, '
            f'<code>np.logspace(np.log(0.0001), np.log(10**10 + 0.01), 20, dtype=np.float32, base=np.e) - 0.01</code>. '
            f'Its "- 0.01" apparently undoes the "+ 0.01" at the top end (1e10 + 0.01 - 0.01), but it also shifts the smallest values, '
            f'1e-4 and the next ones, below zero (1e-4 - 0.01 = -0.0099). They are kept as they are, so that the '
            f'fits choose what the reference chooses; a grid value below {penalty.reference_lambdas().min():.4g} (the '
            f'reference\'s smallest) is refused, since a more negative penalty can make X\'X + lambda I indefinite. '
            f'Where a voxel chose one of them is in the table of chosen lambdas below.</p>')
    if bounds:
        parts.append(
            f'<p class="note" id="rounding">~0 in the tables (0 in the figures): a value no larger in magnitude than '
            f'its rounding bound, {bounds["r2"]:.2g} for an R2, {bounds["unique_a"]:.2g} for a unique and '
            f'{bounds["shared"]:.2g} for a shared part. The bound of sum_m c_m R2_m is the larger of '
            f'4 n_val eps64 sum|c_m| (the float64 sums over the n_val validation images; the bootstrap uses the same '
            f'bound for "component > 0") and 4 u sum|c_m|, u the unit roundoff of ridge.input_precision (rounding '
            f'each response by u moves SSres and SStot by up to 2u each, so an R2 near 0 by up to 4u). Pairs whose '
            f'models all chose the largest lambda predict little more than the mean and agree to about this '
            f'level.</p>')
    if st["enabled"] and stats_attrs:
        rows = []
        for subject, a in stats_attrs.items():
            used, asked = a.get("n_permutations"), a.get("n_permutations_requested")
            why = ""
            if used is not None and asked is not None and int(used) < int(asked):
                why = (f"{int(asked)} asked, {int(used)} used: the test uses the cyclic shifts of the {a.get('n_val')} "
                       f"validation images (an exact test), of which only n_val - 1 = {int(used)} differ from the "
                       f"observed pairing")
            rows.append([subject, a.get("n_val"), asked, used, a.get("n_bootstrap", "-"), why])
        head = ["subject", "validation images", "permutations requested", "permutations used", "bootstrap samples",
                "note"]
        parts.append("<h2>Statistics as run</h2>"
                     f'<table id="permutations"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead><tbody>'
                     + "".join("<tr>" + "".join(f'<td class="name wrap">{html.escape(str(c))}</td>' for c in r)
                               + "</tr>" for r in rows) + "</tbody></table>")
    parts.append("<h2>Splits and seeds per subject</h2>")
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
    if lambda_counts:
        parts.append("<h2>Chosen lambdas per model</h2>"
                     '<p class="note">Number of voxels whose holdout R2 chose each lambda of the grid (empty: none). '
                     'A model at the largest lambda predicts little more than the mean.</p>')
        for subject, counts in lambda_counts.items():
            parts.append(f"<h3>{html.escape(subject)}</h3>" + lambda_counts_html(grid, counts))
    parts.append(features_table(features or {}))
    parts += ["<h2>Provenance</h2>",
              _kv_table([("git commit", f"<code>{html.escape(git['commit'])}</code>"),
                         ("tree dirty", dirty), ("date", html.escape(date))]),
              "<h2>Package versions</h2>",
              _kv_table([(k, html.escape(v)) for k, v in versions.items()], cls="versions"),
              "<h2>Config as run</h2>",
              f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"]
    return _page("Methods and provenance", "\n".join(parts))


# --------------------------------------------------------------------------- viewer
def _colour_bar(cmap, n=11) -> str:
    """A CSS linear-gradient of a matplotlib colour map."""
    import matplotlib
    from matplotlib.colors import to_hex
    cm = matplotlib.colormaps[cmap]
    return "linear-gradient(to right, " + ", ".join(to_hex(cm(k / (n - 1))) for k in range(n)) + ")"


def viewer_legend_html(layers, r2_colors, partition_colors, pairs) -> str:
    """The legend that the viewer's index page gets: the best layer's colours by layer
    name, and the colour bar of the R2 and of the partition volumes with their range and
    unit; the pairs whose volumes it holds."""
    colours = palette.layer_colours(layers)
    swatches = "".join(f'<div><span style="display:inline-block;width:1em;height:1em;background:{c};'
                       f'vertical-align:middle;margin-right:0.4em;border:1px solid #333"></span>{html.escape(l)}</div>'
                       for l, c in colours.items())

    def bar(colors, label):
        return (f'<div style="margin-top:0.6em"><b>{html.escape(label)}</b>'
                f'<div style="height:0.9em;width:14em;border:1px solid #333;background:{_colour_bar(colors["cmap"])}">'
                f'</div><div style="display:flex;justify-content:space-between;width:14.2em">'
                f'<span>{colors["vmin"]:g}</span><span>{(colors["vmin"] + colors["vmax"]) / 2:g}</span>'
                f'<span>{colors["vmax"]:g}</span></div></div>')

    pair_text = ", ".join(f"{html.escape(a)}+{html.escape(b)}" for a, b in pairs) or "none (one layer)"
    return ('<div id="em-legend" style="position:fixed;right:0.6em;bottom:0.6em;z-index:1000;background:rgba(255,255,255,'
            '0.92);color:#111;font:12px system-ui,sans-serif;padding:0.6em 0.8em;border:1px solid #999;'
            'border-radius:4px;max-width:19em">'
            '<div><b>Legend</b> (pick the volume in the viewer\'s dataset menu)</div>'
            f'<div style="margin-top:0.4em"><b>best layer</b> (highest validation R2; uncoloured: undefined)</div>'
            f'{swatches}'
            f'{bar(r2_colors, "R2 <layer>: validation R2, fraction of variance")}'
            f'{bar(partition_colors, "unique / shared: R2 units (fraction of variance)")}'
            f'<div style="margin-top:0.4em">Values beyond the range take the end colours. Pairs: {pair_text}.</div>'
            '</div>')
