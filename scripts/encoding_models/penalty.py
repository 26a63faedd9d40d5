"""The ridge penalty grid: the reference's 20 lambdas, and checks of a user's grid.

No torch import: the workflow checks the grid while it parses the config.
"""
from __future__ import annotations

import numpy as np


def reference_lambdas(n_lambdas: int = 20) -> np.ndarray:
    """The reference's grid: float32 logspace from 1e-4 to 1e10+0.01, minus 0.01.

    Its first values are slightly negative (about -0.0099); they are kept as they are.
    Returned as float64 holding the float32 values exactly (as torch sees them).

    Parameters
    ----------
    n_lambdas : int
        Grid size (the reference uses 20).

    Returns
    -------
    ndarray [n_lambdas], float64
        Ascending.
    """
    grid = np.logspace(np.log(0.0001), np.log(10**10 + 0.01), n_lambdas,
                       dtype=np.float32, base=np.e) - 0.01
    return grid.astype(np.float64)


def banded_reference_lambdas(n_lambdas: int = 20) -> np.ndarray:
    """The grid of overall scales that ``ridge.joint: banded`` uses for ``lambdas: reference``.

    The reference's grid is meant as 20 values log-spaced over 1e-4..1e10; its float32
    ``- 0.01`` shift makes the first values slightly negative. A band's lambda is the
    overall scale times a band multiplier (up to sqrt(max ratio) = 100 with the default
    ratios), so those negative values would become penalties of about -1, which can make
    X'X + Lambda indefinite. This grid is the unshifted one: 10**linspace(-4, 10, 20), all
    positive; above 1 it differs from the reference's by at most 0.4 % (relative; the
    0.01 shift below about 1e5, float32 rounding of the reference's values above).

    Parameters
    ----------
    n_lambdas : int
        Grid size.

    Returns
    -------
    ndarray [n_lambdas], float64
        Ascending, from 1e-4 to 1e10.
    """
    return np.logspace(-4.0, 10.0, n_lambdas, dtype=np.float64)


def parse_lambdas(values) -> list:
    """A config's lambda list as floats.

    YAML (1.1, as PyYAML reads it) takes ``1e-3`` without a decimal point for a string;
    such strings are accepted as numbers.

    Parameters
    ----------
    values : sequence
        Numbers or numeric strings (booleans are refused).

    Returns
    -------
    list of float
        In the given order; not checked (see :func:`check_lambdas`).

    Raises
    ------
    ValueError
        An entry is not a number.
    """
    out = []
    for k, v in enumerate(values):
        if isinstance(v, bool):
            raise ValueError(f"lambda grid position {k} is {v!r}, not a number")
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise ValueError(f"lambda grid position {k} is {v!r}, not a number") from None
    return out


def check_lambdas(lambdas) -> np.ndarray:
    """Return the grid as a 1-D float64 array, or raise ValueError saying what is wrong.

    A ridge penalty must keep X'X + lambda I positive definite. The reference's own grid
    starts slightly below zero (about -0.0099, float32 rounding of 1e-4 - 0.01); those
    values are accepted, anything more negative is refused: it can make X'X + lambda I
    indefinite and the 'best' lambda then fits noise without bound.

    Parameters
    ----------
    lambdas : array-like [n_lambdas]
        The grid, in any order (positions are the indices fits report).

    Returns
    -------
    ndarray [n_lambdas], float64

    Raises
    ------
    ValueError
        Not 1-D, empty, non-finite values, or values below the reference grid's smallest.
    """
    grid = np.asarray(lambdas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"lambda grid must be a non-empty list of numbers, got shape {grid.shape}")
    bad = ~np.isfinite(grid)
    if bad.any():
        raise ValueError(f"lambda grid has non-finite values at positions {np.flatnonzero(bad).tolist()}")
    floor = reference_lambdas().min()
    low = np.flatnonzero(grid < floor)
    if low.size:
        raise ValueError(f"lambda grid values {grid[low].tolist()} are below {floor:.6g}, the reference grid's "
                         "smallest: a ridge penalty must be >= 0 (the reference's tiny negative values are the "
                         "only exception), or X'X + lambda I can be indefinite")
    return grid
