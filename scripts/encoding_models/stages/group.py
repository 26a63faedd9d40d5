"""Group stages (workflow/rules/group.smk): the common validation images, the checks of
a local subject's files, and the group tables, figures and page across subjects.

The group's unit of inference is the subject: each subject contributes one value per
ROI (the median over the ROI's voxels from its own summary tables), tested with a
sign-flip permutation test (``encoding_models.group``).
"""
from __future__ import annotations

import html
import logging
import os

import numpy as np

from .. import group as group_maths
from .. import layout, palette
from ..io import atomic_path, read_h5, write_tsv

log = logging.getLogger("encoding_models")

PARTITION_COMPONENTS = ("unique_a", "unique_b", "shared")


# --------------------------------------------------------------------------- common validation images
def common_validation(image_info_paths, out_path):
    """The shared1000 images (73k ids) that every subject saw, as a one-column TSV.

    image_info_paths: {subject: image_info.csv}. Logs how many each subject saw.
    """
    import pandas as pd
    from .. import contract, splits
    infos = {s: contract.load_image_info(p) for s, p in image_info_paths.items()}
    ids = splits.common_validation(infos.values())
    for s, info in infos.items():
        seen = int((info["shared1000"] & (info["n_reps"] > 0)).sum())
        log.info("%s: %d shared1000 images with data, %d of them seen by every subject", s, seen, ids.size)
    if ids.size == 0:
        raise ValueError(f"no shared1000 image was seen by every subject of the group ({list(infos)}): "
                         "nothing to validate on with split.validation: shared_by_all")
    with atomic_path(out_path) as tmp:
        pd.DataFrame({"unique_ims": ids}).to_csv(tmp, sep="\t", index=False)


def read_validation_ids(path):
    import pandas as pd
    return pd.read_csv(path, sep="\t")["unique_ims"].to_numpy(dtype=np.int64)


# --------------------------------------------------------------------------- local files
def local_check(path, key, name, sha256, out_path):
    """Check a local subject's input file in place (format signature, pinned sha256) and
    record its sha256 at out_path. Reads ``path`` only; raises naming the config key."""
    from ..download import HEAD_BYTES, content_problem, sha256_of
    with open(path, "rb") as fh:
        problem = content_problem(name, fh.read(HEAD_BYTES))
    if problem:
        raise ValueError(f"config '{key}': {path}: {problem}")
    digest = sha256_of(path)
    if sha256 and digest != sha256.lower():
        raise ValueError(f"config '{key}': {path}: sha256 mismatch: pinned {sha256}, the file has {digest}")
    with atomic_path(out_path) as tmp, open(tmp, "w") as fh:
        fh.write(f"{digest}  {path}\n")
    log.info("%s (%s): sha256 %s%s, read in place", path, key, digest, " (pinned)" if sha256 else "")


# --------------------------------------------------------------------------- group tables
def _per_subject(frames, keys, value):
    """(row keys in the first subject's order, values [n_subjects x n_rows]) of one column
    of each subject's table; NaN where a subject has no such row."""
    rows = list(dict.fromkeys(tuple(r) for f in frames for r in f[keys].itertuples(index=False)))
    out = np.full((len(frames), len(rows)), np.nan)
    for i, f in enumerate(frames):
        lookup = {tuple(r[:-1]): r[-1] for r in f[keys + [value]].itertuples(index=False)}
        out[i] = [lookup.get(k, np.nan) for k in rows]
    return rows, out


def _tested(rows, keys, values, subjects, n_random, seed, suffix=""):
    """Rows of a group table: keys, each subject's value, and group_test's columns."""
    res = group_maths.group_test(values, n_random, seed)
    out = []
    for j, key in enumerate(rows):
        rec = dict(zip(keys, key))
        rec.update({f"{s}{suffix}": values[i, j] for i, s in enumerate(subjects)})
        rec.update({f"{k}{suffix}": res[k][j] for k in ("mean", "sem", "n_subjects", "statistic", "p", "q",
                                                         "n_flips")})
        out.append(rec)
    return out


