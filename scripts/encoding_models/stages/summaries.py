"""Stages of summaries.smk: the per-ROI tables that answer the reference's questions, the
partition sets' table, and each ROI's own rows and overview figure."""
from __future__ import annotations

import logging

import numpy as np

from .. import commonality, comparisons, layout
from ..io import atomic_path, read_h5, write_tsv

log = logging.getLogger("encoding_models")


def summaries(prepared_path, layers, fit_paths, best_layer_path, pairs, partition_paths,
              out_layer_r2, out_counts, out_partition, nc_threshold=None, stats_paths=None,
              stats_partition_paths=None, fdr_q=0.05):
    """The per-ROI tables answering the reference's questions 1, 2, 4 and 6.

    nc_threshold (optional): also report R2 divided by the noise ceiling, over voxels
    whose noise ceiling (as a fraction) is at least the threshold.
    stats_paths / stats_partition_paths (optional, one per layer / pair): also report,
    per ROI, the number and fraction of voxels significant at FDR level fdr_q
    (``significance.significant``: q <= fdr_q and a positive value) for each layer's R2
    (n_significant, fraction_significant) and each pair's unique A and unique B
    (n_significant_unique_a, fraction_significant_unique_a, ..._unique_b), and in the
    best-layer counts (which count every voxel, significant or not) n_significant: the
    voxels of that best layer whose best layer's R2 is significant, those that the
    best-layer map colours (``stages.maps.significance_blank``).
    """
    import pandas as pd
    from .. import significance
    prep = read_h5(prepared_path)
    rois, members, nc = list(prep["roi_names"]), prep["roi_members"], prep["noise_ceiling"]
    for path in stats_paths or []:
        check_reachable(path, fdr_q)
    rows = []
    for li, (layer, path) in enumerate(zip(layers, fit_paths)):
        r2 = read_h5(path, ["r2"])["r2"]
        sig = None if stats_paths is None else significance.significant(read_h5(stats_paths[li], ["q_r2"])["q_r2"], r2, fdr_q)
        for roi, m in zip(rois, members):
            row = {"roi": roi, "layer": layer, **comparisons.describe(r2[m])}
            if nc_threshold is not None:
                keep = m & (nc >= nc_threshold) & (nc > 0)
                d = comparisons.describe(r2[keep] / nc[keep])
                row.update({f"{k}_r2_over_nc": v for k, v in d.items()})
            if sig is not None:
                row.update(_significance_counts(sig, m & ~np.isnan(r2)))
            rows.append(row)
    write_tsv(pd.DataFrame(rows), out_layer_r2)

    best = read_h5(best_layer_path, ["best_layer"])["best_layer"]
    coloured = None
    if stats_paths is not None:
        # the voxels the best-layer map colours: their best layer's R2 is significant
        from .maps import significance_blank
        coloured = ~significance_blank(best_layer_path, "best_layer", stats_paths, "q_r2", fdr_q)
    counts = []
    for roi, m in zip(rois, members):
        for li, layer in enumerate(layers):
            row = {"roi": roi, "layer": layer, "count": int(np.sum(best[m] == li)),
                   "n_undefined": int(np.sum(best[m] == comparisons.UNDEFINED_LAYER))}
            if coloured is not None:
                row["n_significant"] = int(np.sum((best[m] == li) & coloured[m]))
            counts.append(row)
    write_tsv(pd.DataFrame(counts), out_counts)

    prow = []
    for pi, ((a, b), path) in enumerate(zip(pairs, partition_paths)):
        d = read_h5(path)
        sig = None
        if stats_partition_paths is not None:
            st = read_h5(stats_partition_paths[pi], ["q_unique_a", "q_unique_b"])
            sig = {k: significance.significant(st[f"q_{k}"], d[k], fdr_q) for k in ("unique_a", "unique_b")}
        for roi, m in zip(rois, members):
            row = {"roi": roi, "pair": layout.model_name((a, b)), "layer_a": a, "layer_b": b,
                   "n_voxels": int((m & ~np.isnan(d["r2_joint"])).sum())}
            row["n_undefined"] = int(np.isnan(d["r2_joint"][m]).sum())
            for key in layout.PARTITION_KINDS:
                desc = comparisons.describe(d[key][m])
                row.update({f"{key}_{s}": desc[s] for s in ("median", "min", "max")})
            if sig is not None:
                for k, v in sig.items():
                    counts = _significance_counts(v, m & ~np.isnan(d["r2_joint"]))
                    row.update({f"{name}_{k}": value for name, value in counts.items()})
            prow.append(row)
    columns = ["roi", "pair", "layer_a", "layer_b", "n_voxels", "n_undefined"] + [
        f"{key}_{s}" for key in layout.PARTITION_KINDS for s in ("median", "min", "max")]
    if stats_partition_paths is not None:
        columns += [f"{name}_{k}" for k in ("unique_a", "unique_b")
                    for name in ("n_significant", "fraction_significant")]
    write_tsv(pd.DataFrame(prow, columns=columns), out_partition)   # header only when no pairs


def check_reachable(stats_path, fdr_q):
    """Refuse a permutation test that could not make any voxel significant at fdr_q.

    The config asks for at least 1/fdr_q - 1 permutations (configuration.min_permutations),
    but the validation set caps them at n_val - 1 (attrs n_permutations, n_val): with fewer
    than 20 validation images at fdr_q = 0.05 the smallest p-value, 1/(1 + n), is above
    fdr_q, and "0 significant voxels" would be an artefact, not a finding.
    """
    import h5py
    from ..configuration import min_permutations
    with h5py.File(stats_path, "r") as f:
        n, n_val = int(f.attrs["n_permutations"]), int(f.attrs["n_val"])
    if n < min_permutations(fdr_q):
        raise ValueError(f"{stats_path}: only {n} permutations are possible with {n_val} validation images, so the "
                         f"smallest p-value 1/{n + 1} = {1 / (n + 1):.3g} is above stats.fdr_q = {fdr_q:g} and no "
                         f"voxel could be significant; use more validation (shared1000) images or a larger stats.fdr_q")


