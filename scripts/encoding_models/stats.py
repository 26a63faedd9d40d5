"""Per-voxel statistics of encoding models: permutation p-values of R2, bootstrap
intervals and p-values of variance-partition components, Benjamini-Hochberg FDR.

Pure functions: arrays in, arrays out, no file access. Heavy arithmetic runs in torch,
float64, on the given device; seeds go through numpy's default_rng, so the
permutations and bootstrap samples are the same on every device.

Permutation test of R2 (``permutation_test_r2``)
    The null pairs every response with the prediction of another validation image.
    SStot and sum(pred^2) do not change under a permutation, so
    R2_perm >= R2_obs  <=>  sum_i y_i pred_pi(i) >= sum_i y_i pred_i,
    and only the cross terms are needed. The permutations are the n cyclic shifts of a
    seeded random re-ordering of the validation images (the cyclic group conjugated by
    a random relabelling): for every voxel, the cross terms of all n shifts are one
    circular cross-correlation, computed with FFTs in O(n log n) instead of the
    O(n_permutations * n) of gathering permuted predictions. The test is exact
    (P(p <= alpha) <= alpha under the null that the pairing of images is exchangeable):
    a test that uses all elements of a group of permutations, or the identity plus a
    random sample of the other elements drawn without replacement, is exact (Hemerik &
    Goeman 2018, "Exact testing with random permutations", TEST 27:811-825); the random
    relabelling is independent of the data, so the test is exact given it, hence
    exact. The group has n elements, so at most n - 1 non-identity permutations exist:
    with n_permutations >= n - 1 the whole group is used and the effective number is
    n - 1 (returned). p = (1 + #{null >= observed}) / (1 + n_permutations).

Bootstrap of variance-partition components (``bootstrap_components``, ``pair_bootstrap``)
    A paired bootstrap over validation images (NSD's images are independent trials):
    every bootstrap sample is a vector of multinomial counts w (a row of W [B x n]),
    and for all voxels at once
        SSres_b = W @ r^2,   SStot_b = W @ y^2 - (W @ y)^2 / n,
    so a bootstrap costs a few GEMMs. A component is a linear combination of model
    R2s, sum_m c_m R2_m = sum_m c_m - (sum_m c_m W @ r_m^2) / SStot_b: W @ y and W @ y^2
    once, then one GEMM per model, whatever number of components or pairs use it. A
    pair (unique_a, unique_b, shared) alone costs 5 GEMMs of [B x n] @ [n x V] (about
    2e11 multiply-adds at B = n = 1000, V = 40,000); the k-th layer's k - 1 pairs
    together (``model_statistics``, one workflow job per layer) 2 + (2k - 1) instead of
    5(k - 1): at 5 layers 35 in all instead of 50 (17 if all pairs of a subject were
    one pass). float64 GEMM speed bounds the run time. Intervals are percentile intervals (numpy's default 'linear'
    quantile); the one-sided p-value for "component > 0" is
    p = (1 + #{bootstrap value <= 0}) / (1 + B), the inversion of the percentile
    interval: the lower bound of the one-sided (1 - alpha) percentile interval is > 0
    about when p <= alpha. Unlike the permutation test this is an approximate
    (asymptotic) test.

    Rounding: where the models' predictions agree to rounding (e.g. every model of a
    pair chose the largest lambda and predicts little more than the mean), a component
    whose coefficients sum to 0 is rounding noise, around 1e-15, but its sign is fixed
    by the order of the sums, so every bootstrap value has it and the test would call
    it significant. A bootstrap value counts as positive only above the rounding bound
    ROUNDING_FACTOR * n * eps * sum_m |c_m| SSres_m / SStot (the error of the sums of
    squares the component is made of); below it, "component > 0" is not supported.

Reproducibility
    The arithmetic always runs on blocks of ``block`` voxels at fixed positions
    (0, block, 2*block, ...; the last one zero-padded): MKL's GEMM and FFT round a
    column differently depending on the width of the call and on its position in it,
    so this is what makes this module's results, for given predictions, bitwise
    independent of ``batch_size`` (which only sets how many voxels are fetched and
    converted at a time), of the other models and pairs computed in the same pass
    (every quantity is its own call of one shape), and bitwise identical across reruns
    on the same machine and thread count. In the workflow ``ridge.batch_size`` also sets the fits' batches,
    whose R2 and weights (so the predictions tested here) can differ at rounding level
    (~1e-16) between batch sizes: the chosen lambdas, p- and q-values stay identical, the
    other values agree to rounding (tests/test_stats.py,
    test_batch_size_changes_values_only_at_rounding_level).

Undefined voxels: where y is constant over the validation images (or y or a prediction
is not finite) R2 is undefined; such voxels get NaN p-values, intervals and q-values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from .runtime import as_tensor, r2_score
from .significance import bh_q_values, significant  # noqa: F401  (the FDR step and the decision, without torch)

BLOCK = 512   # voxels per arithmetic call; results are reproducible for a fixed block
ROUNDING_FACTOR = 4.0   # bootstrap values within this many n * eps (relative) of 0 are not "> 0"

PAIR_COMPONENTS = {
    "unique_a": {"ab": 1.0, "b": -1.0},            # R2_AB - R2_B
    "unique_b": {"ab": 1.0, "a": -1.0},            # R2_AB - R2_A
    "shared": {"a": 1.0, "b": 1.0, "ab": -1.0},    # R2_A + R2_B - R2_AB
}


# ------------------------------------------------------------------ helpers
def _columns(source, sl: slice, n: int, device) -> torch.Tensor:
    """float64 [n x width] block of an array or of a callable(slice) -> array."""
    block = source(sl) if callable(source) else source[:, sl]
    out = as_tensor(block, device)
    width = sl.stop - sl.start
    if out.shape != (n, width):
        raise ValueError(f"predictions for voxels {sl.start}:{sl.stop} have shape {tuple(out.shape)}, "
                         f"expected {(n, width)}")
    return out


def _padded(parts, block: int, device) -> torch.Tensor:
    """Copy [n x width] into a fresh [n x block] tensor, zero-padded (fixed shape and alignment)."""
    if parts.shape[1] == block:
        return torch.empty((parts.shape[0], block), dtype=torch.float64, device=device).copy_(parts)
    out = torch.zeros((parts.shape[0], block), dtype=torch.float64, device=device)
    out[:, :parts.shape[1]] = parts
    return out


def _batches(n_vox: int, batch_size: int, block: int):
    """Batches of whole blocks: yields (batch slice, list of block slices inside it)."""
    if batch_size < 1 or block < 1:
        raise ValueError("batch_size and block must be positive")
    step = -(-batch_size // block) * block
    for start in range(0, n_vox, step):
        stop = min(start + step, n_vox)
        yield slice(start, stop), [slice(s, min(s + block, stop)) for s in range(start, stop, block)]


def defined_voxels(y: torch.Tensor, *preds: torch.Tensor) -> torch.Tensor:
    """Voxels whose R2 is defined: y finite and not constant, predictions finite. [V] bool.

    Parameters
    ----------
    y : Tensor [n x V]
        Responses over the validation images.
    *preds : Tensor [n x V]
        Predictions of any number of models.

    Returns
    -------
    Tensor [V], bool
    """
    ok = torch.isfinite(y).all(dim=0) & (y.amax(dim=0) > y.amin(dim=0))
    for p in preds:
        ok &= torch.isfinite(p).all(dim=0)
    return ok


# ------------------------------------------------------------------ permutation test
def permutation_scheme(n: int, n_permutations: int = 1000, seed=0):
    """The relabelling and shifts of the permutation test.

    Returns (order [n] int, shifts [B] int, B): images are re-ordered as y[order] and
    shift k pairs re-ordered image i with re-ordered prediction (i + k) mod n.
    B = min(n_permutations, n - 1); with n_permutations >= n - 1 the shifts are
    1..n-1 (the whole group), else a seeded sample without replacement, sorted.

    Parameters
    ----------
    n : int
        Validation images, >= 2.
    n_permutations : int
        Permutations asked for, >= 1.
    seed : int or None
        Seed of numpy's default_rng.

    Returns
    -------
    order : ndarray [n], int64
        A permutation of 0..n-1.
    shifts : ndarray [B], int64
        Distinct shifts in 1..n-1, ascending.
    B : int
        The effective number of permutations.
    """
    if n < 2:
        raise ValueError(f"a permutation test needs at least 2 validation images, got {n}")
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    if n_permutations >= n - 1:
        shifts = np.arange(1, n)
    else:
        shifts = np.sort(rng.choice(np.arange(1, n), size=int(n_permutations), replace=False))
    return order, shifts, int(shifts.size)


def permutation_indices(n: int, n_permutations: int = 1000, seed=0) -> np.ndarray:
    """The test's permutations as explicit index arrays [B x n].

    Permutation b pairs y[j] with pred[perm[b, j]]. For checks; the test itself never
    builds them.

    Parameters
    ----------
    n, n_permutations, seed
        As in :func:`permutation_scheme`.

    Returns
    -------
    ndarray [B x n], int64
        Row b is a permutation of 0..n-1; B = min(n_permutations, n - 1).
    """
    order, shifts, _ = permutation_scheme(n, n_permutations, seed)
    perms = np.empty((shifts.size, n), dtype=np.int64)
    for b, k in enumerate(shifts):
        perms[b, order] = order[(np.arange(n) + k) % n]
    return perms


@dataclass
class PermutationResult:
    """Result of :func:`permutation_test_r2` (V voxels; shapes in the field comments)."""
    p: np.ndarray          # [V] permutation p-value of R2 (NaN where R2 is undefined)
    r2: np.ndarray         # [V] observed R2 (NaN where undefined)
    n_permutations: int    # effective number of permutations (<= n_val - 1)


def permutation_test_r2(y_val, predictions, *, n_permutations: int = 1000, seed=0,
                        batch_size: int = 8192, block: int = BLOCK, device="cpu",
                        tie_rtol: float = 1e-9) -> PermutationResult:
    """Per-voxel permutation p-value of validation R2, the same permutations for all voxels.

    y_val: [n x V] responses (numpy or torch, float32 or float64). predictions: [n x V]
    array, or a callable taking a voxel slice and returning that [n x width] block (to
    make predictions on the fly, e.g. ``lambda sl: x_val @ w[:, sl]``). See the module
    docstring for the method (cyclic shifts of a seeded relabelling, cross terms by
    FFT; exact). Null values within tie_rtol * ||y_c|| * ||pred_c|| (Cauchy-Schwarz
    bound of the centred cross term) below the observed one count as ties, i.e. as
    ``null >= observed`` (conservative): FFT rounding cannot then turn an exact tie,
    such as a constant prediction, into a smaller p.
    Returns PermutationResult(p, r2, n_permutations).

    Parameters
    ----------
    y_val : ndarray, Tensor or SplitResponses [n x V]
        Validation responses, float32 or float64 (converted to float64).
    predictions : ndarray or Tensor [n x V], or callable
        Validation predictions; or ``f(sl)`` returning the [n x width] block of voxel
        slice ``sl``.
    n_permutations : int
        Permutations asked for (at most n - 1 are used).
    seed : int or None
        Seed of the relabelling and of the shifts (numpy's default_rng).
    batch_size : int
        Voxels fetched and converted at a time (results do not depend on it).
    block : int
        Voxels per arithmetic call (results are reproducible for a fixed block).
    device : str or torch.device
    tie_rtol : float
        Relative tie tolerance (see above).

    Returns
    -------
    PermutationResult
        p [V] float64 (permutation p-value, in [1 / (1 + B), 1]), r2 [V] float64
        (observed R2), n_permutations B (int). p and r2 are NaN where R2 is undefined:
        y_val constant or not finite, or a prediction not finite.

    Raises
    ------
    ValueError
        Fewer than 2 images, n_permutations < 1, or predictions of the wrong shape.
    """
    perm, _ = model_statistics(y_val, {"model": predictions}, tested=["model"],
                               n_permutations=n_permutations, seed=seed, batch_size=batch_size,
                               block=block, device=device, tie_rtol=tie_rtol)
    return perm["model"]


# ------------------------------------------------------------------ bootstrap
def bootstrap_weights(n: int, n_boot: int = 1000, seed=0) -> np.ndarray:
    """Multinomial resampling counts W [n_boot x n] (float64, rows sum to n).

    Row b counts how often each validation image is drawn in n draws with replacement.

    Parameters
    ----------
    n : int
        Validation images, >= 2.
    n_boot : int
        Bootstrap samples, >= 1.
    seed : int or None
        Seed of numpy's default_rng.

    Returns
    -------
    ndarray [n_boot x n], float64
        Non-negative integer counts; every row sums to n.
    """
    if n < 2 or int(n_boot) < 1:
        raise ValueError(f"need n >= 2 images and n_boot >= 1, got {n}, {n_boot}")
    idx = np.random.default_rng(seed).integers(0, n, size=(int(n_boot), n))
    flat = idx + (np.arange(int(n_boot)) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=int(n_boot) * n).reshape(int(n_boot), n).astype(np.float64)


def quantile_levels(n_boot: int, levels):
    """numpy's 'linear' quantile (its default): (lower index, upper index, gamma) per level.

    The quantile at level q of sorted values v is v[lo] + gamma * (v[hi] - v[lo]).

    Parameters
    ----------
    n_boot : int
        Number of values.
    levels : sequence of float
        Levels in [0, 1].

    Returns
    -------
    list of (int, int, float)
        One (lo, hi, gamma) per level: ranks into the ascending values, 0 <= lo <= hi <
        n_boot, and 0 <= gamma < 1.
    """
    out = []
    for q in levels:
        virtual = (n_boot - 1) * float(q)
        lo = int(np.floor(virtual))
        if virtual >= n_boot - 1:
            lo = hi = n_boot - 1
        else:
            hi = lo + 1
        out.append((lo, hi, virtual - np.floor(virtual)))
    return out


def _lerp(a, b, t: float) -> torch.Tensor:
    """numpy's _lerp, operation for operation (so results match np.quantile)."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _quantiles(values: torch.Tensor, levels) -> torch.Tensor:
    """Linear-interpolation quantiles (numpy's default) along dim 1 of [w x B]: [w x len(levels)].

    The order statistics they interpolate come from one np.partition over the ranks of
    every level (exact values; about 1.6x faster here than torch.topk of both tails), the
    interpolation from numpy's own formula (:func:`_lerp`), so results equal np.quantile.
    """
    n_boot = values.shape[1]
    plan = quantile_levels(n_boot, levels)
    ranks = sorted({i for lo, hi, _ in plan for i in (lo, hi)})
    part = torch.from_numpy(np.partition(values.cpu().numpy(), ranks, axis=1)).to(values.device)
    return torch.stack([_lerp(part[:, lo], part[:, hi], t) for lo, hi, t in plan], dim=1)


@dataclass
class BootstrapResult:
    """Result of :func:`bootstrap_components` (V voxels; shapes in the field comments).

    Every dict has one entry per component, in the order of ``components``; NaN where the
    voxel's R2 is undefined.
    """
    estimate: dict         # component -> [V] value on the validation set itself
    ci: dict               # component -> [V x 2] percentile interval
    p_positive: dict       # component -> [V] one-sided p-value for component > 0
    n_boot: int


def bootstrap_components(y_val, predictions: Mapping, components: Mapping, *, n_boot: int = 1000,
                         seed=0, confidence: float = 0.95, batch_size: int = 8192,
                         block: int = BLOCK, device="cpu") -> BootstrapResult:
    """Paired bootstrap of linear combinations of model R2s, per voxel.

    y_val: [n x V]. predictions: model name -> [n x V] validation predictions (arrays,
    or callables taking a voxel slice, as in permutation_test_r2). components:
    component name -> {model name: coefficient}; the component is sum_m c_m R2_m
    (PAIR_COMPONENTS gives a pair's unique_a, unique_b, shared; commonality components
    of 3+ layers are the same kind of combination). Every bootstrap sample resamples
    the validation images jointly for y and all models (counts from bootstrap_weights).
    Returns BootstrapResult with, per component: estimate [V] (from r2_score on the
    validation set), ci [V x 2] (percentile interval at `confidence`, numpy's default
    quantile interpolation), p_positive [V] = (1 + #{bootstrap value <= its rounding
    bound}) / (1 + n_boot) (see the module docstring, "Rounding").
    A voxel whose R2 is undefined, or with a non-finite bootstrap value (a resample
    with constant y), gets NaN.

    Parameters
    ----------
    y_val : ndarray, Tensor or SplitResponses [n x V]
        Validation responses, float32 or float64 (converted to float64).
    predictions : mapping of str to (ndarray [n x V] or callable)
        Validation predictions of every model the components use; a callable ``f(sl)``
        returns the [n x width] block of voxel slice ``sl``.
    components : mapping of str to mapping of str to float
        Component name -> {model name: coefficient c_m}.
    n_boot : int
        Bootstrap samples B.
    seed : int or None
        Seed of :func:`bootstrap_weights`.
    confidence : float
        Level of the two-sided percentile interval.
    batch_size : int
        Voxels fetched and converted at a time (results do not depend on it).
    block : int
        Voxels per arithmetic call (results are reproducible for a fixed block).
    device : str or torch.device

    Returns
    -------
    BootstrapResult
        estimate {component: [V] float64}, ci {component: [V x 2] float64} (lower, upper),
        p_positive {component: [V] float64}, n_boot (int). estimate is NaN where R2 is
        undefined (y constant or not finite, a prediction not finite); ci and p_positive
        are NaN there too, and where a resample has constant y.

    Raises
    ------
    ValueError
        A component uses a model without predictions, or predictions have the wrong shape.
    """
    _, boot = model_statistics(y_val, predictions, groups={"components": components}, n_boot=n_boot,
                               seed=seed, confidence=confidence, batch_size=batch_size, block=block,
                               device=device)
    return boot["components"]


def pair_bootstrap(y_val, pred_a, pred_b, pred_ab, *, n_boot: int = 1000, seed=0,
                   confidence: float = 0.95, batch_size: int = 8192, block: int = BLOCK,
                   device="cpu") -> dict:
    """Unique and shared variance of a layer pair with bootstrap intervals and p-values.

    y_val, pred_*: [n x V] (predictions may be callables, see permutation_test_r2).
    Returns a dict of numpy arrays: unique_a, unique_b, shared [V] (estimates: equal to
    comparisons.variance_partition's to rounding), unique_a_ci, unique_b_ci, shared_ci
    [V x 2] (percentile intervals), p_unique_a, p_unique_b [V] (one-sided, > 0).

    Parameters
    ----------
    y_val : ndarray, Tensor or SplitResponses [n x V]
        Validation responses.
    pred_a, pred_b : ndarray [n x V] or callable
        Validation predictions of the single-layer models A and B.
    pred_ab : ndarray [n x V] or callable
        Validation predictions of the joint model AB.
    n_boot, seed, confidence, batch_size, block, device
        As in :func:`bootstrap_components`.

    Returns
    -------
    dict of str to ndarray
        unique_a, unique_b, shared [V] float64; unique_a_ci, unique_b_ci, shared_ci
        [V x 2] float64 (lower, upper); p_unique_a, p_unique_b [V] float64. NaN as in
        :func:`bootstrap_components`.
    """
    res = bootstrap_components(y_val, {"a": pred_a, "b": pred_b, "ab": pred_ab}, PAIR_COMPONENTS,
                               n_boot=n_boot, seed=seed, confidence=confidence,
                               batch_size=batch_size, block=block, device=device)
    return pair_result(res)


# ------------------------------------------------------------------ one pass over the voxels
class _PermutationBlock:
    """The permutation test's work on one block of voxels that every model shares: the
    re-ordered, centred responses and their FFT."""

    def __init__(self, y: torch.Tensor, order: torch.Tensor, shifts, n_perm: int, tie_rtol: float):
        n = y.shape[0]
        yc = y[order]
        yc = yc - yc.mean(dim=0)
        self.y, self.order, self.n, self.n_perm, self.tie_rtol = y, order, n, n_perm, tie_rtol
        self.shifts = None if n_perm == n - 1 else shifts   # None: the whole group
        self.fy = torch.fft.rfft(yc, dim=0).conj()
        self.norm_y = torch.linalg.vector_norm(yc, dim=0)
        self.y_defined = defined_voxels(y)      # y's part of every model's check, once

    def test(self, p: torch.Tensor):
        """(p-value [block], R2 [block], defined [block] bool) of predictions p [n x block]."""
        ok = self.y_defined & torch.isfinite(p).all(dim=0)     # defined_voxels(y, p)
        r2 = r2_score(self.y, p)
        pc = p[self.order]
        pc = pc - pc.mean(dim=0)
        # c[k] = sum_i yc[i] pc[(i + k) mod n]: circular cross-correlation
        cross = torch.fft.irfft(self.fy * torch.fft.rfft(pc, dim=0), n=self.n, dim=0)
        tol = self.tie_rtol * self.norm_y * torch.linalg.vector_norm(pc, dim=0)
        null = cross[1:] if self.shifts is None else cross[self.shifts]
        count = (null >= (cross[0] - tol)).sum(dim=0)
        return (1.0 + count.to(torch.float64)) / (1.0 + self.n_perm), r2, ok


class _BootstrapBlock:
    """The bootstrap's work on one block of voxels: W @ y and W @ y^2 once, W @ r_m^2 once
    per model, whatever number of components or pairs combine them."""

    def __init__(self, y: torch.Tensor, w_t: torch.Tensor):
        n = y.shape[0]
        yc = y - y.mean(dim=0)
        yy = yc * yc
        self.sstot_full = yy.sum(dim=0)
        # SStot_b = W @ yc^2 - (W @ yc)^2 / n; a resample with constant y has SStot_b = 0
        self.sstot = torch.mm(yy.T, w_t) - torch.mm(yc.T, w_t).square() / n     # [block x n_boot]
        lo_hi = torch.aminmax(y, dim=0)
        self.defined = (lo_hi.max > lo_hi.min) & torch.isfinite(self.sstot_full)
        self.resampled = (self.sstot > 0).all(dim=1)
        self.y, self.w_t = y, w_t
        self.ssres, self.g = {}, {}

    def add(self, model: str, pred: torch.Tensor):
        """SSres of a model's predictions [n x block] on the sample and on every resample."""
        sq = (self.y - pred).square_()
        self.ssres[model] = sq.sum(dim=0)
        self.g[model] = torch.mm(sq.T, self.w_t)     # [block x n_boot]

    def components(self, components: Mapping, levels, eps_n: float):
        """Per component: (estimate, interval [block x 2], p-value of > 0); NaN where undefined.
        R2 is defined where y is finite and not constant and every model's predictions
        used by the components are finite."""
        models = sorted({m for c in components.values() for m in c})
        ok = self.defined.clone()
        for m in models:
            ok &= torch.isfinite(self.ssres[m])
        good = ok & self.resampled
        r2 = {m: 1 - self.ssres[m] / self.sstot_full for m in models}
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=self.y.device)
        n_boot = self.w_t.shape[1]
        out = {}
        for name, coef in components.items():
            weighted = None
            for m, v in coef.items():
                weighted = self.g[m] * v if weighted is None else weighted.add_(self.g[m], alpha=v)
            boot = sum(coef.values()) - weighted / self.sstot                 # [block x n_boot]
            q = _quantiles(boot, levels)
            tol = eps_n * sum(abs(v) * (1 - r2[m]).abs() for m, v in coef.items())   # 1 - R2 = SSres/SStot
            p = (1.0 + (boot <= tol[:, None]).sum(dim=1).to(torch.float64)) / (1.0 + n_boot)
            e = sum(v * r2[m] for m, v in coef.items())
            out[name] = (torch.where(ok, e, nan), torch.where(good[:, None], q, nan), torch.where(good, p, nan))
        return out


