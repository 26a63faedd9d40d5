"""A model's design from its layers' parts: features [A B ... 1] with one intercept.

Each layer's crossprod file holds its z-scored features with the intercept as the last
column ([n x p_layer + 1]) and X'Y with the intercept's row last ([p_layer + 1 x V]). A
model of several layers keeps every layer's feature columns (rows of X'Y) in the order
of its layers, then the first layer's intercept. Concatenation only: the joined arrays
hold the layers' values exactly. Arrays in, arrays out; no file access.
"""
from __future__ import annotations

import numpy as np


def join_layers(parts, axis: int) -> np.ndarray:
    """Join the layers' arrays along ``axis``, keeping one intercept (the first layer's).

    Parameters
    ----------
    parts : sequence of ndarray
        One array per layer, the intercept last along ``axis``: features
        [n x p_layer + 1] (axis=1) or X'Y [p_layer + 1 x V] (axis=0).
    axis : int
        1 for features (columns), 0 for X'Y (rows).

    Returns
    -------
    ndarray
        [n x sum(p_layer) + 1] (axis=1) or [sum(p_layer) + 1 x V] (axis=0).
    """
    def take(a, sl):
        return a[(slice(None),) * axis + (sl,)]
    return np.concatenate([take(a, slice(None, -1)) for a in parts] + [take(parts[0], slice(-1, None))], axis=axis)


def band_slices(n_features) -> list:
    """The column slice of each layer (band) in the joined design.

    Parameters
    ----------
    n_features : sequence of int
        Feature columns of each layer, without the intercept.

    Returns
    -------
    list of slice
        One slice per layer, in order; the intercept (last column) is in none of them.
    """
    ends = np.cumsum(n_features)
    starts = np.concatenate([[0], ends[:-1]])
    return [slice(int(a), int(b)) for a, b in zip(starts, ends)]
