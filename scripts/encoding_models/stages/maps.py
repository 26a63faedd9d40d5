"""Stages of maps.smk: pycortex's caches and ROI outlines (once per subject), one flatmap of one
result dataset, and the per-ROI bar figures."""
from __future__ import annotations

import logging

import numpy as np

from .. import contract
from ..io import atomic_path, read_h5

log = logging.getLogger("encoding_models")


def warm_pycortex_cache(store, pycortex_subject, xfm, roi_info_path, height, with_rois, out_path, roi_list=None,
                        rois=None, merged_rois=None, outlines_path=None):
    """Render one throw-away flatmap under the store's exclusive lock, so that every
    cache the map jobs read (flat pixel maps, curvature, ROI overlays) exists before
    they run in parallel.

    rois, merged_rois, outlines_path: also compute the outlines of the configured ROIs
    from the subject's ROI labels (``maps.roi_outlines``) once, under the same lock,
    and write them to outlines_path (JSON) for ``result_flatmap(roi_outlines_path=...)``.
    """
    import tempfile
    from .. import cortex_store, maps
    cortex = cortex_store.import_cortex(store)
    rinfo = contract.load_roi_info(roi_info_path)
    n = int(rinfo["voxel_mask"].sum())
    vol = maps.result_volume(np.zeros(n), np.arange(n), rinfo)
    with cortex_store.store_lock(store), tempfile.TemporaryDirectory() as tmp:
        outlines = None
        if rois:
            outlines = maps.roi_outlines(cortex, maps.roi_volumes_from_info(rinfo, rois, merged_rois),
                                         pycortex_subject, xfm, height)
        maps.render_flatmap(cortex, vol, pycortex_subject, xfm, cmap="RdBu_r", vmin=-1, vmax=1, title="cache",
                            out_png=f"{tmp}/cache.png", roi_outlines=outlines,
                            overlay_rois=maps.use_rois(with_rois), overlay_roi_list=roi_list, height=height)
    if outlines_path is not None:
        maps.save_roi_outlines(outlines or {"rois": {}}, outlines_path)
    with atomic_path(out_path) as tmp, open(tmp, "w") as fh:
        fh.write(f"{pycortex_subject} {xfm} height={height}\n")


def result_flatmap(store, pycortex_subject, xfm, roi_info_path, result_path, dataset, *, cmap, vmin, vmax,
                   title, out_png, with_rois, height, legend=None, roi_list=None, colorbar_label=None,
                   roi_outlines_path=None, blank=None, mask=None, mask_stats=(), noise_ceiling=None):
    """One flatmap of one dataset of a result file (``maps.render_flatmap``).

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
        notes.append(f"not significant, q > {mask['fdr_q']:g} ({int(masked.sum())} of {masked.size} voxels)")
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
        categories = list(palette.layer_colours(legend).items()) + [("undefined (not coloured)", palette.UNDEFINED_COLOUR)]
        colorbar_label = colorbar_label or "best layer (highest validation R2)"
    vol = maps.result_volume(values, res["voxel_index"], rinfo)
    outlines = maps.load_roi_outlines(roi_outlines_path) if roi_outlines_path else None
    with atomic_path(out_png) as tmp:
        maps.render_flatmap(cortex, vol, pycortex_subject, xfm, cmap=cmap, vmin=vmin, vmax=vmax, title=title,
                            out_png=tmp, colorbar_label=colorbar_label, categories=categories,
                            roi_outlines=outlines, overlay_rois=maps.use_rois(with_rois),
                            overlay_roi_list=roi_list, height=height, blank_note="; ".join(notes) or None,
                            metadata={"Legend": ",".join(legend)} if legend is not None else None)


def draw_flatmaps(pycortex, roi_info_path, outlines_path, result_path, prepared_path, specs, out_pngs):
    """The flatmaps of one result file, in one process (pycortex and matplotlib are
    imported once): one ``result_flatmap`` per spec, written to the out_png beside it.

    pycortex: {store, pycortex_subject, xfm, height, with_rois, roi_list}. specs: one dict
    per map with dataset, colors ({cmap, vmin, vmax}), title, label, legend, mask,
    mask_stats and nc_threshold (R2 / noise-ceiling maps: the noise ceiling comes from
    prepared_path; None otherwise).
    """
    for spec, out_png in zip(specs, out_pngs, strict=True):
        c = spec["colors"]
        noise_ceiling = None
        if spec["nc_threshold"] is not None:
            noise_ceiling = {"prepared": prepared_path, "threshold": spec["nc_threshold"]}
        result_flatmap(pycortex["store"], pycortex["pycortex_subject"], pycortex["xfm"], roi_info_path, result_path,
                       spec["dataset"], cmap=c["cmap"], vmin=c["vmin"], vmax=c["vmax"], title=spec["title"],
                       out_png=out_png, with_rois=pycortex["with_rois"], height=pycortex["height"],
                       legend=spec["legend"], roi_list=pycortex["roi_list"], colorbar_label=spec["label"],
                       roi_outlines_path=outlines_path, mask=spec["mask"], mask_stats=spec["mask_stats"],
                       noise_ceiling=noise_ceiling)


def roi_figures(partition_tsv, counts_tsv, layers, subject, out_partition, out_best):
    import pandas as pd
    from .. import roi_figure
    with atomic_path(out_partition) as tmp:
        roi_figure.partition_bars(pd.read_csv(partition_tsv, sep="\t"), layers, tmp,
                            f"{subject}: median unique and shared variance per ROI")
    with atomic_path(out_best) as tmp:
        roi_figure.best_layer_bars(pd.read_csv(counts_tsv, sep="\t"), layers, tmp,
                             f"{subject}: best layer per ROI")


def significance_blank(result_path, dataset, stats_paths, q_key, fdr_q):
    """Voxels of a result map to leave blank: not significant at FDR level fdr_q.

    stats_paths: one statistics file; for the best-layer map, one per layer in config
    order (a voxel is kept when its best layer's R2 is significant; undefined best
    layer: blank).
    """
    from .. import stats
    res = read_h5(result_path, [dataset, "voxel_index"])
    sig = []
    for path in stats_paths:
        st = read_h5(path, [q_key, "voxel_index"])
        if not np.array_equal(st["voxel_index"], res["voxel_index"]):
            raise ValueError(f"{path}: voxel_index differs from {result_path}; rerun the statistics")
        sig.append(stats.significant(st[q_key], fdr_q))
    if len(sig) == 1 and dataset != "best_layer":
        return ~sig[0]
    best = np.asarray(res[dataset]).astype(int)
    keep = np.zeros(best.shape, dtype=bool)
    defined = best >= 0
    keep[defined] = np.stack(sig)[best[defined], np.flatnonzero(defined)]
    return ~keep
