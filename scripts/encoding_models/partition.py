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


def best_layer(r2_by_layer) -> tuple:
    """Index of the best layer per voxel (first on ties, like np.argmax) and its R2."""
    stack = np.stack(r2_by_layer, axis=0)
    best = np.argmax(stack, axis=0)
    return best, np.take_along_axis(stack, best[None], axis=0)[0]


def describe(values) -> dict:
    """n, min, median, max of a 1-D array (NaN where it is empty)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"n_voxels": 0, "min": np.nan, "median": np.nan, "max": np.nan}
    return {"n_voxels": int(values.size), "min": float(np.min(values)),
            "median": float(np.median(values)), "max": float(np.max(values))}