def _significance_counts(sig, member):
    """Number and fraction of an ROI's voxels (those with a defined R2) that are significant."""
    n = int(member.sum())
    k = int((sig & member).sum())
    return {"n_significant": k, "fraction_significant": k / n if n else float("nan")}


def partition_sets_summary(prepared_path, sets, set_paths, out_path, stats_paths=None, fdr_q=None):
    """Per ROI and component of every set: n_voxels (defined), n_undefined (NaN R2), median,
    min, max; with statistics (stats_paths, one per set) also n_significant and
    fraction_significant (q <= fdr_q and component > 0, among the defined voxels)."""
    import pandas as pd
    from .. import significance
    prep = read_h5(prepared_path)
    rois, members = list(prep["roi_names"]), prep["roi_members"]
    columns = ["roi", "set", "component", "n_voxels", "n_undefined", "median", "min", "max"]
    if stats_paths:
        columns += ["n_significant", "fraction_significant"]
    rows = []
    for i, (pset, path) in enumerate(zip(sets, set_paths)):
        d = read_h5(path)
        st = read_h5(stats_paths[i]) if stats_paths else None
        if st is not None and not np.array_equal(st["voxel_index"], d["voxel_index"]):
            raise ValueError(f"{stats_paths[i]}: voxel_index differs from {path}; rerun the statistics")
        names = list(commonality.commonality_coefficients(pset))
        for roi, m in zip(rois, members):
            for name in names:
                desc = comparisons.describe(d[name][m])
                row = {"roi": roi, "set": layout.model_name(pset), "component": name,
                       "n_voxels": desc["n_voxels"], "n_undefined": desc["n_undefined"],
                       "median": desc["median"], "min": desc["min"], "max": desc["max"]}
                if st is not None:
                    row.update(_significance_counts(significance.significant(st[f"q_{name}"], d[name], fdr_q),
                                                    m & ~np.isnan(d[name])))
                rows.append(row)
    write_tsv(pd.DataFrame(rows, columns=columns), out_path)


def roi_outputs(rois, subject, prepared_path, layers, fit_paths, layer_r2_tsv, counts_tsv, partition_tsv,
                out_summaries, out_pngs, precision="float32", out_report_pngs=None):
    """Each ROI's rows of every summary (long format) and its overview figure, for all of a
    subject's ROIs in one job (the tables, fits and matplotlib are read and imported once).
    Medians no larger than their rounding bound at the inputs' ``precision`` are drawn as 0;
    out_report_pngs (optional): the figures' lighter copies for the HTML report
    (``maps.report_png``).

    rois, out_summaries, out_pngs, out_report_pngs: one entry per ROI, in the same order.
    """
    import pandas as pd
    from .. import maps, palette, roi_figure
    prep = read_h5(prepared_path, ["roi_names", "roi_members"])
    names = list(prep["roi_names"])
    tables = {"layer_r2": pd.read_csv(layer_r2_tsv, sep="\t"), "best_layer_counts": pd.read_csv(counts_tsv, sep="\t"),
              "partition": pd.read_csv(partition_tsv, sep="\t")}
    r2_all = {layer: read_h5(p, ["r2"])["r2"] for layer, p in zip(layers, fit_paths)}
    colours = palette.layer_colours(layers)
    n_val = int(np.sum(read_h5(prepared_path, ["val"])["val"]))
    bound = {k: comparisons.rounding_bound(precision, n_val, comparisons.COEF_ABS_SUM[k])
             for k in ("unique_a", "shared", "unique_b")}
    out_report_pngs = out_report_pngs if out_report_pngs is not None else [None] * len(rois)
    for roi, out_summary, out_png, out_report_png in zip(rois, out_summaries, out_pngs, out_report_pngs,
                                                         strict=True):
        member = prep["roi_members"][names.index(roi)]
        rows = []
        for table, df in tables.items():
            key = "pair" if table == "partition" else "layer"
            for rec in df[df["roi"] == roi].to_dict("records"):
                for stat, value in rec.items():
                    if stat in ("roi", key, "layer_a", "layer_b") or (table == "partition" and stat == "n_voxels"):
                        continue
                    rows.append({"roi": roi, "n_voxels": int(member.sum()), "table": table,
                                 "model": rec[key], "statistic": stat, "value": value})
        write_tsv(pd.DataFrame(rows, columns=["roi", "n_voxels", "table", "model", "statistic", "value"]), out_summary)

        r2 = {layer: values[member] for layer, values in r2_all.items()}
        counts_df = tables["best_layer_counts"]
        counts = dict(counts_df[counts_df["roi"] == roi][["layer", "count"]].itertuples(index=False))
        part = tables["partition"]
        part = part[part["roi"] == roi]
        partitions = [(r.pair, r.layer_a, r.layer_b,
                       *(comparisons.zero_rounding(getattr(r, f"{k}_median"), bound[k])
                         for k in ("unique_a", "shared", "unique_b")))
                      for r in part.itertuples()]
        with atomic_path(out_png) as tmp:
            roi_figure.roi_overview(roi, int(member.sum()), r2, counts, partitions, colours,
                                    palette.SHARED_COLOUR, tmp, f"{subject}, ROI {roi}")
        if out_report_png is not None:
            with atomic_path(out_report_png) as tmp:
                maps.report_png(out_png, tmp, width=maps.REPORT_FIGURE_WIDTH)
