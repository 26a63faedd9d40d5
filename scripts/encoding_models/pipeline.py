"""One function per workflow stage: read inputs through the contract, compute, write results.

The rule scripts call exactly one of these. Results are written atomically, so a
failed or interrupted stage leaves nothing at its output path. Only the stages that
compute with torch import it (ridge), so that the small stages start fast.
"""
from __future__ import annotations

import logging

import numpy as np

from . import commonality, contract, layout, partition, responses, splits
from .io import atomic_path, read_h5, write_h5

log = logging.getLogger("encoding_models")


# --------------------------------------------------------------------------- prepare
def prepare(inputs, rois, merged_rois, split_seed, pct_holdout, out_path, responses_out, precision="float32",
            validation_ids=None):
    """Validate a subject's betas, image_info and ROI info (``inputs``: paths keyed
    betas / image_info / roi_info); write its split, voxel selection and ROI membership,
    and the selected voxels' betas per split (``responses_out``: split -> .npy path),
    rounded to ``precision``, reading the betas once. (Each layer's features are checked
    where they are read, in ``crossprod``.)

    The split is drawn over every image_info row, as the reference does; rows with
    n_reps == 0 are dropped from each split afterwards. validation_ids (optional, 73k
    ids): only these shared1000 images validate, the others are in no split.
    """
    subj = contract.validate_subject(inputs, [], rois, merged_rois, scan=False)
    good = np.flatnonzero(subj.good_rows)
    allowed = None if validation_ids is None else np.isin(
        contract.load_image_info(inputs["image_info"])["unique_ims"].to_numpy(), validation_ids)
    trn, holdout, val = splits.split_kept_rows(subj.shared1000, subj.good_rows, split_seed, pct_holdout, allowed)
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
              "precision": precision, "n_val_dropped": int((subj.shared1000 & subj.good_rows).sum() - val.sum())})
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

    ends = np.cumsum([d["x_trn"].shape[1] - 1 for d in parts])
    bands = [slice(int(a), int(b)) for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]
    return (columns("x_trn"), columns("x_holdout"), columns("x_val"),
            rows("xty_trn"), rows("xty_holdout"), bands)


# --------------------------------------------------------------------------- fit
def fit(model, crossprod_paths, responses_paths, prepared_path, *, lambdas, intercept, refit, precision,
        device, batch_size, out_path, threads=None, joint="concatenated", band_ratios=None):
    """Fit one model (a layer or several layers) for every selected voxel.

    Reads its layers' products, the holdout and validation responses in voxel blocks,
    and train responses only for the few near-tie voxels re-scored the reference's way.

    joint='banded' (models of 2+ layers): banded ridge, one lambda per layer (band) per
    voxel, from the lambda grid (overall scales) times band_ratios' candidates
    (banded.ratio_candidates: the product grid for 3+ bands); the intercept is then
    unpenalised. Writes band_lambdas [V x k] too, and best_lambda is the overall scale
    (the geometric mean of the band lambdas).
    """
    from . import ridge
    lambdas = ridge.check_lambdas(lambdas)
    ridge.configure_runtime(threads)
    prep = read_h5(prepared_path, ["voxel_index"])
    x_trn, x_holdout, x_val, xty_trn, xty_holdout, bands = _design(crossprod_paths)
    y = {split: responses.SplitResponses(responses_paths[split]) for split in responses.SPLITS}
    layers = layout.model_layers(model)
    attrs = {"model": model, "n_features": x_trn.shape[1] - 1, "intercept": intercept,
             "refit": refit, "precision": precision}
    is_banded = joint == "banded" and len(bands) > 1
    if is_banded:
        from . import banded
        if intercept != "unpenalized" or refit:
            raise ValueError(f"{model}: banded ridge has an unpenalised intercept and no refit "
                             f"(got intercept={intercept!r}, refit={refit!r})")
        res = banded.fit_banded_ridge(x_trn, x_holdout, x_val, None, y["holdout"], y["val"], bands,
                                      lambdas, band_ratios, xty_trn=xty_trn, xty_out=xty_holdout,
                                      batch_size=batch_size, device=ridge.resolve_device(device))
        write_h5(out_path, {"r2": res.r2, "best_lambda": lambdas[res.best_index],
                            "best_lambda_index": res.best_index, "voxel_index": prep["voxel_index"],
                            "lambdas": lambdas, "weights": res.weights, "band_lambdas": res.band_lambdas,
                            "band_weights": res.band_weights, "best_candidate": res.best_candidate},
                 attrs={**attrs, "joint": "banded", "bands": list(layers),
                        "band_sizes": np.array([b.stop - b.start for b in bands]),
                        "band_ratios": np.asarray(band_ratios, dtype=np.float64), "n_rescored": res.n_rescored})
    else:
        res = ridge.fit_ridge(x_trn, x_holdout, x_val, y["trn"], y["holdout"], y["val"], lambdas,
                              xty_trn=xty_trn, xty_holdout=xty_holdout, intercept=intercept, refit=refit,
                              batch_size=batch_size, device=ridge.resolve_device(device))
        write_h5(out_path, {"r2": res.r2, "best_lambda": res.best_lambda,
                            "best_lambda_index": res.best_index, "voxel_index": prep["voxel_index"],
                            "lambdas": lambdas, "weights": res.weights},
                 attrs={**attrs, "n_rescored": res.n_rescored})
    log.info("%s: %d voxels, median R2 %.4f, %d near-tie voxels re-scored%s", model, res.r2.size,
             np.nanmedian(res.r2), res.n_rescored, " (banded)" if is_banded else "")


