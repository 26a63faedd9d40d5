"""Banded ridge: one lambda per feature space (band) per voxel, chosen on the holdout split.

A joint model of k feature spaces (say two AlexNet layers) is one design matrix whose
feature columns fall into k bands. Banded ridge penalises band b with its own lambda_b:

    min_beta ||y - X beta||^2 + sum_b lambda_b ||beta_b||^2

The candidates are an overall scale ``lam`` from the lambda grid times a vector of band
multipliers ``w`` (a row of ``band_weights``): lambda_b = lam * w_b. For a fixed ``w``,
scaling band b's columns by s_b = 1 / sqrt(w_b) turns the problem into ordinary ridge with
the single lambda ``lam`` (beta_b = s_b * beta~_b). So each row of ``band_weights`` costs

* one eigendecomposition of the rescaled p x p Gram matrix S X'X S (p^3),
* rescaling of the X'Y rows that are already there (S X'y; no new pass over responses),
* the holdout losses of every lambda from p-sized per-voxel quantities, as in
  :mod:`encoding_models.ridge`. There, the quadratic term z' D M D z costs a
  [p x p] @ [p x V] product per lambda (2 p^2 V flops each; n_candidates * n_lambdas of
  them would dominate). Here partial fractions, d_j d_k = (d_j - d_k) / (s_k - s_j), give
  it for every lambda from one lambda-free product G z per candidate row, so a row costs
  three [p x p] @ [p x V] products (z, z_o, G z: about 6 p^2 V flops) plus
  O(n_lambdas p V). All in float64; a rounding bound is kept for every loss and the few
  voxels whose best candidates are closer than their bounds are re-scored with
  ridge.holdout_losses, so the choice is the one the direct float64 losses make.
  Whole fit: about 6 n_candidates p^2 V flops (p^3 per row for its eigendecomposition).

Candidate sets (rows of ``band_weights``; every row is normalised to geometric mean 1, so
``lam`` is the geometric mean of the band lambdas and a row of ones is plain ridge):

* 2 bands: :func:`ratio_candidates` with ``band_ratios`` r (lambda_B / lambda_A = r), e.g.
  9 values log-spaced over 1e-4..1e4 -> 9 rows.
* k > 2 bands: :func:`ratio_candidates` gives the product grid of per-band ratios relative
  to the first band: len(band_ratios) ** (k - 1) rows (81 for 3 bands and 9 ratios, 729
  for 4), so the cost grows by that factor. :func:`dirichlet_candidates` is the cheaper
  alternative for k > 2: a seeded random search over the simplex like himalaya's
  ``solve_group_ridge_random_search`` (n_iter rows, the first one equal weights).

The intercept is never penalised: features and responses are centred on the train split,
exactly as ``ridge.fit_ridge(intercept='unpenalized')`` does, and the returned weights
(in the original feature basis, intercept coefficient last) satisfy
``predictions = x_val @ weights``.

Pure functions: arrays in, arrays out, no file access.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from .ridge import LossTerms, approx_holdout_losses, check_lambdas, holdout_losses, loss_terms
from .runtime import as_tensor, r2_score


# ------------------------------------------------------------------ candidates
def _geomean_normalise(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    return w / np.exp(np.mean(np.log(w), axis=1, keepdims=True))


def ratio_candidates(band_ratios, n_bands: int = 2) -> np.ndarray:
    """Band multipliers [n_candidates x n_bands] from ratios between bands.

    For 2 bands, row i gives lambda_B / lambda_A = band_ratios[i] (rows in the order of
    ``band_ratios``). For k > 2 bands, the product grid of the ratios of bands 2..k
    relative to band 1 (itertools.product order, the last band varying fastest):
    len(band_ratios) ** (k - 1) rows. Each row has geometric mean 1, so the overall
    scale lam is the geometric mean of the band lambdas.

    Parameters
    ----------
    band_ratios : array-like [n_ratios]
        Positive finite ratios lambda_b / lambda_1.
    n_bands : int
        k >= 2.

    Returns
    -------
    ndarray [n_ratios ** (n_bands - 1) x n_bands], float64
        Positive; every row has geometric mean 1.

    Raises
    ------
    ValueError
        Empty, non-positive or non-finite ratios, or fewer than 2 bands.
    """
    ratios = np.asarray(band_ratios, dtype=np.float64).ravel()
    if ratios.size == 0 or not np.all(np.isfinite(ratios)) or np.any(ratios <= 0):
        raise ValueError(f"band_ratios must be positive finite numbers, got {band_ratios!r}")
    if n_bands < 2:
        raise ValueError(f"banded ridge needs at least 2 bands, got {n_bands}")
    rows = [(1.0,) + combo for combo in itertools.product(ratios, repeat=n_bands - 1)]
    return _geomean_normalise(np.array(rows))


def dirichlet_candidates(n_bands: int, n_iter: int, concentration=(0.1, 1.0), seed: int = 0) -> np.ndarray:
    """Band multipliers [n_iter x n_bands] from a seeded random search over the simplex.

    Like himalaya's random search: band weights gamma ~ Dirichlet(concentration) (one
    block of rows per concentration, in order; the first row is equal weights), and
    lambda_b = lam / gamma_b. Returned as multipliers 1 / gamma with geometric mean 1. Cost: n_iter
    eigendecompositions and n_iter * n_lambdas loss evaluations, whatever k is.

    Parameters
    ----------
    n_bands : int
        k, the number of bands.
    n_iter : int
        Rows (candidates), >= 1.
    concentration : float or sequence of float
        Dirichlet concentrations; consecutive blocks of ceil(n_iter / len) rows use each.
    seed : int
        Seed of numpy's default_rng.

    Returns
    -------
    ndarray [n_iter x n_bands], float64
        Positive; every row has geometric mean 1; row 0 is all ones.
    """
    rng = np.random.default_rng(seed)
    conc = np.atleast_1d(np.asarray(concentration, dtype=np.float64))
    per = int(np.ceil(n_iter / conc.size))
    gammas = np.concatenate([rng.dirichlet([c] * n_bands, per) for c in conc])[:n_iter]
    gammas[0] = 1.0 / n_bands
    gammas = np.maximum(gammas, np.finfo(np.float64).tiny)
    return _geomean_normalise(1.0 / gammas)


# ------------------------------------------------------------------ fit
# Candidate decompositions are kept for the whole fit up to this many bytes (else redone per batch).
CACHE_BYTES = 1 << 30


@dataclass
class BandedResult:
    """Per voxel results of :func:`fit_banded_ridge` (V voxels, k bands, p features).

    Shapes are in the field comments; r2 is NaN where y_val is constant over the
    validation images (R2 undefined).
    """
    band_lambdas: np.ndarray    # [V x k] chosen lambda of each band (lambdas[best_index] * band_weights[best_candidate])
    best_index: np.ndarray      # [V] index into the lambda grid (the overall scale)
    best_candidate: np.ndarray  # [V] row of band_weights (the ratio between bands)
    r2: np.ndarray              # [V] R2 on the validation split
    weights: np.ndarray | None  # [p+1 x V] weights in the original feature basis, intercept last
    holdout_loss: np.ndarray    # [V] holdout sum of squared errors of the chosen candidate (to rounding)
    band_weights: np.ndarray    # [n_candidates x k] the candidate band multipliers
    lambdas: np.ndarray         # [n_lambdas] the overall scales
    n_rescored: int             # voxels whose choice was settled with the exact losses


def _band_columns(bands, n_features: int) -> np.ndarray:
    """Band index of every feature column; the bands must partition columns 0..p-1."""
    owner = np.full(n_features, -1, dtype=np.int64)
    for b, cols in enumerate(bands):
        idx = np.arange(n_features)[cols] if isinstance(cols, slice) else np.asarray(cols, dtype=np.int64)
        if idx.size == 0:
            raise ValueError(f"band {b} has no columns")
        if np.any(idx < 0) or np.any(idx >= n_features):
            raise ValueError(f"band {b} has columns outside 0..{n_features - 1} (the ones column is last and in no band)")
        if np.any(owner[idx] != -1):
            raise ValueError(f"band {b} overlaps another band")
        owner[idx] = b
    if np.any(owner == -1):
        raise ValueError(f"feature columns {np.flatnonzero(owner == -1).tolist()} are in no band")
    return owner


@dataclass
class _Candidate:
    """One row of band_weights, decomposed: the rescaled problem's eigenbasis and the
    lambda-free terms of its holdout losses."""
    qs: torch.Tensor       # [p x p] S Q: z = qs' X'y, beta = qs @ coef
    terms: LossTerms       # eigenvalues of S X'X S, M = Q' S X_o'X_o S Q and the partial fractions

    @property
    def evals(self):
        return self.terms.evals


def _prepare(gram_trn, gram_holdout, scale) -> _Candidate:
    ss = scale[:, None] * scale[None, :]
    evals, evecs = torch.linalg.eigh(gram_trn * ss)
    return _Candidate(qs=scale[:, None] * evecs, terms=loss_terms(evals, evecs.T @ (gram_holdout * ss) @ evecs))


def fit_banded_ridge(x_trn, x_holdout, x_val, y_trn, y_holdout, y_val, bands, lambdas, band_ratios=None, *,
                     band_weights=None, xty_trn=None, xty_holdout=None, return_weights: bool = True,
                     batch_size: int = 2048, device="cpu") -> BandedResult:
    """Banded ridge per voxel, candidates chosen on the holdout split, scored on validation.

    Candidate (c, l) penalises band b with lambdas[l] * band_weights[c, b]. The chosen one
    has the least holdout sum of squared errors; ties go to the earlier candidate row, then
    to the lower lambda index. The intercept is unpenalised (centring on the train split).

    Losses: every candidate's losses come from partial fractions (ridge.approx_holdout_losses,
    about 6 p^2 flops per voxel per candidate row instead of 2 p^2 per lambda), with a
    rounding bound; voxels where another candidate is within the bounds of the best are
    re-scored with ridge.holdout_losses (float64, as fit_ridge) for the candidate rows
    concerned, so the choice is the one the direct float64 losses make.

    Memory per batch: [n_candidates x n_lambdas x batch_size] losses and bounds plus
    [p x batch_size] temporaries; the candidates' [p x p] decompositions (4 p^2 floats
    each) are kept if they fit in CACHE_BYTES, else recomputed per batch. The weights,
    when returned, are [p+1 x V].

    Below, p counts the feature columns (all bands) and p+1 adds the ones column.

    Parameters
    ----------
    x_trn : ndarray or Tensor [n_trn x p+1]
        Train features with the ones column last (as fit_ridge takes them).
    x_holdout : ndarray or Tensor [n_holdout x p+1]
        Holdout features, ones column last.
    x_val : ndarray or Tensor [n_val x p+1]
        Validation features, ones column last.
    y_trn : ndarray or SplitResponses [n_trn x V], or None
        Train responses (float32 converts exactly); may be None when xty_trn is given.
    y_holdout : ndarray or SplitResponses [n_holdout x V]
        Holdout responses; its column count sets V.
    y_val : ndarray or SplitResponses [n_val x V]
        Validation responses.
    bands : list of k slices or int index arrays
        Columns of each band; together they partition the feature columns 0..p-1 (the
        ones column p is in none).
    lambdas : array-like [n_lambdas]
        The grid of overall scales (checked like ridge.check_lambdas).
    band_ratios : array-like [n_ratios], optional
        Ratios between bands -> :func:`ratio_candidates` (for k > 2 the product grid).
    band_weights : array-like [n_candidates x k], optional
        Instead of band_ratios: explicit positive band multipliers (used as given), e.g.
        from :func:`dirichlet_candidates`. Exactly one of the two is given.
    xty_trn : ndarray [p+1 x V], optional
        Precomputed x_trn'y_trn, float64 (a pair reuses its layers' products; row order =
        column order of x_*, ones row last).
    xty_holdout : ndarray [p+1 x V], optional
        Precomputed x_holdout'y_holdout, likewise.
    return_weights : bool
        False: ``weights`` is None (saves [p+1 x V] of memory).
    batch_size : int
        Voxels per batch.
    device : str or torch.device

    Returns
    -------
    BandedResult
        band_lambdas [V x k], best_index [V] int64 (position in ``lambdas``),
        best_candidate [V] int64 (row of band_weights), r2 [V] float64 (NaN where y_val is
        constant), weights [p+1 x V] float64 or None (predictions = x_val @ weights),
        holdout_loss [V], band_weights [n_candidates x k], lambdas [n_lambdas], n_rescored.

    Raises
    ------
    ValueError
        Both or neither of band_ratios and band_weights, neither y_trn nor xty_trn, bands
        that do not partition the feature columns, non-positive band weights, a bad lambda
        grid, or arrays whose shapes disagree.
    """
    lambdas = check_lambdas(lambdas)
    if (band_ratios is None) == (band_weights is None):
        raise ValueError("give exactly one of band_ratios and band_weights")
    device = torch.device(device)
    x_trn, x_holdout, x_val = (as_tensor(x, device) for x in (x_trn, x_holdout, x_val))
    n_trn, n_feat = x_trn.shape[0], x_trn.shape[1] - 1
    owner = _band_columns(bands, n_feat)
    k = len(bands)
    if band_weights is None:
        band_weights = ratio_candidates(band_ratios, k)
    band_weights = np.asarray(band_weights, dtype=np.float64)
    if band_weights.ndim != 2 or band_weights.shape[1] != k:
        raise ValueError(f"band_weights must be [n_candidates x {k}], got shape {band_weights.shape}")
    if not np.all(np.isfinite(band_weights)) or np.any(band_weights <= 0):
        raise ValueError("band_weights must be positive and finite")
    n_vox = y_holdout.shape[1]
    if y_trn is None and xty_trn is None:
        raise ValueError("give y_trn or xty_trn")
    for name, y, n in (("y_trn", y_trn, n_trn), ("y_holdout", y_holdout, x_holdout.shape[0]), ("y_val", y_val, x_val.shape[0])):
        if y is not None and tuple(y.shape) != (n, n_vox):
            raise ValueError(f"{name} has shape {tuple(y.shape)}, expected {(n, n_vox)}")
    for name, a in (("xty_trn", xty_trn), ("xty_holdout", xty_holdout)):
        if a is not None and tuple(a.shape) != (n_feat + 1, n_vox):
            raise ValueError(f"{name} has shape {tuple(a.shape)}, expected {(n_feat + 1, n_vox)}")

    # Centring (as ridge.fit_ridge's intercept='unpenalized').
    x_mean = x_trn[:, :-1].mean(dim=0, keepdim=True)
    xs_trn, xs_holdout, xs_val = x_trn[:, :-1] - x_mean, x_holdout[:, :-1] - x_mean, x_val[:, :-1] - x_mean
    gram_trn, gram_holdout = xs_trn.T @ xs_trn, xs_holdout.T @ xs_holdout
    out_sum = xs_holdout.sum(dim=0)[:, None]
    scales = [as_tensor(1.0 / np.sqrt(w[owner]), device) for w in band_weights]
    n_cand, n_lam = len(band_weights), lambdas.size
    cache = len(scales) * 4 * n_feat ** 2 * 8 <= CACHE_BYTES
    cands = [_prepare(gram_trn, gram_holdout, s) for s in scales] if cache else None
    candidate = (lambda c: cands[c]) if cache else (lambda c: _prepare(gram_trn, gram_holdout, scales[c]))
    lam = as_tensor(lambdas, device)

    best_index = np.empty(n_vox, dtype=np.int64)
    best_candidate = np.empty(n_vox, dtype=np.int64)
    best_loss = np.empty(n_vox, dtype=np.float64)
    r2 = np.empty(n_vox, dtype=np.float64)
    weights = np.empty((n_feat + 1, n_vox), dtype=np.float64) if return_weights else None
    n_rescored = 0
    for start in range(0, n_vox, batch_size):
        sl = slice(start, min(start + batch_size, n_vox))
        width = sl.stop - sl.start
        yo = as_tensor(y_holdout[:, sl], device)
        t = as_tensor(xty_trn[:, sl], device) if xty_trn is not None else x_trn.T @ as_tensor(y_trn[:, sl], device)
        o = as_tensor(xty_holdout[:, sl], device) if xty_holdout is not None else x_holdout.T @ yo
        # (x - mean)'(y - ybar) from x'y and 1'y (the ones row), ybar = train mean
        ybar = t[-1] / n_trn
        ct = t[:-1] - x_mean.T * t[-1][None, :]
        co = o[:-1] - x_mean.T * o[-1][None, :] - out_sum * ybar[None, :]
        yo = yo - ybar
        yy = torch.linalg.vecdot(yo, yo, dim=0)
        del t, o

        losses = torch.empty((n_cand, n_lam, width), dtype=torch.float64, device=device)
        bounds = torch.empty_like(losses)
        for c in range(n_cand):
            cd = candidate(c)
            losses[c], bounds[c] = approx_holdout_losses(cd.terms, cd.qs.T @ ct, cd.qs.T @ co, yy, lam)
        flat, fbound = losses.view(n_cand * n_lam, width), bounds.view(n_cand * n_lam, width)
        best = torch.argmin(flat, dim=0)
        reach = (flat.gather(0, best[None, :]) + fbound.gather(0, best[None, :]))[0]
        contender = (flat - fbound) <= reach[None, :]
        amb = (contender.sum(dim=0) > 1).nonzero().flatten()
        if amb.numel():
            # settle near-ties with the direct float64 losses of the candidate rows concerned
            sub = torch.full((n_cand * n_lam, amb.numel()), torch.inf, dtype=torch.float64, device=device)
            cont = contender[:, amb].view(n_cand, n_lam, -1)
            for c in cont.any(dim=1).any(dim=1).nonzero().flatten().tolist():
                cols = cont[c].any(dim=0).nonzero().flatten()
                v = amb[cols]
                cd = candidate(c)
                exact = holdout_losses(cd.evals, cd.qs.T @ ct[:, v], cd.qs.T @ co[:, v], cd.terms.m, yy[v], lambdas)
                rows = slice(c * n_lam, (c + 1) * n_lam)
                sub[rows, cols] = torch.where(cont[c][:, cols], exact, torch.inf)
                flat[rows, v] = exact
            best[amb] = torch.argmin(sub, dim=0)
            n_rescored += int(amb.numel())
        lo = flat.gather(0, best[None, :])[0]
        bc, bl = best // n_lam, best % n_lam

        beta = torch.empty((n_feat, width), dtype=torch.float64, device=device)
        for c in torch.unique(bc).tolist():
            v = (bc == c).nonzero().flatten()
            cd = candidate(c)
            coef = (cd.qs.T @ ct[:, v]) / (cd.evals[:, None] + lam[bl[v]][None, :])
            beta[:, v] = cd.qs @ coef
        pred = xs_val @ beta + ybar[None, :]
        r2[sl] = r2_score(as_tensor(y_val[:, sl], device), pred).cpu().numpy()
        best_index[sl], best_candidate[sl], best_loss[sl] = bl.cpu().numpy(), bc.cpu().numpy(), lo.cpu().numpy()
        if return_weights:
            weights[:-1, sl] = beta.cpu().numpy()
            weights[-1, sl] = (ybar - (x_mean @ beta)[0]).cpu().numpy()
    return BandedResult(band_lambdas=lambdas[best_index][:, None] * band_weights[best_candidate],
                        best_index=best_index, best_candidate=best_candidate, r2=r2, weights=weights,
                        holdout_loss=best_loss, band_weights=band_weights, lambdas=lambdas,
                        n_rescored=n_rescored)
