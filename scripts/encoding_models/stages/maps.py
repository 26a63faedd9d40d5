"""Stages of maps.smk: pycortex's caches and ROI outlines (once per subject), one flatmap of one
result dataset, and the per-ROI bar figures."""
from __future__ import annotations

import logging

import numpy as np

from .. import contract
from ..io import atomic_path, read_h5

log = logging.getLogger("encoding_models")


def warm_pycortex_cache(store, pycortex_subject, xfm, roi_info_path, height, with_rois, out_path, roi_list=None,
                        rois=None, merged_rois=None, outlines_path=None, overlay_path=None, viewer=False):
    """Render one throw-away flatmap under the store's exclusive lock, so that every
    cache the map jobs read (flat pixel maps, curvature, ROI overlays) exists before
    they run in parallel.

    rois, merged_rois, outlines_path: also compute the outlines of the configured ROIs
    from the subject's ROI labels (``maps.roi_outlines``) once, under the same lock,
    and write them to outlines_path (JSON) for ``result_flatmap(roi_outlines_path=...)``.
    overlay_path: also write pycortex's ROI overlay as rendered (inkscape, seconds per
    render) for ``result_flatmap(roi_overlay_path=...)``: empty when maps.with_rois draws none.
    viewer: also build the subject's WebGL surface pack (``viewer``'s make_static reads it
    from the store's cache: about 20 s on a fresh store, here while the fits run rather
    than after the last of them). A speed-up only: the viewer builds it when missing.
    """
    import tempfile
    from .. import cortex_store, maps
    cortex = cortex_store.import_cortex(store)
    rinfo = contract.load_roi_info(roi_info_path)
    n = int(rinfo["voxel_mask"].sum())
    vol = maps.result_volume(np.zeros(n), np.arange(n), rinfo)
    overlay_rois = maps.use_rois(with_rois)
    with cortex_store.store_lock(store), tempfile.TemporaryDirectory() as tmp:
        outlines = None
        if rois:
            outlines = maps.roi_outlines(cortex, maps.roi_volumes_from_info(rinfo, rois, merged_rois),
                                         pycortex_subject, xfm, height)
        maps.render_flatmap(cortex, vol, pycortex_subject, xfm, cmap="RdBu_r", vmin=-1, vmax=1, title="cache",
                            out_png=f"{tmp}/cache.png", roi_outlines=outlines,
                            overlay_rois=overlay_rois, overlay_roi_list=roi_list, height=height)
        overlay = maps.roi_overlay_texture(cortex, pycortex_subject, height, tuple(roi_list or ())) if overlay_rois else None
        if viewer:   # the arguments cortex.webgl.make_static passes, so that it finds this pack
            cortex.utils.get_ctmpack(pycortex_subject, ("inflated",), method="mg2", level=9)
    if overlay_path is not None:
        maps.save_overlay(overlay, overlay_path)
    if outlines_path is not None:
        maps.save_roi_outlines(outlines or {"rois": {}}, outlines_path)
    with atomic_path(out_path) as tmp, open(tmp, "w") as fh:
        fh.write(f"{pycortex_subject} {xfm} height={height}\n")


