"""Commonality analysis: variance partitioning of a set of 2..4 layers (pure functions).

For a set L of m layers with R2 of every non-empty subset model, the component of a
subset S of L (the variance explained by exactly the layers in S and no others) is

    C_S = (-1)^(|S|+1) * sum_{T subset of S} (-1)^|T| * R2(L minus T),   R2(empty) = 0.

C_{A} = R2(L) - R2(L minus A) is layer A's unique part; C_L is the part common to all
layers; and the 2^m - 1 components sum to R2(L). For two layers they are
comparisons.variance_partition's unique_a, unique_b and shared.

Components are named by the layers they belong to, in the order of ``layers``:
'unique_Conv1' for one layer, 'common_Conv1+Conv3' for two or more.
Each component is a linear combination of subset-model R2s with coefficients +1 or -1
(:func:`commonality_coefficients`), so resampled R2s (bootstrap) give resampled
components by the same combination.
"""
from __future__ import annotations

import itertools

import numpy as np

MIN_LAYERS, MAX_LAYERS = 2, 4


def _check_layers(layers) -> list:
    layers = list(layers)
    if not MIN_LAYERS <= len(layers) <= MAX_LAYERS:
        raise ValueError(f"a partition set has {MIN_LAYERS}..{MAX_LAYERS} layers, got {len(layers)}: {layers}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"a partition set lists a layer twice: {layers}")
    return layers


def subsets(layers) -> list:
    """Every non-empty subset of layers: the 2^m - 1 models to fit.

    Each subset is a tuple in the order of ``layers``; subsets come by size then position
    (singles first, the full set last).

    Parameters
    ----------
    layers : sequence of str
        2..4 distinct layer names.

    Returns
    -------
    list of tuple of str
        2^m - 1 subsets (m = len(layers)).

    Raises
    ------
    ValueError
        Fewer than 2 or more than 4 layers, or a layer listed twice.
    """
    layers = _check_layers(layers)
    return [c for k in range(1, len(layers) + 1) for c in itertools.combinations(layers, k)]


def component_name(subset, layers) -> str:
    """'unique_A' for one layer, 'common_A+B[+...]' for several (order of ``layers``).

    Parameters
    ----------
    subset : iterable of str
        The component's layers (any order).
    layers : sequence of str
        The partition set's layers, which fix the order in the name.

    Returns
    -------
    str
    """
    members = [l for l in layers if l in set(subset)]
    return f"unique_{members[0]}" if len(members) == 1 else "common_" + "+".join(members)


def commonality_coefficients(layers) -> dict:
    """{component name: {subset tuple: coefficient}}: C = sum coefficient * R2(subset).

    Subset tuples are in the order of ``layers``; terms with coefficient 0 are left out
    (R2(empty) = 0 never appears). Components are in the order of :func:`subsets`.

    Parameters
    ----------
    layers : sequence of str
        2..4 distinct layer names.

    Returns
    -------
    dict of str to dict of tuple to int
        2^m - 1 components, each mapping subset models to coefficients +1 or -1.
    """
    layers = _check_layers(layers)
    full = frozenset(layers)
    out = {}
    for s in subsets(layers):
        coef = {}
        for k in range(len(s) + 1):
            for t in itertools.combinations(s, k):
                rest = full - frozenset(t)
                if rest:
                    key = tuple(l for l in layers if l in rest)
                    coef[key] = coef.get(key, 0) + (-1) ** (len(s) + 1) * (-1) ** len(t)
        out[component_name(s, layers)] = {key: c for key, c in coef.items() if c != 0}
    return out


def commonality(layers, r2_by_subset) -> dict:
    """Commonality components {name: array} from the R2 of every non-empty subset model.

    r2_by_subset: {subset: array [V]} with subsets given as frozensets or tuples of layer
    names (any order); every non-empty subset of ``layers`` is needed. The components
    (2^m - 1 of them, named as in :func:`component_name`) sum to R2(all layers) to
    rounding.

    Parameters
    ----------
    layers : sequence of str
        2..4 distinct layer names.
    r2_by_subset : mapping of frozenset or tuple of str to array-like [V]
        Validation R2 of every non-empty subset model (extra entries are ignored).

    Returns
    -------
    dict of str to ndarray [V], float64
        One map per component, in the order of :func:`subsets`; NaN wherever an R2 it
        combines is NaN (undefined).

    Raises
    ------
    ValueError
        A subset model's R2 is missing, or ``layers`` is not 2..4 distinct names.
    """
    layers = _check_layers(layers)
    r2 = {frozenset(k): np.asarray(v, dtype=np.float64) for k, v in r2_by_subset.items()}
    missing = [s for s in subsets(layers) if frozenset(s) not in r2]
    if missing:
        raise ValueError(f"R2 of subset models missing: {['+'.join(s) for s in missing]}")
    return {name: sum(c * r2[frozenset(key)] for key, c in coef.items())
            for name, coef in commonality_coefficients(layers).items()}
