"""One function per workflow stage: read inputs through the contract, compute, write results.

The rule scripts call exactly one of these. Results are written atomically, so a
failed or interrupted stage leaves nothing at its output path. Only the stages that
compute with torch import it (ridge), so that the small stages start fast.
"""
from __future__ import annotations

import logging

import numpy as np

from . import contract, layout, partition, responses, splits
from .io import atomic_path, read_h5, write_h5

log = logging.getLogger("encoding_models")


# --------------------------------------------------------------------------- prepare
def prepare(inputs, rois, merged_rois, split_seed, pct_holdout, out_path, responses_out, precision="float32"):
    """Validate a subject's betas, image_info and ROI info (``inputs``: paths keyed
    betas / image_info / roi_info); write its split, voxel selection and ROI membership,
    and the selected voxels' betas per split (``responses_out``: split -> .npy path),
    rounded to ``precision``, reading the betas once. (Each layer's features are checked
    where they are read, in ``crossprod``.)

    The split is drawn over every image_info row, as the reference does; rows with
    n_reps == 0 are dropped from each split afterwards.
    """
    subj = contract.validate_subject(inputs, [], rois, merged_rois, scan=False)
    good = np.flatnonzero(subj.good_rows)
    trn, holdout, val = splits.split_kept_rows(subj.shared1000, subj.good_rows, split_seed, pct_holdout)
    contract.check_split_sizes(inputs["image_info"], trn.sum(), holdout.sum(), val.sum(), pct_holdout)
    union = np.logical_or.reduce([subj.roi_masks[r] for r in rois])
    voxel_index = np.flatnonzero(union)
    members = np.stack([subj.roi_masks[r][voxel_index] for r in rois])
    writer = responses.SplitWriter(responses_out, {"trn": trn, "holdout": holdout, "val": val}, voxel_index.size,
                                   splits.precision_dtype(precision))
    try:
        contract.scan_betas(inputs["betas"], subj.good_rows, voxel_index, precision, on_block=writer)
    except BaseException:
        writer.close(ok=False)
        raise
    undefined = writer.close()
    write_h5(out_path, {
        "good_rows": good, "trn": trn, "holdout": holdout, "val": val,
        "voxel_index": voxel_index, "roi_names": np.array(rois), "roi_members": members,
        "noise_ceiling": subj.noise_ceiling[voxel_index], "n_images": subj.n_images,
        "r2_undefined": undefined,
    }, attrs={"split_seed": split_seed, "pct_holdout": pct_holdout, "n_bigmask_voxels": subj.n_voxels,
              "precision": precision})
    log.info("%s: %d images kept of %d; trn %d, holdout %d, val %d; %d voxels in %d ROIs, "
             "%d of them constant over the validation images (R2 undefined there)",
             inputs["betas"], good.size, subj.n_images, trn.sum(), holdout.sum(), val.sum(),
             voxel_index.size, len(rois), undefined.sum())


# --------------------------------------------------------------------------- crossprod
def crossprod(features_path, responses_paths, prepared_path, layer, precision, device, batch_size, out_path,
              threads=None):
    """Normalised features of one layer and their products with the responses.

    Writes x_trn/x_holdout/x_val ([n x p+1], intercept last, as float64 holding the
    configured precision) and xty_trn/xty_holdout ([p+1 x V]). Every fit that contains
    this layer reuses the products. responses_paths: split -> .npy (prepare's output).
    """
    from . import ridge   # torch: imported by the jobs that compute with it, not by every stage
    ridge.configure_runtime(threads)
    prep = read_h5(prepared_path, ["n_images", "good_rows", "trn", "holdout", "val", "voxel_index"])
    f = contract.load_features(features_path, n_rows=int(prep["n_images"]))[prep["good_rows"]]
    fit_rows = prep["trn"] | prep["holdout"]
    contract.check_design(features_path, layer, splits.quantize(f[fit_rows], precision), int(prep["trn"].sum()))
    xs = [splits.quantize(x, precision).astype(np.float64)
          for x in splits.split_normalize(f, prep["trn"], prep["holdout"], prep["val"])]
    dev = ridge.resolve_device(device)
    y = {split: responses.SplitResponses(responses_paths[split]) for split in ("trn", "holdout")}
    xty_trn = ridge.cross_products(xs[0], y["trn"], batch_size=batch_size, device=dev)
    xty_holdout = ridge.cross_products(xs[1], y["holdout"], batch_size=batch_size, device=dev)
    write_h5(out_path, {"x_trn": xs[0], "x_holdout": xs[1], "x_val": xs[2],
                        "xty_trn": xty_trn, "xty_holdout": xty_holdout,
                        "voxel_index": prep["voxel_index"]},
             attrs={"layer": layer, "precision": precision})