def result_flatmap(store, pycortex_subject, xfm, roi_info_path, result_path, dataset, *, cmap, vmin, vmax,
                   title, out_png, with_rois, height, legend=None, roi_list=None, colorbar_label=None,
                   roi_outlines_path=None, blank=None, mask=None, mask_stats=(), noise_ceiling=None,
                   roi_overlay_path=None, out_report_png=None):
    """One flatmap of one dataset of a result file (``maps.render_flatmap``), full
    resolution in out_png, and a lighter copy for the HTML report in out_report_png
    (``maps.report_png``) when given.

    legend: the configured layer list when the dataset holds layer indices (best layer):
      drawn in the palette's layer colours (cmap, vmin, vmax are then ignored), -1 blank.
    colorbar_label: what the colour shows and its unit (e.g. 'R2 of Conv1 (fraction of
      variance)'); drawn under the colourbar, or as the legend's title.
    roi_outlines_path: the outlines JSON that ``warm_pycortex_cache`` wrote (ROIs of the
      tables, labelled); with_rois/roi_list: pycortex's inkscape overlay outlines too.
    blank: optional bool over the result's voxels (e.g. not significant): drawn blank.
    mask: optional {"q_key": dataset, "fdr_q": level}, with mask_stats the statistics
      file(s) holding the q-values: voxels not significant at that FDR level are blank
      too (``significance_blank``).
    roi_overlay_path: pycortex's overlay as ``warm_pycortex_cache`` rendered it; drawn
      instead of with_rois/roi_list (which then only say what the overlay holds).
    noise_ceiling: optional {"prepared": prepared.h5, "threshold": fraction}: draw the
      dataset divided by the noise ceiling, blank where the ceiling is below threshold.
    """
    from .. import cortex_store, maps, palette
    cortex = cortex_store.import_cortex(store)
    rinfo = contract.load_roi_info(roi_info_path)
    res = read_h5(result_path, [dataset, "voxel_index"])
    values = np.asarray(res[dataset], dtype=float)
    blank = np.zeros(values.shape, dtype=bool) if blank is None else np.asarray(blank, dtype=bool)
    notes = []
    if mask is not None:
        masked = significance_blank(result_path, dataset, list(mask_stats), mask["q_key"], mask["fdr_q"])
        notes.append(f"not significant (q > {mask['fdr_q']:g} or value <= 0; {int(masked.sum())} of {masked.size} voxels)")
        blank = blank | masked
    if noise_ceiling is not None:
        prep = read_h5(noise_ceiling["prepared"], ["noise_ceiling", "voxel_index"])
        if not np.array_equal(prep["voxel_index"], res["voxel_index"]):
            raise ValueError(f"{result_path}: voxel_index differs from {noise_ceiling['prepared']}")
        nc = prep["noise_ceiling"]
        low = ~(nc >= noise_ceiling["threshold"]) | ~(nc > 0)
        notes.append(f"noise ceiling < {noise_ceiling['threshold']:g} ({int(low.sum())})")
        blank = blank | low
        with np.errstate(divide="ignore", invalid="ignore"):
            values = values / np.where(low, 1.0, nc)
    if blank.any():
        values = np.where(np.asarray(blank, dtype=bool), np.nan, values)
    categories = None
    if legend is not None:
        values = np.where(values < 0, np.nan, values)       # best layer -1: undefined
        cmap, vmin, vmax = palette.best_layer_cmap(legend)
        categories = list(palette.layer_colours(legend).items()) + [("undefined (grey curvature shows)", palette.UNDEFINED_COLOUR)]
        colorbar_label = colorbar_label or "best layer (highest validation R2)"
    vol = maps.result_volume(values, res["voxel_index"], rinfo)
    outlines = maps.load_roi_outlines(roi_outlines_path) if roi_outlines_path else None
    overlay = maps.load_overlay(roi_overlay_path) if roi_overlay_path else None
    overlay_rois = overlay is not None if roi_overlay_path else maps.use_rois(with_rois)
    with atomic_path(out_png) as tmp:
        maps.render_flatmap(cortex, vol, pycortex_subject, xfm, cmap=cmap, vmin=vmin, vmax=vmax, title=title,
                            out_png=tmp, colorbar_label=colorbar_label, categories=categories,
                            roi_outlines=outlines, overlay_rois=overlay_rois, overlay_image=overlay,
                            overlay_roi_list=roi_list, height=height, blank_note="; ".join(notes) or None,
                            metadata={"Legend": ",".join(legend)} if legend is not None else None)
    if out_report_png is not None:
        with atomic_path(out_report_png) as tmp:
            maps.report_png(out_png, tmp)