# --------------------------------------------------------------------------- partition
def partition_pair(fit_a, fit_b, fit_ab, out_path):
    a, b, ab = (read_h5(p, ["r2", "voxel_index"]) for p in (fit_a, fit_b, fit_ab))
    if not (np.array_equal(a["voxel_index"], ab["voxel_index"]) and np.array_equal(b["voxel_index"], ab["voxel_index"])):
        raise ValueError(f"{fit_ab}: voxel_index differs from its layers' fits; rerun the fits")
    parts = partition.variance_partition(a["r2"], b["r2"], ab["r2"])
    write_h5(out_path, {**parts, "voxel_index": ab["voxel_index"]})


def _set_subsets(layers, fit_paths, out_path):
    """The subset models of a partition set (commonality.subsets order), one per fit path."""
    subsets = commonality.subsets(layers)
    if len(fit_paths) != len(subsets):
        raise ValueError(f"{out_path}: {len(subsets)} subset fits needed, got {len(fit_paths)}")
    return subsets


def partition_set(layers, fit_paths, out_path):
    """Commonality components of a set of 2..4 layers from the fits of its subset models.

    fit_paths: one per subset model, in the order of commonality.subsets(layers). Writes one
    dataset per component (commonality.component_name), r2_full and voxel_index.
    """
    subsets = _set_subsets(layers, fit_paths, out_path)
    fits = [read_h5(p, ["r2", "voxel_index"]) for p in fit_paths]
    for path, f in zip(fit_paths, fits):
        if not np.array_equal(f["voxel_index"], fits[-1]["voxel_index"]):
            raise ValueError(f"{path}: voxel_index differs from the other fits of the set; rerun the fits")
    parts = commonality.commonality(layers, {s: f["r2"] for s, f in zip(subsets, fits)})
    write_h5(out_path, {**parts, "r2_full": fits[-1]["r2"], "voxel_index": fits[-1]["voxel_index"]},
             attrs={"layers": list(layers), "components": list(parts)})