def best_layers(counts, layers):
    """A subject's best layer per ROI: the layer that is best in most of the ROI's voxels
    (ties: the first in config order); None where no voxel has one. -> {roi: layer}"""
    table = counts.pivot_table(index="roi", columns="layer", values="count", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=layers, fill_value=0)
    n = table.to_numpy()
    first = n.argmax(axis=1)          # argmax takes the first of tied maxima: config order
    return {roi: (layers[k] if n[i].max() > 0 else None) for i, (roi, k) in enumerate(zip(table.index, first))}


def group_summaries(subjects, layers, tables, prepared, *, n_random, seed, out):
    """The group tables (layout.GROUP_TABLES) from each subject's summaries.

    tables: {subject: {"layer_r2": tsv, "best_layer_counts": tsv, "partition": tsv}};
    prepared: {subject: prepared.h5} (validation images used); out: table -> path.
    layer_r2: roi, layer, each subject's median R2, mean, sem, n_subjects, statistic
    (one-sample t), p (sign-flip, mean > 0), q (BH across the table), n_flips; with
    R2 / noise ceiling summarised, the same with the suffix _r2_over_nc (its own family).
    partition: roi, pair, layer_a, layer_b, component (unique_a, unique_b, shared) and
    the same columns (one BH family across the table). best_layer: roi, each subject's
    best layer, the group's (most frequent; ties: first in config order), the fraction of
    subjects agreeing. validation: subject, validation images used, shared1000 images
    with data dropped (not seen by every subject).
    """
    import pandas as pd
    refuse_duplicate_subjects(subjects, prepared)
    frames = {t: [pd.read_csv(tables[s][t], sep="\t") for s in subjects]
              for t in ("layer_r2", "best_layer_counts", "partition")}
    keys = ["roi", "layer"]
    rows, values = _per_subject(frames["layer_r2"], keys, "median")
    r2 = pd.DataFrame(_tested(rows, keys, values, subjects, n_random, seed))
    if all("median_r2_over_nc" in f.columns for f in frames["layer_r2"]):
        rows_nc, values_nc = _per_subject(frames["layer_r2"], keys, "median_r2_over_nc")
        nc = pd.DataFrame(_tested(rows_nc, keys, values_nc, subjects, n_random, seed, suffix="_r2_over_nc"))
        r2 = r2.merge(nc, on=keys, how="left")
    write_tsv(r2, out["layer_r2"])

    parts = []
    part_frames = [f.melt(id_vars=["roi", "pair", "layer_a", "layer_b"],
                          value_vars=[f"{c}_median" for c in PARTITION_COMPONENTS],
                          var_name="component", value_name="median") for f in frames["partition"]]
    for f in part_frames:
        f["component"] = f["component"].str[:-len("_median")]
    pkeys = ["roi", "pair", "layer_a", "layer_b", "component"]
    if any(len(f) for f in part_frames):
        rows, values = _per_subject(part_frames, pkeys, "median")
        parts = _tested(rows, pkeys, values, subjects, n_random, seed)
    columns = pkeys + list(subjects) + ["mean", "sem", "n_subjects", "statistic", "p", "q", "n_flips"]
    write_tsv(pd.DataFrame(parts, columns=columns), out["partition"])

    rois = list(dict.fromkeys(frames["layer_r2"][0]["roi"]))
    best = []
    per_subject = {s: best_layers(c, layers) for s, c in zip(subjects, frames["best_layer_counts"])}
    for roi in rois:
        per = {s: per_subject[s].get(roi) for s in subjects}
        chosen = [v for v in per.values() if v is not None]
        g = group_maths.most_frequent(chosen, layers)
        best.append({"roi": roi, **{s: per[s] or "none" for s in subjects}, "group": g or "none",
                     "fraction_agreeing": (sum(v == g for v in chosen) / len(subjects)) if g else np.nan,
                     "n_subjects": len(chosen)})
    write_tsv(pd.DataFrame(best), out["best_layer"])

    val = []
    for s in subjects:
        with_attrs = _prepared_counts(prepared[s])
        val.append({"subject": s, **with_attrs})
    write_tsv(pd.DataFrame(val), out["validation"])
    log.info("group of %d subjects (%s): %d R2 tests, %d partition tests", len(subjects), ", ".join(subjects),
             len(r2), len(parts))