def draw_flatmaps(pycortex, roi_info_path, outlines_path, overlay_path, result_paths, prepared_path, specs, out_pngs,
                  out_report_pngs=None):
    """Several flatmaps in one process (pycortex and matplotlib are imported once): one
    ``result_flatmap`` per spec, of the result file beside it in result_paths, written to the out_png beside it
    (full resolution), and its lighter copy for the HTML report to the out_report_png
    beside it when out_report_pngs is given (``maps.report_png``).

    pycortex: {store, pycortex_subject, xfm, height, with_rois, roi_list}. specs: one dict
    per map with dataset, colors ({cmap, vmin, vmax}), title, label, legend, mask,
    mask_stats and nc_threshold (R2 / noise-ceiling maps: the noise ceiling comes from
    prepared_path; None otherwise).
    """
    out_report_pngs = out_report_pngs if out_report_pngs is not None else [None] * len(out_pngs)
    for spec, result_path, out_png, out_report_png in zip(specs, result_paths, out_pngs, out_report_pngs, strict=True):
        c = spec["colors"]
        noise_ceiling = None
        if spec["nc_threshold"] is not None:
            noise_ceiling = {"prepared": prepared_path, "threshold": spec["nc_threshold"]}
        result_flatmap(pycortex["store"], pycortex["pycortex_subject"], pycortex["xfm"], roi_info_path, result_path,
                       spec["dataset"], cmap=c["cmap"], vmin=c["vmin"], vmax=c["vmax"], title=spec["title"],
                       out_png=out_png, with_rois=pycortex["with_rois"], height=pycortex["height"],
                       legend=spec["legend"], roi_list=pycortex["roi_list"], colorbar_label=spec["label"],
                       roi_outlines_path=outlines_path, mask=spec["mask"], mask_stats=spec["mask_stats"],
                       noise_ceiling=noise_ceiling, roi_overlay_path=overlay_path, out_report_png=out_report_png)


def roi_figures(partition_tsv, counts_tsv, layers, subject, out_partition, out_best, prepared=None,
                precision="float32", out_report=None):
    """The subject's bars of partitions (medians no larger than their rounding bound, at the
    inputs' precision and prepared.h5's validation images, drawn as 0) and best layers per ROI;
    out_report: optional (partition, best) paths of their lighter copies for the HTML report."""
    import pandas as pd
    from .. import comparisons, maps, roi_figure
    part = pd.read_csv(partition_tsv, sep="\t")
    if prepared is not None:
        n_val = int(np.sum(read_h5(prepared, ["val"])["val"]))
        for k in ("unique_a", "shared", "unique_b"):
            bound = comparisons.rounding_bound(precision, n_val, comparisons.COEF_ABS_SUM[k])
            part[f"{k}_median"] = comparisons.zero_rounding(part[f"{k}_median"].to_numpy(), bound)
    with atomic_path(out_partition) as tmp:
        roi_figure.partition_bars(part, layers, tmp, f"{subject}: median unique and shared variance per ROI")
    with atomic_path(out_best) as tmp:
        roi_figure.best_layer_bars(pd.read_csv(counts_tsv, sep="\t"), layers, tmp,
                             f"{subject}: best layer per ROI")
    for full, light in zip((out_partition, out_best), out_report or ()):
        with atomic_path(light) as tmp:
            maps.report_png(full, tmp, width=maps.REPORT_FIGURE_WIDTH)


def significance_blank(result_path, dataset, stats_paths, q_key, fdr_q):
    """Voxels of a result map to leave blank: not significant at FDR level fdr_q
    (``significance.significant``: q <= fdr_q and a positive value).

    stats_paths: one statistics file, whose q-values test the drawn dataset itself (R2,
    joint R2, a unique part): a voxel is kept where q <= fdr_q and the drawn value > 0.
    For the best-layer map, one per layer in config order: a voxel is kept when its best
    layer's R2 is significant (q <= fdr_q and that layer's R2 > 0, the R2 the test
    observed, stored beside its q-values); undefined best layer: blank.
    """
    from .. import significance
    res = read_h5(result_path, [dataset, "voxel_index"])
    sig = []
    for path in stats_paths:
        keys = [q_key, "voxel_index"] + (["r2"] if dataset == "best_layer" else [])
        st = read_h5(path, keys)
        if not np.array_equal(st["voxel_index"], res["voxel_index"]):
            raise ValueError(f"{path}: voxel_index differs from {result_path}; rerun the statistics")
        values = st["r2"] if dataset == "best_layer" else res[dataset]
        sig.append(significance.significant(st[q_key], values, fdr_q))
    if len(sig) == 1 and dataset != "best_layer":
        return ~sig[0]
    best = np.asarray(res[dataset]).astype(int)
    keep = np.zeros(best.shape, dtype=bool)
    defined = best >= 0
    keep[defined] = np.stack(sig)[best[defined], np.flatnonzero(defined)]
    return ~keep