def partition_sets_summary(prepared_path, sets, set_paths, out_path, stats_paths=None, fdr_q=None):
    """Per ROI and component of every set: n_voxels (defined), n_undefined (NaN R2), median,
    min, max; with statistics (stats_paths, one per set) also n_significant and
    fraction_significant (q <= fdr_q, among the defined voxels)."""
    import pandas as pd
    from . import stats as stats_mod
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
                desc = partition.describe(d[name][m])
                row = {"roi": roi, "set": layout.model_name(pset), "component": name,
                       "n_voxels": desc["n_voxels"], "n_undefined": desc["n_undefined"],
                       "median": desc["median"], "min": desc["min"], "max": desc["max"]}
                if st is not None:
                    row.update(_significance_counts(stats_mod.significant(st[f"q_{name}"], fdr_q),
                                                    m & ~np.isnan(d[name])))
                rows.append(row)
    _write_tsv(pd.DataFrame(rows, columns=columns), out_path)


def best_layer(fit_paths, layers, out_path):
    fits = [read_h5(p, ["r2", "voxel_index"]) for p in fit_paths]
    best, best_r2 = partition.best_layer([f["r2"] for f in fits])
    write_h5(out_path, {"best_layer": best, "best_r2": best_r2, "voxel_index": fits[0]["voxel_index"],
                        "layers": np.array(layers)})


# --------------------------------------------------------------------------- statistics
def _val_design(crossprod_paths):
    """A model's validation design [n_val x p+1] from its layers' files, assembled like
    ``_design`` (every layer's feature columns, then the first layer's intercept)."""
    parts = [read_h5(p, ["x_val"])["x_val"] for p in crossprod_paths]
    return np.concatenate([x[:, :-1] for x in parts] + [parts[0][:, -1:]], axis=1)


def _val_predictions(fit_path, crossprod_paths, voxel_index, device):
    """Validation predictions of a fitted model as a callable over voxel slices
    (x_val @ weights, made block by block, never all at once)."""
    import torch
    fit_res = read_h5(fit_path, ["weights", "voxel_index"])
    if not np.array_equal(fit_res["voxel_index"], voxel_index):
        raise ValueError(f"{fit_path}: voxel_index differs from prepared.h5; rerun the fits")
    x = torch.as_tensor(_val_design(crossprod_paths), dtype=torch.float64, device=device)
    w = fit_res["weights"]
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"{fit_path}: weights have {w.shape[0]} rows, the design {x.shape[1]} columns; rerun the fit")
    return lambda sl: x @ torch.as_tensor(w[:, sl], dtype=torch.float64, device=device)


def _val_responses(val_path):
    """Validation responses [n_val x V], as the fits read them (prepare's split file)."""
    return responses.SplitResponses(val_path)[:, :]


def stats_model(model, fit_path, crossprod_paths, val_path, prepared_path, *, n_permutations, seed,
                device, batch_size, out_path, threads=None):
    """Permutation p-values of one model's validation R2 (stats.permutation_test_r2), with
    BH q-values across the voxels of the map. Never changes the fit."""
    from . import ridge, stats
    ridge.configure_runtime(threads)
    dev = ridge.resolve_device(device)
    prep = read_h5(prepared_path, ["voxel_index"])
    y = _val_responses(val_path)
    pred = _val_predictions(fit_path, crossprod_paths, prep["voxel_index"], dev)
    res = stats.permutation_test_r2(y, pred, n_permutations=n_permutations, seed=seed,
                                    batch_size=batch_size, device=dev)
    q = stats.fdr_q(res.p)
    write_h5(out_path, {"p_r2": res.p, "q_r2": q, "r2": res.r2, "voxel_index": prep["voxel_index"]},
             attrs={"model": model, "n_permutations": res.n_permutations,
                    "n_permutations_requested": n_permutations, "seed": seed, "n_val": y.shape[0]})
    log.info("%s: %d permutations (%d requested, %d validation images); %d of %d voxels with p < 0.05, "
             "%d with q <= 0.05", model, res.n_permutations, n_permutations, y.shape[0],
             int(np.nansum(res.p < 0.05)), res.p.size, int(stats.significant(q, 0.05).sum()))


