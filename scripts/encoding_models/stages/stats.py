"""Stages of stats.smk: permutation p-values of every model's R2 and paired-bootstrap intervals
and p-values of every pair's and partition set's components, with BH q-values per map.
Statistics never change a fit."""
from __future__ import annotations

import contextlib
import logging

import numpy as np

from .. import commonality, layout, responses
from ..io import read_h5, write_h5
from .fit import read_design
from .partition import set_subsets

log = logging.getLogger("encoding_models")


def _val_predictions(fit_path, crossprod_paths, voxel_index, device, files):
    """Validation predictions of a fitted model as a callable over voxel slices
    (x_val @ weights, made block by block, never all at once). The weights are read from
    the fit file one voxel slice at a time: a statistics job predicts for many models (the
    20th of 20 layers: 39), whose [p x V] weights together would take GBs at NSD size.
    files: a contextlib.ExitStack that keeps the fit file open while the callable is used."""
    import h5py
    import torch
    f = files.enter_context(h5py.File(fit_path, "r"))
    if "weights" not in f or "voxel_index" not in f:
        raise ValueError(f"{fit_path}: no weights or voxel_index; rerun the fit")
    if not np.array_equal(f["voxel_index"][()], voxel_index):
        raise ValueError(f"{fit_path}: voxel_index differs from prepared.h5; rerun the fits")
    x = torch.as_tensor(read_design(crossprod_paths, ("x_val",))["x_val"], dtype=torch.float64, device=device)
    w = f["weights"]
    if w.ndim != 2 or w.shape != (x.shape[1], voxel_index.size):
        raise ValueError(f"{fit_path}: weights have shape {w.shape}, the design {x.shape[1]} columns and "
                         f"{voxel_index.size} voxels; rerun the fit")
    return lambda sl: x @ torch.as_tensor(w[:, sl], dtype=torch.float64, device=device)


def _val_responses(val_path):
    """Validation responses [n_val x V], as the fits read them (prepare's split file)."""
    return responses.SplitResponses(val_path)[:, :]


def _write_model(model, res, n_permutations, seed, n_val, voxel_index, out_path):
    """One model's statistics file: p_r2, q_r2 (BH across the map's voxels), r2."""
    from .. import stats
    q = stats.bh_q_values(res.p)
    write_h5(out_path, {"p_r2": res.p, "q_r2": q, "r2": res.r2, "voxel_index": voxel_index},
             attrs={"model": model, "n_permutations": res.n_permutations,
                    "n_permutations_requested": n_permutations, "seed": seed, "n_val": n_val})
    log.info("%s: %d permutations (%d requested, %d validation images); %d of %d voxels with p < 0.05, "
             "%d with q <= 0.05 and R2 > 0", model, res.n_permutations, n_permutations, n_val,
             int(np.nansum(res.p < 0.05)), res.p.size, int(stats.significant(q, res.r2, 0.05).sum()))


def _write_pair(a, b, res, n_boot, seed, n_val, voxel_index, out_path):
    """One pair's statistics file: intervals of unique A, unique B and shared, one-sided
    p-values of unique A > 0 and unique B > 0 and their BH q-values."""
    from .. import stats
    out = {key: res[key] for key in ("p_unique_a", "p_unique_b", "unique_a_ci", "unique_b_ci", "shared_ci")}
    out["q_unique_a"] = stats.bh_q_values(res["p_unique_a"])
    out["q_unique_b"] = stats.bh_q_values(res["p_unique_b"])
    write_h5(out_path, {**out, "voxel_index": voxel_index},
             attrs={"pair": layout.model_name((a, b)), "layer_a": a, "layer_b": b, "n_bootstrap": int(n_boot),
                    "seed": seed, "confidence": 0.95, "n_val": n_val})
    log.info("%s+%s: %d bootstrap samples; unique %s significant (q <= 0.05, > 0) in %d voxels, unique %s in %d",
             a, b, n_boot, a, int(stats.significant(out["q_unique_a"], res["unique_a"], 0.05).sum()), b,
             int(stats.significant(out["q_unique_b"], res["unique_b"], 0.05).sum()))


def stats_models_and_pairs(fits, crossprods, pairs, val_path, prepared_path, *, tested=None, n_permutations,
                           n_boot, seed, device, batch_size, model_outputs, pair_outputs, threads=None):
    """Permutation p-values of models' R2 and paired bootstraps of pairs' unique and shared
    variance in one pass (stats.model_statistics: the responses are read, and what the
    models share computed, once; each model's and pair's numbers are bitwise those it
    would get alone). Writes one file per tested model and one per pair; never changes a
    fit. The workflow runs one such job per layer (layout.jobs_by_layer).

    Parameters
    ----------
    fits : mapping of str to path
        Model name -> its fit: the tested models and the models of every pair.
    crossprods : mapping of str to path
        Layer -> its crossprod file (the validation design of every model's layers).
    pairs : sequence of (str, str)
        Layer pairs (A, B); the models A, B and A+B must be in ``fits``.
    val_path, prepared_path : path
        The validation responses and prepared.h5 (voxel_index).
    tested : sequence of str, optional
        The models whose R2 gets a permutation test (default: every model in ``fits``).
    n_permutations, n_boot, seed : int
        ``stats.permutations``, ``stats.bootstrap``, ``stats.seed``.
    device : str
    batch_size : int
    model_outputs : mapping of str to path
        Tested model -> its statistics file.
    pair_outputs : sequence of path
        One statistics file per pair, in the order of ``pairs``.
    threads : int, optional
    """
    from .. import runtime, stats
    runtime.configure_runtime(threads)
    dev = runtime.resolve_device(device)
    pairs = [tuple(p) for p in pairs]
    names = {p: layout.model_name(p) for p in pairs}
    tested = list(fits) if tested is None else list(tested)
    needed = tested + [m for p in pairs for m in (p[0], p[1], names[p])]
    missing = sorted(set(needed) - set(fits))
    if missing:
        raise ValueError(f"no fit given for models {missing}")
    prep = read_h5(prepared_path, ["voxel_index"])
    y = _val_responses(val_path)
    groups = stats.pair_groups({names[p]: (p[0], p[1], names[p]) for p in pairs})
    with contextlib.ExitStack() as files:
        preds = {m: _val_predictions(f, [crossprods[layer] for layer in layout.model_layers(m)],
                                     prep["voxel_index"], dev, files)
                 for m, f in fits.items()}
        perm, boot = stats.model_statistics(y, preds, tested=tested, groups=groups, n_permutations=n_permutations,
                                            n_boot=n_boot, seed=seed, batch_size=batch_size, device=dev)
    for m in tested:
        _write_model(m, perm[m], n_permutations, seed, y.shape[0], prep["voxel_index"], model_outputs[m])
    for p, out_path in zip(pairs, pair_outputs):
        _write_pair(p[0], p[1], stats.pair_result(boot[names[p]]), n_boot, seed, y.shape[0], prep["voxel_index"],
                    out_path)


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
    components = {name: {layout.model_name(k): float(c) for k, c in coef.items()}
                  for name, coef in commonality.commonality_coefficients(layers).items()}
    with contextlib.ExitStack() as files:
        preds = {layout.model_name(s): _val_predictions(f, [crossprods[layer] for layer in s], prep["voxel_index"],
                                                        dev, files)
                 for s, f in zip(subsets, fits)}
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