def _design(crossprod_paths):
    """A model's design and products from its layers' files: [A B ... 1] (one intercept).

    Each layer file holds its features with the intercept as the last column (and X'Y
    with the intercept's row last); a pair keeps every layer's feature columns/rows and
    the first layer's intercept.
    """
    parts = [read_h5(p) for p in crossprod_paths]

    def columns(key):   # features: [n x p_layer + 1]
        return np.concatenate([d[key][:, :-1] for d in parts] + [parts[0][key][:, -1:]], axis=1)

    def rows(key):      # X'Y: [p_layer + 1 x V]
        return np.concatenate([d[key][:-1] for d in parts] + [parts[0][key][-1:]], axis=0)

    return (columns("x_trn"), columns("x_holdout"), columns("x_val"),
            rows("xty_trn"), rows("xty_holdout"))


# --------------------------------------------------------------------------- fit
def fit(model, crossprod_paths, responses_paths, prepared_path, *, lambdas, intercept, refit, precision,
        device, batch_size, out_path, threads=None):
    """Fit one model (a layer or a layer pair) for every selected voxel.

    Reads its layers' products, the holdout and validation responses in voxel blocks,
    and train responses only for the few near-tie voxels re-scored the reference's way.
    """
    from . import ridge
    lambdas = ridge.check_lambdas(lambdas)
    ridge.configure_runtime(threads)
    prep = read_h5(prepared_path, ["voxel_index"])
    x_trn, x_holdout, x_val, xty_trn, xty_holdout = _design(crossprod_paths)
    y = {split: responses.SplitResponses(responses_paths[split]) for split in responses.SPLITS}
    res = ridge.fit_ridge(x_trn, x_holdout, x_val, y["trn"], y["holdout"], y["val"], lambdas,
                          xty_trn=xty_trn, xty_holdout=xty_holdout, intercept=intercept, refit=refit,
                          batch_size=batch_size, device=ridge.resolve_device(device))
    write_h5(out_path, {"r2": res.r2, "best_lambda": res.best_lambda,
                        "best_lambda_index": res.best_index, "voxel_index": prep["voxel_index"],
                        "lambdas": lambdas, "weights": res.weights},
             attrs={"model": model, "n_features": x_trn.shape[1] - 1, "intercept": intercept,
                    "refit": refit, "precision": precision, "n_rescored": res.n_rescored})
    log.info("%s: %d voxels, median R2 %.4f, %d near-tie voxels re-scored the reference's way",
             model, res.r2.size, np.median(res.r2), res.n_rescored)


# --------------------------------------------------------------------------- partition
def partition_pair(fit_a, fit_b, fit_ab, out_path):
    a, b, ab = (read_h5(p, ["r2", "voxel_index"]) for p in (fit_a, fit_b, fit_ab))
    if not (np.array_equal(a["voxel_index"], ab["voxel_index"]) and np.array_equal(b["voxel_index"], ab["voxel_index"])):
        raise ValueError(f"{fit_ab}: voxel_index differs from its layers' fits; rerun the fits")
    parts = partition.variance_partition(a["r2"], b["r2"], ab["r2"])
    write_h5(out_path, {**parts, "voxel_index": ab["voxel_index"]})


def best_layer(fit_paths, layers, out_path):
    fits = [read_h5(p, ["r2", "voxel_index"]) for p in fit_paths]
    best, best_r2 = partition.best_layer([f["r2"] for f in fits])
    write_h5(out_path, {"best_layer": best, "best_r2": best_r2, "voxel_index": fits[0]["voxel_index"],
                        "layers": np.array(layers)})


# --------------------------------------------------------------------------- summaries
def summaries(prepared_path, layers, fit_paths, best_layer_path, pairs, partition_paths,
              out_layer_r2, out_counts, out_partition, nc_threshold=None):
    """The per-ROI tables answering the reference's questions 1, 2, 4 and 6.

    nc_threshold (optional): also report R2 divided by the noise ceiling, over voxels
    whose noise ceiling (as a fraction) is at least the threshold.
    """
    import pandas as pd
    prep = read_h5(prepared_path)
    rois, members, nc = list(prep["roi_names"]), prep["roi_members"], prep["noise_ceiling"]
    rows = []
    for layer, path in zip(layers, fit_paths):
        r2 = read_h5(path, ["r2"])["r2"]
        for roi, m in zip(rois, members):
            row = {"roi": roi, "layer": layer, **partition.describe(r2[m])}
            if nc_threshold is not None:
                keep = m & (nc >= nc_threshold) & (nc > 0)
                d = partition.describe(r2[keep] / nc[keep])
                row.update({f"{k}_r2_over_nc": v for k, v in d.items()})
            rows.append(row)
    _write_tsv(pd.DataFrame(rows), out_layer_r2)

    best = read_h5(best_layer_path, ["best_layer"])["best_layer"]
    counts = [{"roi": roi, "layer": layer, "count": int(np.sum(best[m] == li)),
               "n_undefined": int(np.sum(best[m] == partition.UNDEFINED_LAYER))}
              for roi, m in zip(rois, members) for li, layer in enumerate(layers)]
    _write_tsv(pd.DataFrame(counts), out_counts)

    prow = []
    for (a, b), path in zip(pairs, partition_paths):
        d = read_h5(path)
        for roi, m in zip(rois, members):
            row = {"roi": roi, "pair": layout.model_name((a, b)), "layer_a": a, "layer_b": b,
                   "n_voxels": int((m & ~np.isnan(d["r2_joint"])).sum())}
            row["n_undefined"] = int(np.isnan(d["r2_joint"][m]).sum())
            for key in layout.PARTITION_KINDS:
                stats = partition.describe(d[key][m])
                row.update({f"{key}_{s}": stats[s] for s in ("median", "min", "max")})
            prow.append(row)
    columns = ["roi", "pair", "layer_a", "layer_b", "n_voxels", "n_undefined"] + [
        f"{key}_{s}" for key in layout.PARTITION_KINDS for s in ("median", "min", "max")]
    _write_tsv(pd.DataFrame(prow, columns=columns), out_partition)   # header only when no pairs