def stats_partition(a, b, fits, crossprods, val_path, prepared_path, *, n_boot, seed, device,
                    batch_size, out_path, threads=None):
    """Paired bootstrap of a pair's unique and shared variance (stats.pair_bootstrap):
    95% percentile intervals, one-sided p-values of unique A > 0 and unique B > 0, BH
    q-values across the voxels of each map.

    fits: model -> fit path and crossprods: model -> its layers' crossprod paths, for the
    models 'a', 'b' and 'ab'.
    """
    from . import ridge, stats
    ridge.configure_runtime(threads)
    dev = ridge.resolve_device(device)
    prep = read_h5(prepared_path, ["voxel_index"])
    y = _val_responses(val_path)
    preds = {m: _val_predictions(fits[m], crossprods[m], prep["voxel_index"], dev) for m in ("a", "b", "ab")}
    res = stats.pair_bootstrap(y, preds["a"], preds["b"], preds["ab"], n_boot=n_boot, seed=seed,
                               batch_size=batch_size, device=dev)
    out = {key: res[key] for key in ("p_unique_a", "p_unique_b", "unique_a_ci", "unique_b_ci", "shared_ci")}
    out["q_unique_a"] = stats.fdr_q(res["p_unique_a"])
    out["q_unique_b"] = stats.fdr_q(res["p_unique_b"])
    write_h5(out_path, {**out, "voxel_index": prep["voxel_index"]},
             attrs={"pair": layout.model_name((a, b)), "layer_a": a, "layer_b": b, "n_bootstrap": int(n_boot),
                    "seed": seed, "confidence": 0.95, "n_val": y.shape[0]})
    log.info("%s+%s: %d bootstrap samples; unique %s significant (q <= 0.05) in %d voxels, unique %s in %d",
             a, b, n_boot, a, int(stats.significant(out["q_unique_a"], 0.05).sum()), b,
             int(stats.significant(out["q_unique_b"], 0.05).sum()))


def stats_partition_set(layers, fits, crossprods, val_path, prepared_path, *, n_boot, seed, device,
                        batch_size, out_path, threads=None):
    """Paired bootstrap of every commonality component of a set of layers (the same
    resampling as stats_partition): per component ``<name>_ci`` (95% percentile interval),
    ``p_<name>`` (one-sided, component > 0) and ``q_<name>`` (BH across the map's voxels).

    fits: one fit path per subset model in commonality.subsets(layers) order;
    crossprods: layer -> its crossprod path.
    """
    from . import ridge, stats
    ridge.configure_runtime(threads)
    dev = ridge.resolve_device(device)
    subsets = _set_subsets(layers, fits, out_path)
    prep = read_h5(prepared_path, ["voxel_index"])
    y = _val_responses(val_path)
    preds = {layout.model_name(s): _val_predictions(f, [crossprods[layer] for layer in s], prep["voxel_index"], dev)
             for s, f in zip(subsets, fits)}
    components = {name: {layout.model_name(k): float(c) for k, c in coef.items()}
                  for name, coef in commonality.commonality_coefficients(layers).items()}
    res = stats.bootstrap_components(y, preds, components, n_boot=n_boot, seed=seed,
                                     batch_size=batch_size, device=dev)
    out = {"voxel_index": prep["voxel_index"]}
    for name in components:
        out[f"{name}_ci"] = res.ci[name]
        out[f"p_{name}"] = res.p_positive[name]
        out[f"q_{name}"] = stats.fdr_q(res.p_positive[name])
    write_h5(out_path, out, attrs={"layers": list(layers), "components": list(components), "n_bootstrap": int(n_boot),
                                   "seed": seed, "confidence": 0.95, "n_val": y.shape[0]})
    log.info("%s: %d bootstrap samples; significant (q <= 0.05): %s", layout.model_name(layers), n_boot,
             ", ".join(f"{n} {int(stats.significant(out[f'q_{n}'], 0.05).sum())}" for n in components))


