"""Variance partitioning, best layer and ROI summaries (pure array functions)."""
from __future__ import annotations

import numpy as np


def variance_partition(r2_a, r2_b, r2_ab) -> dict:
    """Unique and shared variance of a layer pair, with the reference's formulas.

    unique_a = R2_AB - R2_B, unique_b = R2_AB - R2_A, shared = R2_AB - unique_a - unique_b
    (= R2_A + R2_B - R2_AB), so unique_a + unique_b + shared == R2_AB to rounding.
    """
    unique_a = r2_ab - r2_b
    unique_b = r2_ab - r2_a
    shared = r2_ab - unique_a - unique_b
    return {"unique_a": unique_a, "unique_b": unique_b, "shared": shared, "r2_joint": r2_ab}


UNDEFINED_LAYER = -1


def best_layer(r2_by_layer) -> tuple:
    """Index of the best layer per voxel (first on ties, like np.argmax) and its R2.

    Where any layer's R2 is undefined (NaN: the voxel is constant over the validation
    images), the best layer is UNDEFINED_LAYER (-1) and its R2 NaN, never a layer.
    """
    stack = np.stack(r2_by_layer, axis=0)
    undefined = np.isnan(stack).any(axis=0)
    best = np.argmax(np.where(np.isnan(stack), -np.inf, stack), axis=0)
    best_r2 = np.take_along_axis(stack, best[None], axis=0)[0]
    best[undefined] = UNDEFINED_LAYER
    best_r2[undefined] = np.nan
    return best, best_r2


def describe(values) -> dict:
    """n (defined values), n_undefined (NaN), min, median, max of the defined values of a
    1-D array (NaN statistics only where no value is defined)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isinf(values).any():
        raise ValueError("infinite values cannot be summarised")
    defined = values[~np.isnan(values)]
    out = {"n_voxels": int(defined.size), "n_undefined": int(values.size - defined.size)}
    if defined.size == 0:
        return {**out, "min": np.nan, "median": np.nan, "max": np.nan}
    return {**out, "min": float(np.min(defined)), "median": float(np.median(defined)),
            "max": float(np.max(defined))}
