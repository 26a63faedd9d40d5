"""Commonality analysis (encoding_models.commonality) against the pair partition."""
import numpy as np
import pytest

from encoding_models import commonality, comparisons


def random_r2(layers, n_vox=50, seed=0):
    rng = np.random.default_rng(seed)
    return {s: rng.uniform(-0.1, 0.6, n_vox) for s in commonality.subsets(layers)}


def test_pair_equals_variance_partition():
    r2 = random_r2(["Conv1", "Conv3"])
    comp = commonality.commonality(["Conv1", "Conv3"], r2)
    vp = comparisons.variance_partition(r2[("Conv1",)], r2[("Conv3",)], r2[("Conv1", "Conv3")])
    assert set(comp) == {"unique_Conv1", "unique_Conv3", "common_Conv1+Conv3"}
    assert np.allclose(comp["unique_Conv1"], vp["unique_a"], rtol=0, atol=1e-15)
    assert np.allclose(comp["unique_Conv3"], vp["unique_b"], rtol=0, atol=1e-15)
    assert np.allclose(comp["common_Conv1+Conv3"], vp["shared"], rtol=0, atol=1e-15)


@pytest.mark.parametrize("layers", [["Conv1", "Conv3", "Conv5"], ["Conv1", "Conv2", "Conv4", "FC6"]])
def test_components_sum_to_full_r2(layers):
    r2 = random_r2(layers, seed=len(layers))
    comp = commonality.commonality(layers, r2)
    assert len(comp) == 2 ** len(layers) - 1
    assert np.allclose(sum(comp.values()), r2[tuple(layers)], rtol=0, atol=1e-14)
    assert np.allclose(comp[f"unique_{layers[0]}"], r2[tuple(layers)] - r2[tuple(layers[1:])])


def test_three_set_formula_and_names():
    layers = ["Conv1", "Conv3", "Conv5"]
    coef = commonality.commonality_coefficients(layers)
    assert list(coef) == ["unique_Conv1", "unique_Conv3", "unique_Conv5", "common_Conv1+Conv3",
                          "common_Conv1+Conv5", "common_Conv3+Conv5", "common_Conv1+Conv3+Conv5"]
    A, B, C = (("Conv1",), ("Conv3",), ("Conv5",))
    AB, AC, BC, ABC = ("Conv1", "Conv3"), ("Conv1", "Conv5"), ("Conv3", "Conv5"), tuple(layers)
    # textbook commonality for three predictors (e.g. Seibold & McPhee 1979)
    assert coef["common_Conv1+Conv3"] == {AC: 1, BC: 1, C: -1, ABC: -1}
    assert coef["common_Conv1+Conv3+Conv5"] == {A: 1, B: 1, C: 1, AB: -1, AC: -1, BC: -1, ABC: 1}
    # keys in any order, as frozensets
    r2 = {frozenset(k): v for k, v in random_r2(layers[::-1], seed=7).items()}
    comp = commonality.commonality(layers, r2)
    assert np.allclose(comp["common_Conv1+Conv3+Conv5"],
                       sum(c * r2[frozenset(k)] for k, c in coef["common_Conv1+Conv3+Conv5"].items()))


def test_bootstrap_linearity_and_bad_inputs():
    layers = ["a", "b", "c"]
    coef = commonality.commonality_coefficients(layers)
    # a matrix [components x models] applied to resampled R2s gives resampled components
    models = commonality.subsets(layers)
    mat = np.array([[coef[n].get(s, 0) for s in models] for n in coef])
    r2 = random_r2(layers, seed=9)
    comp = commonality.commonality(layers, r2)
    assert np.allclose(mat @ np.stack([r2[s] for s in models]), np.stack(list(comp.values())))
    with pytest.raises(ValueError, match="missing"):
        commonality.commonality(layers, {k: v for k, v in r2.items() if k != ("a", "c")})
    with pytest.raises(ValueError, match="2..4"):
        commonality.subsets(["a"])
    with pytest.raises(ValueError, match="twice"):
        commonality.subsets(["a", "a"])


def test_exact_partition_of_nested_models():
    """Responses built from orthogonal pieces: each piece shows up in its own component."""
    # R2 of a subset model = sum of the variance of the pieces that any of its layers carries
    pieces = {frozenset(s): v for s, v in zip(
        [("A",), ("B",), ("C",), ("A", "B"), ("A", "C"), ("B", "C"), ("A", "B", "C")],
        [0.10, 0.05, 0.02, 0.07, 0.01, 0.03, 0.2])}
    layers = ["A", "B", "C"]
    r2 = {s: np.array([sum(v for p, v in pieces.items() if p & set(s))])
          for s in commonality.subsets(layers)}
    comp = commonality.commonality(layers, r2)
    for p, v in pieces.items():
        assert np.isclose(comp[commonality.component_name(p, layers)][0], v)
    assert commonality.subsets(layers)[-1] == ("A", "B", "C")
