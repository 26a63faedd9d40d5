"""Benjamini-Hochberg q-values and the workflow's one definition of "significant".

numpy only (no torch, no scipy: importing scipy.stats costs a statistics job ~1.5 s),
so that the jobs that compute or only read statistics start quickly; ``stats``
re-exports both.
"""
from __future__ import annotations

import numpy as np


def bh_q_values(p) -> np.ndarray:
    """Benjamini-Hochberg q-values of a map's p-values.

    The same arithmetic as scipy.stats.false_discovery_control(method='bh'), step for
    step (sort, p * m / rank, running minimum from the largest p, back to the voxels'
    order, clip to [0, 1]; bitwise equal, tests/test_stats.py), across all non-NaN
    p-values of the map; NaN p-values stay NaN and do not count.

    Parameters
    ----------
    p : array-like [any shape]
        p-values in [0, 1] (NaN: undefined voxel).

    Returns
    -------
    ndarray [same shape as p], float64
        q-values; NaN where p is NaN.

    Raises
    ------
    ValueError
        A p-value outside [0, 1].
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    ps = p[ok]
    if not np.all((ps >= 0) & (ps <= 1)):
        raise ValueError("p-values must lie in [0, 1]")
    m = ps.size
    if m <= 1:
        q[ok] = ps
        return q
    order = np.argsort(ps)
    ranked = ps[order] * (m / np.arange(1, m + 1, dtype=np.float64))
    np.minimum.accumulate(ranked[::-1], out=ranked[::-1])
    out = np.empty(m)
    out[order] = ranked
    q[ok] = np.clip(out, 0.0, 1.0)
    return q


def significant(q_values, values, level: float = 0.05) -> np.ndarray:
    """The one definition of "significant": a positive value that the test rejects.

    Every count, table and map mask of the workflow calls this: q_value <= level AND
    value > 0. The permutation test of R2 rejects "the predictions carry no
    information", not "R2 <= 0": predictions correlated with the responses but offset
    or mis-scaled reject it with R2 < 0 (on the test demo about 1 in 9 of the voxels it
    rejects), and those are not called significant. For a bootstrap component the
    one-sided p-value already needs nearly every bootstrap value above 0, so its
    rejections have an estimate > 0 in practice (all of them on the test demo); the
    condition makes it hold by construction. The statistics files keep the raw p- and
    q-values.

    Parameters
    ----------
    q_values : array-like [V]
        BH q-values of one map (NaN: undefined voxel).
    values : array-like [V]
        What was tested, per voxel: the R2 (permutation test) or the component (bootstrap).
    level : float
        FDR level (``stats.fdr_q``).

    Returns
    -------
    ndarray [V] bool
        True where q_value <= level and value > 0; False where either is NaN.

    Raises
    ------
    ValueError
        q_values and values of different shapes.
    """
    qv = np.asarray(q_values, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if qv.shape != v.shape:
        raise ValueError(f"q-values have shape {qv.shape}, values {v.shape}")
    with np.errstate(invalid="ignore"):
        return (np.nan_to_num(qv, nan=np.inf) <= level) & (np.nan_to_num(v, nan=-np.inf) > 0)