def refuse_duplicate_subjects(subjects, prepared):
    """Refuse a group in which two subjects hold the same data (a subject's block copied
    with its files copied too, and only its name or split seed changed): the group's tests
    count subjects as independent. Same data: the same noise ceiling in every voxel (not
    a constant one, which would say nothing); the parse-time check catches the same file
    given twice (``configuration.resolve_local``)."""
    import hashlib
    seen = {}
    for s in subjects:
        nc = read_h5(prepared[s], ["noise_ceiling"])["noise_ceiling"]
        if np.unique(nc[np.isfinite(nc)]).size < 2:
            continue
        key = (nc.shape, hashlib.sha256(np.ascontiguousarray(nc, dtype=float).tobytes()).hexdigest())
        if key in seen:
            raise ValueError(f"config 'subjects.{s}': the same data as subject '{seen[key]}' (the same noise "
                             f"ceiling in all {nc.size} voxels): one data set would count as two subjects in the "
                             "group; give each subject its own files or leave one out of group.subjects")
        seen[key] = s


def _prepared_counts(path):
    import h5py
    d = read_h5(path, ["val", "trn", "holdout"])
    with h5py.File(path, "r") as f:
        dropped = int(f.attrs.get("n_val_dropped", 0))
    return {"n_val": int(d["val"].sum()), "n_val_dropped": dropped, "n_trn": int(d["trn"].sum()),
            "n_holdout": int(d["holdout"].sum())}


# --------------------------------------------------------------------------- figures
def layer_r2_figure(r2_tsv, subjects, layers, fdr_q, out_png):
    """ROI x layer: each subject's median R2 (dots) and the group mean with its SEM
    (black-edged marker and bar), in the palette's layer colours; * where q <= fdr_q."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D
    from ..maps import DPI, FIG_WIDTH_IN
    df = pd.read_csv(r2_tsv, sep="\t")
    colours = palette.layer_colours(layers)
    rois = list(dict.fromkeys(df["roi"]))
    width = 0.8 / len(layers)
    fig, ax = plt.subplots(figsize=(max(FIG_WIDTH_IN, 0.25 * len(rois) * len(layers) + 2), 5.6))
    rng = np.random.default_rng(0)
    top = np.nanmax(df[list(subjects)].to_numpy()) if len(df) else 1.0
    for li, layer in enumerate(layers):
        d = df[df["layer"] == layer].set_index("roi").reindex(rois)
        x = np.arange(len(rois)) - 0.4 + (li + 0.5) * width
        dots = d[list(subjects)].to_numpy()          # [roi x subject]
        ax.scatter(np.repeat(x, len(subjects)) + rng.uniform(-0.25, 0.25, dots.size) * width, dots.ravel(), s=9,
                   color=colours[layer], alpha=0.55, linewidths=0)
        ax.errorbar(x, d["mean"], yerr=d["sem"], fmt="o", color=colours[layer], markeredgecolor="black",
                    markersize=5, ecolor="black", elinewidth=1, capsize=2)
        sig = (d["q"] <= fdr_q).to_numpy()
        above = np.fmax(d["mean"] + d["sem"].fillna(0), d[list(subjects)].max(axis=1)).to_numpy() + 0.04 * abs(top)
        ax.scatter(x[sig], above[sig], marker="*", s=30, color="black")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(rois)), rois, rotation=90, fontsize=11)
    ax.set_ylabel("median validation R2 over the ROI's voxels\n(fraction of variance; below 0: worse than the mean)",
                  fontsize=10)
    ax.grid(axis="y", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [Line2D([], [], marker="o", linestyle="", color=c, markeredgecolor="black", label=l)
               for l, c in colours.items()]
    ax.legend(handles=handles, title="layer", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=10)
    ax.set_title(f"Group of {len(subjects)} subjects: R2 per ROI and layer\n"
                 f"small dots: one per subject; large dot and bar: mean \u00b1 SEM over subjects; "
                 f"\u2605: mean > 0 at q \u2264 {fdr_q:g} (sign-flip test, BH)", fontsize=11)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)


def partition_figure(partition_tsv, subjects, layers, fdr_q, out_png):
    """Per layer pair: the group mean of unique A, shared and unique B per ROI (bars, with
    SEM) and each subject's value (dots); unique parts in their layer's colour, shared in
    grey; * where q <= fdr_q."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from .. import roi_figure
    from ..maps import DPI, FIG_WIDTH_IN
    df = pd.read_csv(partition_tsv, sep="\t")
    colours = palette.layer_colours(layers)
    pairs = list(dict.fromkeys(df["pair"]))
    if not pairs:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no layer pairs configured (one layer)", ha="center", va="center")
        with atomic_path(out_png) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
        plt.close(fig)
        return
    ncol = min(2, len(pairs))
    nrow = int(np.ceil(len(pairs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(FIG_WIDTH_IN, 1.6 + 3.4 * nrow), squeeze=False, sharey=True)
    width = 0.27
    for ax, pair in zip(axes.flat, pairs):
        d = df[df["pair"] == pair]
        a, b = d["layer_a"].iloc[0], d["layer_b"].iloc[0]
        rois = list(dict.fromkeys(d["roi"]))
        x = np.arange(len(rois))
        for k, comp in enumerate(PARTITION_COMPONENTS[:1] + ("shared", "unique_b")):
            c = d[d["component"] == comp].set_index("roi").reindex(rois)
            colour = {"unique_a": colours[a], "unique_b": colours[b], "shared": palette.SHARED_COLOUR}[comp]
            xk = x + (k - 1) * width
            ax.bar(xk, c["mean"], width=width, color=colour, edgecolor="0.2", linewidth=0.4, yerr=c["sem"],
                   error_kw={"elinewidth": 0.8, "capsize": 1.5})
            dots = c[list(subjects)].to_numpy()
            ax.scatter(np.repeat(xk, len(subjects)), dots.ravel(), s=5, color="black", alpha=0.5, linewidths=0,
                       zorder=3)
            sig = (c["q"] <= fdr_q).to_numpy()
            ax.scatter(xk[sig], np.zeros(sig.sum()), marker="*", s=18, color="black", zorder=4)
        roi_figure.pair_panel(ax, a, b, rois, fontsize=9, title_size=11)
    handles = roi_figure.finish_pair_panels(axes, len(pairs), colours, "mean over subjects of the\nROI median (R2)", 10)
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 8), fontsize=10, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.55 / fig.get_figheight()))
    fig.suptitle(f"Group of {len(subjects)} subjects: per ROI, unique variance of the first layer | shared | "
                 f"unique of the second (fraction of variance)\nbars: mean \u00b1 SEM over subjects; dots: subjects; "
                 f"\u2605 on the zero line: mean > 0 at q \u2264 {fdr_q:g} (sign-flip, BH)", fontsize=10, y=1 - 0.05 / fig.get_figheight(),
                 va="top")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.9 / fig.get_figheight()))
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)


