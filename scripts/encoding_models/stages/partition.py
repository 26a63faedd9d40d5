"""Stages of partition.smk: variance partition of each pair, commonality components of each
partition set, and the best layer per voxel."""
from __future__ import annotations

import logging

import numpy as np

from .. import commonality, comparisons
from ..io import read_h5, write_h5

log = logging.getLogger("encoding_models")


def partition_pair(fit_a, fit_b, fit_ab, out_path):
    a, b, ab = (read_h5(p, ["r2", "voxel_index"]) for p in (fit_a, fit_b, fit_ab))
    if not (np.array_equal(a["voxel_index"], ab["voxel_index"]) and np.array_equal(b["voxel_index"], ab["voxel_index"])):
        raise ValueError(f"{fit_ab}: voxel_index differs from its layers' fits; rerun the fits")
    parts = comparisons.variance_partition(a["r2"], b["r2"], ab["r2"])
    write_h5(out_path, {**parts, "voxel_index": ab["voxel_index"]})


def set_subsets(layers, fit_paths, out_path):
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
    subsets = set_subsets(layers, fit_paths, out_path)
    fits = [read_h5(p, ["r2", "voxel_index"]) for p in fit_paths]
    for path, f in zip(fit_paths, fits):
        if not np.array_equal(f["voxel_index"], fits[-1]["voxel_index"]):
            raise ValueError(f"{path}: voxel_index differs from the other fits of the set; rerun the fits")
    parts = commonality.commonality(layers, {s: f["r2"] for s, f in zip(subsets, fits)})
    write_h5(out_path, {**parts, "r2_full": fits[-1]["r2"], "voxel_index": fits[-1]["voxel_index"]},
             attrs={"layers": list(layers), "components": list(parts)})


def best_layer(fit_paths, layers, out_path):
    fits = [read_h5(p, ["r2", "voxel_index"]) for p in fit_paths]
    r2 = [f["r2"] for f in fits]
    best, best_r2 = comparisons.best_layer(r2)
    write_h5(out_path, {"best_layer": best, "best_r2": best_r2, "voxel_index": fits[0]["voxel_index"],
                        "layers": np.array(layers)})
    n_undefined = int((best == comparisons.UNDEFINED_LAYER).sum())
    n_nan = int(np.isnan(np.stack(r2)).any(axis=0).sum())
    log.info("best layer undefined in %d of %d voxels: %d with an undefined R2, %d with the highest R2 tied "
             "between layers", n_undefined, best.size, n_nan, n_undefined - n_nan)