def significance_blank(result_path, dataset, stats_paths, q_key, fdr_q):
    """Voxels of a result map to leave blank: not significant at FDR level fdr_q.

    stats_paths: one statistics file; for the best-layer map, one per layer in config
    order (a voxel is kept when its best layer's R2 is significant; undefined best
    layer: blank).
    """
    from . import stats
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


# --------------------------------------------------------------------------- summaries
def summaries(prepared_path, layers, fit_paths, best_layer_path, pairs, partition_paths,
              out_layer_r2, out_counts, out_partition, nc_threshold=None, stats_paths=None,
              stats_partition_paths=None, fdr_q=0.05):
    """The per-ROI tables answering the reference's questions 1, 2, 4 and 6.

    nc_threshold (optional): also report R2 divided by the noise ceiling, over voxels
    whose noise ceiling (as a fraction) is at least the threshold.
    stats_paths / stats_partition_paths (optional, one per layer / pair): also report,
    per ROI, the number and fraction of voxels significant at FDR level fdr_q for each
    layer's R2 (n_significant, fraction_significant) and each pair's unique A and
    unique B (n_significant_unique_a, fraction_significant_unique_a, ..._unique_b).
    """
    import pandas as pd
    from . import stats
    prep = read_h5(prepared_path)
    rois, members, nc = list(prep["roi_names"]), prep["roi_members"], prep["noise_ceiling"]
    rows = []
    for li, (layer, path) in enumerate(zip(layers, fit_paths)):
        r2 = read_h5(path, ["r2"])["r2"]
        sig = None if stats_paths is None else stats.significant(read_h5(stats_paths[li], ["q_r2"])["q_r2"], fdr_q)
        for roi, m in zip(rois, members):
            row = {"roi": roi, "layer": layer, **partition.describe(r2[m])}
            if nc_threshold is not None:
                keep = m & (nc >= nc_threshold) & (nc > 0)
                d = partition.describe(r2[keep] / nc[keep])
                row.update({f"{k}_r2_over_nc": v for k, v in d.items()})
            if sig is not None:
                row.update(_significance_counts(sig, m & ~np.isnan(r2)))
            rows.append(row)
    _write_tsv(pd.DataFrame(rows), out_layer_r2)

    best = read_h5(best_layer_path, ["best_layer"])["best_layer"]
    counts = [{"roi": roi, "layer": layer, "count": int(np.sum(best[m] == li)),
               "n_undefined": int(np.sum(best[m] == partition.UNDEFINED_LAYER))}
              for roi, m in zip(rois, members) for li, layer in enumerate(layers)]
    _write_tsv(pd.DataFrame(counts), out_counts)

    prow = []
    for pi, ((a, b), path) in enumerate(zip(pairs, partition_paths)):
        d = read_h5(path)
        sig = None
        if stats_partition_paths is not None:
            st = read_h5(stats_partition_paths[pi], ["q_unique_a", "q_unique_b"])
            sig = {k: stats.significant(st[f"q_{k}"], fdr_q) for k in ("unique_a", "unique_b")}
        for roi, m in zip(rois, members):
            row = {"roi": roi, "pair": layout.model_name((a, b)), "layer_a": a, "layer_b": b,
                   "n_voxels": int((m & ~np.isnan(d["r2_joint"])).sum())}
            row["n_undefined"] = int(np.isnan(d["r2_joint"][m]).sum())
            for key in layout.PARTITION_KINDS:
                desc = partition.describe(d[key][m])
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
    _write_tsv(pd.DataFrame(prow, columns=columns), out_partition)   # header only when no pairs


def _significance_counts(sig, member):
    """Number and fraction of an ROI's voxels (those with a defined R2) that are significant."""
    n = int(member.sum())
    k = int((sig & member).sum())
    return {"n_significant": k, "fraction_significant": k / n if n else float("nan")}


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
    from . import cortex_store, maps, palette
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