# --------------------------------------------------------------------------- page
def _fmt(x, digits=4):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, (float, np.floating)) else html.escape(str(x))


def group_html(subjects, layers, r2_tsv, partition_tsv, best_tsv, validation_tsv, fdr_q, validation, out_html,
               subject_pages=None, figures=None, answers_out=None):
    """The group's answers: best layer per ROI (each subject's and the group's), mean R2
    per ROI and layer with SEM and q, significant partition components, and the
    validation images each subject used. out_html: a page of its own (with the figures);
    answers_out (optional): the same answers as the fragment that the report's first page
    includes (workflow/report/workflow.rst), in report_pages' answers style."""
    import pandas as pd
    from .. import report_pages
    colours = palette.layer_colours(layers)
    r2, part, best, val = (pd.read_csv(p, sep="\t") for p in (r2_tsv, partition_tsv, best_tsv, validation_tsv))

    def layer(name):
        c = colours.get(name)
        return f'<span class="layer" style="color:{c}">{html.escape(name)}</span>' if c else html.escape(str(name))

    out = [f'<p class="note">{len(subjects)} subjects ({html.escape(", ".join(subjects))}); the unit of inference '
           f'is the subject: each subject gives one value per ROI (the median over its voxels), tested with a one-sided '
           f'sign-flip permutation test (mean over subjects &gt; 0; exact over all 2^n sign flips up to 12 subjects) '
           f'and Benjamini-Hochberg q-values across each table. Validation images: <b>{html.escape(validation)}</b>.'
           f'</p>']
    if subject_pages:
        out.append("<p>Per subject: " + ", ".join(f'<a href="{html.escape(h)}">{html.escape(s)}</a>'
                                                for s, h in subject_pages.items()) + "</p>")
    rows = "".join(f'<tr><td class="name">{html.escape(r.roi)}</td>'
                   + "".join(f"<td class=\"name\">{layer(getattr(r, 's_' + str(i)))}</td>"
                             for i in range(len(subjects)))
                   + f'<td class="name">{layer(r.group)}</td><td>{_fmt(r.fraction_agreeing, 2)}</td></tr>'
                   for r in best.rename(columns={s: f"s_{i}" for i, s in enumerate(subjects)}).itertuples())
    out.append("<h2>Which layer best explains each ROI, across subjects?</h2>"
               '<p class="note">Each subject\'s best layer is the layer with the highest validation R2 in the most '
               'voxels of the ROI; the group\'s is the most frequent of them (ties: first in config order).</p>'
               '<table><thead><tr><th class="name">ROI</th>'
               + "".join(f'<th class="name">{html.escape(s)}</th>' for s in subjects)
               + '<th class="name">group</th><th>fraction agreeing</th></tr></thead>'
               f"<tbody>{rows}</tbody></table>")
    head = "".join(f"<th>{layer(l)}</th>" for l in layers)
    body = []
    for roi in dict.fromkeys(r2["roi"]):
        cells = []
        for l in layers:
            rec = r2[(r2["roi"] == roi) & (r2["layer"] == l)]
            if rec.empty:
                cells.append("<td>-</td>")
                continue
            rec = rec.iloc[0]
            cls = ' class="neg"' if rec["mean"] < 0 else ""
            cells.append(f'<td{cls}>{_fmt(rec["mean"])} &plusmn; {_fmt(rec["sem"])} '
                         f'<span class="sig">q={_fmt(rec["q"], 3)}</span></td>')
        body.append(f'<tr><td class="name">{html.escape(roi)}</td>{"".join(cells)}</tr>')
    out.append("<h2>How well does each layer predict each ROI?</h2>"
               '<p class="note">Mean &plusmn; SEM over subjects of the ROI\'s median validation R2 (fraction of '
               f'variance; red: below 0) and the q-value of "mean &gt; 0".</p>'
               f'<table><thead><tr><th class="name">ROI</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    if len(part):
        sig = part[part["q"] <= fdr_q]
        out.append("<h2>Which unique and shared variance is there across subjects?</h2>"
                   f'<p class="note">{len(sig)} of {len(part)} components (ROI x pair x unique A / unique B / shared) '
                   f'have a group mean above 0 at q &le; {fdr_q:g}; the full table is '
                   f'<code>{html.escape(layout.path(layout.GROUP_SUMMARY, table="partition"))}</code>.</p>')
    vrows = "".join(f'<tr><td class="name">{html.escape(r.subject)}</td><td>{r.n_val}</td><td>{r.n_val_dropped}</td>'
                    f"<td>{r.n_trn}</td><td>{r.n_holdout}</td></tr>" for r in val.itertuples())
    out.append("<h2>Validation images per subject</h2>"
               '<table><thead><tr><th class="name">subject</th><th>validation images</th>'
               "<th>shared1000 images with data dropped</th><th>train</th><th>holdout</th></tr></thead>"
               f"<tbody>{vrows}</tbody></table>")
    answers = [part for part in out if not part.startswith("<p>Per subject:")]   # links relative to the page
    for title, src in (figures or {}).items():
        out.append(f'<h2>{html.escape(title)}</h2><img src="{html.escape(src)}" style="max-width:100%">')
    if answers_out is not None:
        title = f"Group of {len(subjects)} subjects: answers per ROI"
        with atomic_path(answers_out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f'<section class="em-answers" data-subject="group"><style>{report_pages._ANSWERS_STYLE}</style>'
                     f"<h2>{html.escape(title)}</h2>\n" + "\n".join(answers) + "</section>\n")
    with atomic_path(out_html) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(report_pages._page(f"Group of {len(subjects)} subjects: answers per ROI", "\n".join(out)))


def relative(target, start_file):
    return os.path.relpath(target, os.path.dirname(start_file))