def _write_tsv(df, path):
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format="%.10g")


# --------------------------------------------------------------------------- maps
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
    from . import cortex_store, maps
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
                   roi_outlines_path=None, blank=None):
    """One flatmap of one dataset of a result file (``maps.render_flatmap``).

    legend: the configured layer list when the dataset holds layer indices (best layer):
      drawn in the palette's layer colours (cmap, vmin, vmax are then ignored), -1 blank.
    colorbar_label: what the colour shows and its unit (e.g. 'R2 of Conv1 (fraction of
      variance)'); drawn under the colourbar, or as the legend's title.
    roi_outlines_path: the outlines JSON that ``warm_pycortex_cache`` wrote (ROIs of the
      tables, labelled); with_rois/roi_list: pycortex's inkscape overlay outlines too.
    blank: optional bool over the result's voxels (e.g. not significant): drawn blank.
    """
    from . import cortex_store, maps, palette
    cortex = cortex_store.import_cortex(store)
    rinfo = contract.load_roi_info(roi_info_path)
    res = read_h5(result_path, [dataset, "voxel_index"])
    values = np.asarray(res[dataset], dtype=float)
    if blank is not None:
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
                            overlay_roi_list=roi_list, height=height,
                            metadata={"Legend": ",".join(legend)} if legend is not None else None)


def roi_figures(partition_tsv, counts_tsv, layers, subject, out_partition, out_best):
    import pandas as pd
    from . import maps
    with atomic_path(out_partition) as tmp:
        maps.partition_bars(pd.read_csv(partition_tsv, sep="\t"), layers, tmp,
                            f"{subject}: median unique and shared variance per ROI")
    with atomic_path(out_best) as tmp:
        maps.best_layer_bars(pd.read_csv(counts_tsv, sep="\t"), layers, tmp,
                             f"{subject}: best layer per ROI")


# --------------------------------------------------------------------------- per ROI
def roi_outputs(roi, subject, prepared_path, layers, fit_paths, layer_r2_tsv, counts_tsv, partition_tsv,
                out_summary, out_png):
    """One ROI's rows of every summary (long format) and its overview figure."""
    import pandas as pd
    from . import overview, palette
    prep = read_h5(prepared_path, ["roi_names", "roi_members"])
    member = prep["roi_members"][list(prep["roi_names"]).index(roi)]
    tables = {"layer_r2": pd.read_csv(layer_r2_tsv, sep="\t"), "best_layer_counts": pd.read_csv(counts_tsv, sep="\t"),
              "partition": pd.read_csv(partition_tsv, sep="\t")}
    rows = []
    for table, df in tables.items():
        key = "pair" if table == "partition" else "layer"
        for rec in df[df["roi"] == roi].to_dict("records"):
            for stat, value in rec.items():
                if stat in ("roi", key, "layer_a", "layer_b") or (table == "partition" and stat == "n_voxels"):
                    continue
                rows.append({"roi": roi, "n_voxels": int(member.sum()), "table": table,
                             "model": rec[key], "statistic": stat, "value": value})
    _write_tsv(pd.DataFrame(rows, columns=["roi", "n_voxels", "table", "model", "statistic", "value"]), out_summary)

    r2 = {layer: read_h5(p, ["r2"])["r2"][member] for layer, p in zip(layers, fit_paths)}
    counts_df = tables["best_layer_counts"]
    counts = dict(counts_df[counts_df["roi"] == roi][["layer", "count"]].itertuples(index=False))
    part = tables["partition"]
    part = part[part["roi"] == roi]
    partitions = [(r.pair, r.layer_a, r.layer_b, r.unique_a_median, r.shared_median, r.unique_b_median)
                  for r in part.itertuples()]
    with atomic_path(out_png) as tmp:
        overview.roi_overview(roi, int(member.sum()), r2, counts, partitions, palette.layer_colours(layers),
                              palette.SHARED_COLOUR, tmp, f"{subject}, ROI {roi}")
