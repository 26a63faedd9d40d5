"""Stages of stats.smk: permutation p-values of every model's R2 and paired-bootstrap intervals
and p-values of every pair's and partition set's components, with BH q-values per map.
Statistics never change a fit."""
from __future__ import annotations

import logging

import numpy as np

from .. import commonality, layout, responses
from ..io import read_h5, write_h5
from .fit import read_design
from .partition import set_subsets

log = logging.getLogger("encoding_models")


def _val_predictions(fit_path, crossprod_paths, voxel_index, device):
    """Validation predictions of a fitted model as a callable over voxel slices
    (x_val @ weights, made block by block, never all at once)."""
    import torch
    fit_res = read_h5(fit_path, ["weights", "voxel_index"])
    if not np.array_equal(fit_res["voxel_index"], voxel_index):
        raise ValueError(f"{fit_path}: voxel_index differs from prepared.h5; rerun the fits")
    x = torch.as_tensor(read_design(crossprod_paths, ("x_val",))["x_val"], dtype=torch.float64, device=device)
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
    from .. import runtime, stats
    runtime.configure_runtime(threads)
    dev = runtime.resolve_device(device)
    prep = read_h5(prepared_path, ["voxel_index"])
    y = _val_responses(val_path)
    pred = _val_predictions(fit_path, crossprod_paths, prep["voxel_index"], dev)
    res = stats.permutation_test_r2(y, pred, n_permutations=n_permutations, seed=seed,
                                    batch_size=batch_size, device=dev)
    q = stats.bh_q_values(res.p)
    write_h5(out_path, {"p_r2": res.p, "q_r2": q, "r2": res.r2, "voxel_index": prep["voxel_index"]},
             attrs={"model": model, "n_permutations": res.n_permutations,
                    "n_permutations_requested": n_permutations, "seed": seed, "n_val": y.shape[0]})
    log.info("%s: %d permutations (%d requested, %d validation images); %d of %d voxels with p < 0.05, "
             "%d with q <= 0.05 and R2 > 0", model, res.n_permutations, n_permutations, y.shape[0],
             int(np.nansum(res.p < 0.05)), res.p.size, int(stats.significant(q, res.r2, 0.05).sum()))


def stats_partition(a, b, fits, crossprods, val_path, prepared_path, *, n_boot, seed, device,
                    batch_size, out_path, threads=None):
    """Paired bootstrap of a pair's unique and shared variance (stats.pair_bootstrap):
    95% percentile intervals, one-sided p-values of unique A > 0 and unique B > 0, BH
    q-values across the voxels of each map.

    fits: model -> fit path and crossprods: model -> its layers' crossprod paths, for the
    models 'a', 'b' and 'ab'.
    """
    from .. import runtime, stats
    runtime.configure_runtime(threads)
    dev = runtime.resolve_device(device)
    prep = read_h5(prepared_path, ["voxel_index"])
    y = _val_responses(val_path)
    preds = {m: _val_predictions(fits[m], crossprods[m], prep["voxel_index"], dev) for m in ("a", "b", "ab")}
    res = stats.pair_bootstrap(y, preds["a"], preds["b"], preds["ab"], n_boot=n_boot, seed=seed,
                               batch_size=batch_size, device=dev)
    out = {key: res[key] for key in ("p_unique_a", "p_unique_b", "unique_a_ci", "unique_b_ci", "shared_ci")}
    out["q_unique_a"] = stats.bh_q_values(res["p_unique_a"])
    out["q_unique_b"] = stats.bh_q_values(res["p_unique_b"])
    write_h5(out_path, {**out, "voxel_index": prep["voxel_index"]},
             attrs={"pair": layout.model_name((a, b)), "layer_a": a, "layer_b": b, "n_bootstrap": int(n_boot),
                    "seed": seed, "confidence": 0.95, "n_val": y.shape[0]})
    log.info("%s+%s: %d bootstrap samples; unique %s significant (q <= 0.05, > 0) in %d voxels, unique %s in %d",
             a, b, n_boot, a, int(stats.significant(out["q_unique_a"], res["unique_a"], 0.05).sum()), b,
             int(stats.significant(out["q_unique_b"], res["unique_b"], 0.05).sum()))


def stats_partition_set(layers, fits, crossprods, val_path, prepared_path, *, n_boot, seed, device,
                        batch_size, out_path, threads=None):
    """Paired bootstrap of every commonality component of a set of layers (the same
    resampling as stats_partition): per component ``<name>_ci`` (95% percentile interval),
    ``p_<name>`` (one-sided, component > 0) and ``q_<name>`` (BH across the map's voxels).

    fits: one fit path per subset model in commonality.subsets(layers) order;
    crossprods: layer -> its crossprod path.
    """
    from .. import runtime, stats
    runtime.configure_runtime(threads)
    dev = runtime.resolve_device(device)
    subsets = set_subsets(layers, fits, out_path)
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
        out[f"q_{name}"] = stats.bh_q_values(res.p_positive[name])
    write_h5(out_path, out, attrs={"layers": list(layers), "components": list(components), "n_bootstrap": int(n_boot),
                                   "seed": seed, "confidence": 0.95, "n_val": y.shape[0]})
    log.info("%s: %d bootstrap samples; significant (q <= 0.05, > 0): %s", layout.model_name(layers), n_boot,
             ", ".join(f"{n} {int(stats.significant(out[f'q_{n}'], res.estimate[n], 0.05).sum())}"
                       for n in components))
