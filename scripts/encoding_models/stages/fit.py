"""Stages of fit.smk: each layer's normalised features, their products with the responses and
the layer's own fit (fit_layer), and the ridge fits of several models in one process
(fit_models: a layer's pairs with the earlier layers, or a partition set's model)."""
from __future__ import annotations

import logging

import numpy as np

from .. import contract, design, layout, responses, splits
from ..io import read_h5, write_h5

log = logging.getLogger("encoding_models")


def crossprod(features_path, responses_paths, prepared_path, layer, precision, device, batch_size, out_path,
              threads=None):
    """Normalised features of one layer and their products with the responses.

    Writes x_trn/x_holdout/x_val ([n x p+1], intercept last, as float64 holding the
    configured precision) and xty_trn/xty_holdout ([p+1 x V]). Every fit that contains
    this layer reuses the products. responses_paths: split -> .npy (prepare's output).
    """
    from .. import ridge, runtime   # torch: imported by the jobs that compute with it, not by every stage
    runtime.configure_runtime(threads)
    prep = read_h5(prepared_path, ["n_images", "good_rows", "trn", "holdout", "val", "voxel_index"])
    f = contract.load_features(features_path, n_rows=int(prep["n_images"]))[prep["good_rows"]]
    fit_rows = prep["trn"] | prep["holdout"]
    contract.check_design(features_path, layer, splits.quantize(f[fit_rows], precision), int(prep["trn"].sum()))
    xs = [splits.quantize(x, precision).astype(np.float64)
          for x in splits.split_normalize(f, prep["trn"], prep["holdout"], prep["val"])]
    names = ("trn", "holdout", "val")
    contract.check_normalized(features_path, precision, dict(zip(names, xs)),
                              {s: prep["good_rows"][np.flatnonzero(prep[s])] for s in names})
    dev = runtime.resolve_device(device)
    y = {split: responses.SplitResponses(responses_paths[split]) for split in ("trn", "holdout")}
    xty_trn = ridge.cross_products(xs[0], y["trn"], batch_size=batch_size, device=dev)
    xty_holdout = ridge.cross_products(xs[1], y["holdout"], batch_size=batch_size, device=dev)
    write_h5(out_path, {"x_trn": xs[0], "x_holdout": xs[1], "x_val": xs[2],
                        "xty_trn": xty_trn, "xty_holdout": xty_holdout,
                        "voxel_index": prep["voxel_index"]},
             attrs={"layer": layer, "precision": precision})


def read_design(crossprod_paths, keys=("x_trn", "x_holdout", "x_val", "xty_trn", "xty_holdout")) -> dict:
    """A model's design and products from its layers' crossprod files (``design.join_layers``):
    the requested datasets joined ([A B ... 1], one intercept), and ``bands``, each layer's
    column slice."""
    parts = [read_h5(p, list(keys)) for p in crossprod_paths]
    out = {key: design.join_layers([d[key] for d in parts], axis=0 if key.startswith("xty") else 1) for key in keys}
    out["bands"] = design.band_slices([d[keys[0]].shape[1] - 1 for d in parts])
    return out


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
    from .. import ridge, runtime
    lambdas = ridge.check_lambdas(lambdas)
    runtime.configure_runtime(threads)
    prep = read_h5(prepared_path, ["voxel_index"])
    d = read_design(crossprod_paths)
    x_trn, x_holdout, x_val, xty_trn, xty_holdout, bands = (
        d[k] for k in ("x_trn", "x_holdout", "x_val", "xty_trn", "xty_holdout", "bands"))
    y = {split: responses.SplitResponses(responses_paths[split]) for split in responses.SPLITS}
    layers = layout.model_layers(model)
    attrs = {"model": model, "n_features": x_trn.shape[1] - 1, "intercept": intercept,
             "refit": refit, "precision": precision}
    is_banded = joint == "banded" and len(bands) > 1
    if is_banded:
        from .. import banded
        if intercept != "unpenalized" or refit:
            raise ValueError(f"{model}: banded ridge has an unpenalised intercept and no refit "
                             f"(got intercept={intercept!r}, refit={refit!r})")
        res = banded.fit_banded_ridge(x_trn, x_holdout, x_val, None, y["holdout"], y["val"], bands,
                                      lambdas, band_ratios, xty_trn=xty_trn, xty_holdout=xty_holdout,
                                      batch_size=batch_size, device=runtime.resolve_device(device))
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
                              batch_size=batch_size, device=runtime.resolve_device(device))
        write_h5(out_path, {"r2": res.r2, "best_lambda": res.best_lambda,
                            "best_lambda_index": res.best_index, "voxel_index": prep["voxel_index"],
                            "lambdas": lambdas, "weights": res.weights},
                 attrs={**attrs, "n_rescored": res.n_rescored})
    log.info("%s: %d voxels, median R2 %.4f, %d near-tie voxels re-scored%s", model, res.r2.size,
             np.nanmedian(res.r2), res.n_rescored, " (banded)" if is_banded else "")


def fit_layer(layer, features_path, responses_paths, prepared_path, *, ridge, device, batch_size,
              crossprod_path, fit_path, threads=None):
    """A layer's cross products (:func:`crossprod`), then its own fit (:func:`fit`) from them,
    in one process.

    ridge: the fit settings (``configuration.ridge_params``: lambdas, intercept, refit,
    precision).
    """
    crossprod(features_path, {s: responses_paths[s] for s in ("trn", "holdout")}, prepared_path, layer,
              ridge["precision"], device, batch_size, crossprod_path, threads=threads)
    fit(layer, [crossprod_path], responses_paths, prepared_path, **ridge, device=device, batch_size=batch_size,
        out_path=fit_path, threads=threads)


def fit_models(models, crossprods, responses_paths, prepared_path, *, ridge, device, batch_size, out_paths,
               threads=None):
    """Fit several models in one process (one Python and torch start), one after the other;
    each model's file is what :func:`fit` writes for it alone.

    crossprods: layer -> its crossprod file (every layer of every model); out_paths: one
    fit file per model, in the order of ``models``.
    """
    for model, out_path in zip(models, out_paths, strict=True):
        fit(model, [crossprods[layer] for layer in layout.model_layers(model)], responses_paths, prepared_path,
            **ridge, device=device, batch_size=batch_size, out_path=out_path, threads=threads)
