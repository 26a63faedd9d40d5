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
    """Index of the best layer per voxel (np.argmax, as the reference) and its R2.

    Where any layer's R2 is undefined (NaN: the voxel is constant over the validation
    images), or where two or more layers share the highest R2 exactly (a voxel constant
    over the training images, which every model predicts by its mean; the same features
    twice), the best layer is UNDEFINED_LAYER (-1) and its R2 NaN, never a layer: the
    reference's argmax would name the first of the tied layers.

    Parameters
    ----------
    r2_by_layer : sequence of m ndarray [V], float
        Validation R2 of each layer's model, in layer order.

    Returns
    -------
    best : ndarray [V], int64
        Position of the best layer in ``r2_by_layer``; UNDEFINED_LAYER (-1) where any
        layer's R2 is NaN or the highest R2 is tied.
    best_r2 : ndarray [V], float
        Its R2; NaN where ``best`` is UNDEFINED_LAYER.
    """
    stack = np.stack(r2_by_layer, axis=0)
    filled = np.where(np.isnan(stack), -np.inf, stack)
    best = np.argmax(filled, axis=0)
    best_r2 = np.take_along_axis(stack, best[None], axis=0)[0]
    tied = (filled == filled.max(axis=0)).sum(axis=0) > 1
    undefined = np.isnan(stack).any(axis=0) | tied
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


# ------------------------------------------------------------------ rounding level
# Unit roundoff of the precision the inputs (betas and features) are stated in.
INPUT_UNIT_ROUNDOFF = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}
ROUNDING_FACTOR = 4.0     # as stats.ROUNDING_FACTOR: the bootstrap's bound on a sum of n products


def rounding_bound(precision: str, n_val: int, coef_abs_sum: float = 1.0) -> float:
    """Magnitude (R2 units, fraction of variance) at or below which a value that is a
    combination sum_m c_m R2_m of validation R2s (a layer's R2: coef_abs_sum 1; a unique
    part: 2; shared variance: 3) is not resolved: shown as ~0 in tables and 0 in figures.

    The larger of two bounds, each per unit of 1 - R2 = SSres/SStot (taken as 1: the
    values in question are R2s near 0):
    - arithmetic: R2 is computed in float64 from sums over the n_val validation images,
      each with a relative error of at most about n_val eps64; ROUNDING_FACTOR n_val eps64
      sum|c_m| is the bound the bootstrap uses (``stats``) for "component > 0";
    - inputs: betas and features are stated to ``precision`` (float32 by default, unit
      roundoff u = 2^-24); rounding every validation response by u moves SSres and SStot
      by up to 2u each relative to themselves, so an R2 near 0 moves by up to 4u, and a
      combination by 4u sum|c_m|: a difference of R2s smaller than that is below what the
      inputs resolve (two runs that round the inputs differently can disagree on its sign).
    With float32 inputs and a unique part: 4 * 2^-24 * 2 = 4.8e-7; with float64 inputs and
    300 validation images: 4 * 300 * 2^-52 * 2 = 5.3e-13.
    """
    eps64 = float(2.0 ** -52)
    arithmetic = ROUNDING_FACTOR * int(n_val) * eps64 * coef_abs_sum
    inputs = ROUNDING_FACTOR * INPUT_UNIT_ROUNDOFF[precision] * coef_abs_sum
    return max(arithmetic, inputs)


# sum |c_m| of each value the summaries report, in R2s of single and joint models
COEF_ABS_SUM = {"r2": 1.0, "r2_joint": 1.0, "unique_a": 2.0, "unique_b": 2.0, "shared": 3.0}


def at_rounding_level(value, bound) -> bool:
    """Whether a (finite) value is no larger in magnitude than its rounding bound."""
    return value is not None and np.isfinite(value) and abs(float(value)) <= bound


def zero_rounding(values, bound):
    """Values (scalar or array) with those no larger in magnitude than the bound set to 0
    (NaN stays NaN): what the figures draw."""
    v = np.asarray(values, dtype=np.float64)
    out = np.where(np.abs(v) <= bound, 0.0, v)
    return float(out) if out.ndim == 0 else out
