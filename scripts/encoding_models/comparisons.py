"""Variance partitioning, best layer and ROI summaries (pure array functions)."""
from __future__ import annotations

import numpy as np


def variance_partition(r2_a, r2_b, r2_ab) -> dict:
    """Unique and shared variance of a layer pair, with the reference's formulas.

    unique_a = R2_AB - R2_B, unique_b = R2_AB - R2_A, shared = R2_AB - unique_a - unique_b
    (= R2_A + R2_B - R2_AB), so unique_a + unique_b + shared == R2_AB to rounding.

    Parameters
    ----------
    r2_a, r2_b : ndarray [V]
        Validation R2 of the single-layer models A and B.
    r2_ab : ndarray [V]
        Validation R2 of the joint model AB.

    Returns
    -------
    dict of str to ndarray [V]
        'unique_a', 'unique_b', 'shared' and 'r2_joint' (r2_ab itself). NaN wherever an
        input R2 is NaN (undefined).
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

    Parameters
    ----------
    r2_by_layer : sequence of m ndarray [V], float
        Validation R2 of each layer's model, in layer order.

    Returns
    -------
    best : ndarray [V], int64
        Position of the best layer in ``r2_by_layer``; UNDEFINED_LAYER (-1) where any
        layer's R2 is NaN.
    best_r2 : ndarray [V], float
        Its R2; NaN where ``best`` is UNDEFINED_LAYER.
    """
    stack = np.stack(r2_by_layer, axis=0)
    undefined = np.isnan(stack).any(axis=0)
    best = np.argmax(np.where(np.isnan(stack), -np.inf, stack), axis=0)
    best_r2 = np.take_along_axis(stack, best[None], axis=0)[0]
    best[undefined] = UNDEFINED_LAYER
    best_r2[undefined] = np.nan
    return best, best_r2


def describe(values) -> dict:
    """Summary of a map: count of defined and undefined values, min, median, max.

    n_voxels (defined values), n_undefined (NaN), min, median, max of the defined values
    of a 1-D array (NaN statistics only where no value is defined).

    Parameters
    ----------
    values : array-like [V]
        A map; NaN marks undefined voxels.

    Returns
    -------
    dict
        'n_voxels', 'n_undefined' (int); 'min', 'median', 'max' (float, NaN where no value
        is defined).

    Raises
    ------
    ValueError
        A value is infinite.
    """
    values = np.asarray(values, dtype=np.float64)
    if np.isinf(values).any():
        raise ValueError("infinite values cannot be summarised")
    defined = values[~np.isnan(values)]
    out = {"n_voxels": int(defined.size), "n_undefined": int(values.size - defined.size)}
    if defined.size == 0:
        return {**out, "min": np.nan, "median": np.nan, "max": np.nan}
    return {**out, "min": float(np.min(defined)), "median": float(np.median(defined)),
            "max": float(np.max(defined))}