def model_statistics(y_val, predictions: Mapping, *, tested=(), groups: Mapping | None = None,
                     n_permutations: int = 1000, n_boot: int = 1000, seed=0, confidence: float = 0.95,
                     batch_size: int = 8192, block: int = BLOCK, device="cpu",
                     tie_rtol: float = 1e-9):
    """Permutation tests of several models and bootstraps of several groups of components
    in one pass over the voxels, sharing what they have in common.

    What the models share is computed once per block of voxels: the responses, their
    permutation FFT, and the bootstrap sums W @ y and W @ y^2; each model's W @ r^2 is
    computed once however many groups use it: the 10 pairs of 5 layers cost 2 + 15
    bootstrap GEMMs in one pass instead of the 10 x 5 of ten separate pair bootstraps.
    Every quantity is its own call of fixed shape ([block x n] @ [n x n_boot], one FFT
    per block), so a model's or a group's result is bitwise the same whichever other
    models and groups are computed with it (tests/test_stats.py).

    Parameters
    ----------
    y_val : ndarray, Tensor or SplitResponses [n x V]
        Validation responses, float32 or float64 (converted to float64).
    predictions : mapping of str to (ndarray [n x V] or callable)
        Validation predictions of every model named in ``tested`` or ``groups``; a callable
        ``f(sl)`` returns the [n x width] block of voxel slice ``sl``.
    tested : sequence of str
        Models whose R2 gets a permutation test (see :func:`permutation_test_r2`).
    groups : mapping of str to components, optional
        Group name -> components (component -> {model: coefficient}), each bootstrapped as
        in :func:`bootstrap_components`; all groups share the same resamples.
    n_permutations, tie_rtol
        As in :func:`permutation_test_r2`.
    n_boot, confidence
        As in :func:`bootstrap_components`.
    seed : int or None
        Seed of the permutations and of the bootstrap resamples.
    batch_size : int
        Voxels of y_val fetched and converted at a time (results do not depend on it).
    block : int
        Voxels per arithmetic call (results are reproducible for a fixed block).
    device : str or torch.device

    Returns
    -------
    permutation : dict of str to PermutationResult
        One per model in ``tested``.
    bootstrap : dict of str to BootstrapResult
        One per group.

    Raises
    ------
    ValueError
        A model without predictions, fewer than 2 images, n_permutations or n_boot < 1,
        or predictions or responses of the wrong shape.
    """
    device = torch.device(device)
    groups = dict(groups or {})
    n, n_vox = y_val.shape
    tested = list(tested)
    boot_models = sorted({m for comps in groups.values() for c in comps.values() for m in c})
    missing = [m for m in dict.fromkeys(tested + boot_models) if m not in predictions]
    if missing:
        raise ValueError(f"no predictions for models: {missing}")
    coef = {g: {c: {m: float(v) for m, v in comp.items()} for c, comp in comps.items()}
            for g, comps in groups.items()}
    nan = float("nan")
    perm = None
    if tested:
        order, shifts, n_perm = permutation_scheme(n, n_permutations, seed)
        perm = (torch.as_tensor(order, device=device), torch.as_tensor(shifts, device=device), n_perm)
        p_out = {m: np.full(n_vox, nan) for m in tested}
        r2_out = {m: np.full(n_vox, nan) for m in tested}
    if groups:
        w_t = as_tensor(bootstrap_weights(n, n_boot, seed).T.copy(), device)   # [n x n_boot]
        alpha = (1.0 - confidence) / 2.0
        levels = (alpha, 1.0 - alpha)
        eps_n = ROUNDING_FACTOR * n * torch.finfo(torch.float64).eps   # rounding bound per unit of SSres/SStot
        est = {g: {c: np.full(n_vox, nan) for c in coef[g]} for g in groups}
        ci = {g: {c: np.full((n_vox, 2), nan) for c in coef[g]} for g in groups}
        pp = {g: {c: np.full(n_vox, nan) for c in coef[g]} for g in groups}
    for bsl, blocks in _batches(n_vox, batch_size, block):
        yb = as_tensor(y_val[:, bsl], device)
        if yb.shape != (n, bsl.stop - bsl.start):
            raise ValueError(f"y_val has shape {tuple(y_val.shape)}")
        for sl in blocks:
            width = sl.stop - sl.start
            y = _padded(yb[:, sl.start - bsl.start:sl.stop - bsl.start], block, device)
            pb = _PermutationBlock(y, *perm, tie_rtol) if perm else None
            bb = _BootstrapBlock(y, w_t) if groups else None
            for m in dict.fromkeys(tested + boot_models):
                p = _padded(_columns(predictions[m], sl, n, device), block, device)
                if pb is not None and m in p_out:
                    p_val, r2, ok = pb.test(p)
                    p_out[m][sl] = torch.where(ok, p_val, nan)[:width].cpu().numpy()
                    r2_out[m][sl] = torch.where(ok, r2, nan)[:width].cpu().numpy()
                if bb is not None and m in boot_models:
                    bb.add(m, p)
                del p
            for g in groups:
                for c, (e, q, p) in bb.components(coef[g], levels, eps_n).items():
                    est[g][c][sl] = e[:width].cpu().numpy()
                    ci[g][c][sl] = q[:width].cpu().numpy()
                    pp[g][c][sl] = p[:width].cpu().numpy()
    permutation = {m: PermutationResult(p=p_out[m], r2=r2_out[m], n_permutations=perm[2]) for m in tested}
    bootstrap = {g: BootstrapResult(estimate=est[g], ci=ci[g], p_positive=pp[g], n_boot=int(n_boot))
                 for g in groups}
    return permutation, bootstrap


def pair_groups(pairs: Mapping) -> dict:
    """Bootstrap groups of layer pairs: pair name -> PAIR_COMPONENTS over its models.

    Parameters
    ----------
    pairs : mapping of str to (str, str, str)
        Pair name -> (model A, model B, joint model AB).

    Returns
    -------
    dict of str to dict
        Pair name -> {unique_a, unique_b, shared: {model name: coefficient}}, the groups of
        :func:`model_statistics`.
    """
    out = {}
    for name, (a, b, ab) in pairs.items():
        names = {"a": a, "b": b, "ab": ab}
        out[name] = {c: {names[k]: v for k, v in comp.items()} for c, comp in PAIR_COMPONENTS.items()}
    return out


def pair_result(res: BootstrapResult) -> dict:
    """A pair's BootstrapResult as the flat dict of :func:`pair_bootstrap`."""
    out = {}
    for c in PAIR_COMPONENTS:
        out[c] = res.estimate[c]
        out[f"{c}_ci"] = res.ci[c]
    out["p_unique_a"] = res.p_positive["unique_a"]
    out["p_unique_b"] = res.p_positive["unique_b"]
    return out
