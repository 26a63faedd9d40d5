"""Per-voxel ridge regression with the lambda chosen on a holdout split.

Pure functions: arrays in, arrays out, no file access. The default settings
reproduce the reference's ``solve_ridge_fast`` (same lambda grid, intercept column
penalised like every other column, lambda chosen per voxel by the least holdout sum
of squared errors with ties going to the lowest index, weights from the train split)
without materialising [lambdas x features x voxels] or [samples x lambdas x voxels].

How: with X'X = Q diag(s) Q' decomposed once, the weights for lambda l are
w_l = Q diag(1 / (s + l)) z with z = Q'X'y, and the holdout loss is

    L(l) = y_o'y_o - 2 zo'(d_l * z) + (d_l * z)' M (d_l * z),

with zo = Q'X_o'y_o and M = Q'X_o'X_o Q. Everything per voxel is p-sized, so voxels
are processed in batches and memory stays bounded. Where two lambdas' losses are
closer than rounding can separate (the reference's choice is then decided by its own
rounding), the few voxels concerned are re-scored with the reference's exact
operations, so the chosen lambdas agree with it for every voxel.

The quadratic term costs a [p x p] @ [p x batch] product per lambda if summed directly
(:func:`holdout_losses`). :func:`approx_holdout_losses` gets it for every lambda from one
lambda-free product by partial fractions, with a rounding bound per loss; only voxels
whose best lambda is not separated from another one by more than those bounds (plus the
near-tie tolerance) get the direct losses. The choice is therefore the one the direct
float64 losses make, at about a tenth of their cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .penalty import check_lambdas, reference_lambdas  # noqa: F401 (part of this module's API)
from .runtime import as_tensor, r2_score

INTERCEPT_MODES = ("penalized", "unpenalized")


def shrinkage(evals, lambdas) -> torch.Tensor:
    """Shrinkage factors d[k, j] = 1 / (s_j + lambda_k): [n_lambdas x q].

    Parameters
    ----------
    evals : Tensor [q], float64
        Eigenvalues s of the train Gram matrix. q is the basis's column count: p+1 with
        the penalised ones column, p after centring.
    lambdas : array-like [n_lambdas]
        The lambda grid.

    Returns
    -------
    Tensor [n_lambdas x q], float64
        On the device of ``evals``.
    """
    lam = torch.as_tensor(np.asarray(lambdas, dtype=np.float64), device=evals.device)
    return 1.0 / (evals[None, :] + lam[:, None])


def holdout_losses(evals, z, zo, m, yy, lambdas) -> torch.Tensor:
    """Holdout sum of squared errors for each lambda: [n_lambdas x batch].

    L_k = y_o'y_o - 2 sum_j d_kj zo_j z_j + z' (D_k M D_k) z with D_k = diag(d_k). The
    linear term for every lambda is one product d @ (zo * z); the quadratic one is one
    [q x q] @ [q x batch] product per lambda, with D_k folded into the small matrix.

    These are the direct losses, the float64 reference of :func:`approx_holdout_losses`.

    Parameters
    ----------
    evals : Tensor [q], float64
        Eigenvalues s of the train Gram matrix X'X = Q diag(s) Q' (q = p+1 with the
        penalised ones column, p after centring).
    z : Tensor [q x batch], float64
        Q'X'y, train.
    zo : Tensor [q x batch], float64
        Q'X_o'y_o, holdout.
    m : Tensor [q x q], float64
        M = Q'X_o'X_o Q.
    yy : Tensor [batch], float64
        y_o'y_o per voxel.
    lambdas : array-like [n_lambdas]

    Returns
    -------
    Tensor [n_lambdas x batch], float64
    """
    d = shrinkage(evals, lambdas)
    out = yy[None, :] - 2 * (d @ (zo * z))
    for k in range(d.shape[0]):
        q = (m * (d[k][:, None] * d[k][None, :])) @ z
        out[k] += q.mul_(z).sum(dim=0)
    return out


# Consecutive eigenvalues closer than GAP_RTOL x the largest one form a cluster, whose
# pairs are summed directly (the partial fractions below divide by eigenvalue gaps).
GAP_RTOL = 1e-9
# Rounding bound factor: the approximate losses are trusted to ERR_FACTOR * p * eps x
# the sum of the magnitudes they are computed from (a GEMM's worst case is p * eps).
ERR_FACTOR = 2.0


@dataclass
class LossTerms:
    """The lambda-free pieces of the holdout loss in one eigenbasis (see approx_holdout_losses)."""
    evals: torch.Tensor    # [p] eigenvalues of X'X (ascending)
    m: torch.Tensor        # [p x p] Q' X_o'X_o Q
    mdiag: torch.Tensor    # [p] its diagonal
    g: torch.Tensor        # [p x p] M_jk / (s_k - s_j) between clusters, 0 within
    gnorm: float           # largest row sum of |G| (>= its spectral norm: |G| is symmetric)
    mnorm: float           # largest row sum of |M| (>= its spectral norm)
    blocks: list           # (a, b, M[a:b, a:b] with zero diagonal) for clusters of 2+


def loss_terms(evals: torch.Tensor, m: torch.Tensor) -> LossTerms:
    """Partial-fraction matrices for eigenvalues ``evals`` (ascending) and M = Q'X_o'X_o Q.

    Eigenvalues closer than GAP_RTOL x the largest one form a cluster; G is zero within a
    cluster, and each cluster of 2+ keeps its block of M for the direct sum.

    Parameters
    ----------
    evals : Tensor [q], float64
        Eigenvalues of the train Gram matrix, ascending (as torch.linalg.eigh returns them).
    m : Tensor [q x q], float64
        M = Q'X_o'X_o Q in the same eigenbasis.

    Returns
    -------
    LossTerms
        evals [q], m [q x q], mdiag [q], g [q x q], the norms and the cluster blocks.
    """
    msym = (m + m.T) / 2
    top = float(evals.abs().max().clamp_min(torch.finfo(torch.float64).tiny))
    cid = torch.cat([evals.new_zeros(1, dtype=torch.int64),
                     torch.cumsum((evals[1:] - evals[:-1] > GAP_RTOL * top).to(torch.int64), 0)])
    same = cid[:, None] == cid[None, :]
    gap = evals[None, :] - evals[:, None]
    g = torch.where(same, torch.zeros_like(msym), msym / torch.where(same, torch.ones_like(gap), gap))
    blocks = []
    counts = torch.bincount(cid).cpu().numpy()
    starts = np.concatenate([[0], np.cumsum(counts)])
    for a, b in zip(starts[:-1], starts[1:]):
        if b - a > 1:
            mb = msym[a:b, a:b].clone()
            mb.fill_diagonal_(0)
            blocks.append((int(a), int(b), mb))
    return LossTerms(evals=evals, m=m, mdiag=torch.diagonal(msym).clone(), g=g,
                     gnorm=float(g.abs().sum(dim=1).max()), mnorm=float(msym.abs().sum(dim=1).max()),
                     blocks=blocks)


def approx_holdout_losses(terms: LossTerms, z, zo, yy, lam):
    """Holdout losses of every lambda [n_lambdas x batch] and a bound on their rounding error.

    The same loss as holdout_losses, L = yy - 2 sum_j d_j zo_j z_j + z'DMDz, but the
    quadratic term by partial fractions: for j != k, d_j d_k = (d_j - d_k) / (s_k - s_j), so

        z'DMDz = sum_j d_j^2 M_jj z_j^2 + 2 sum_j d_j z_j (G z)_j,  G_jk = M_jk / (s_k - s_j),

    where G z does not depend on lambda: one [q x q] @ [q x batch] product in all instead
    of one per lambda. Pairs of (nearly) equal eigenvalues are summed directly.
    The bound covers the cancellation this may cause (the magnitudes (d |z|)' |G| |z|,
    bounded by || |G| || ||D z|| ||z||) and the rounding that the direct sum has too
    (|| |M| || ||D z||^2, |linear term|, y_o'y_o), so it bounds |approx - direct|.
    lam: float64 tensor of lambdas.

    Parameters
    ----------
    terms : LossTerms
        From :func:`loss_terms` for the basis (q columns).
    z : Tensor [q x batch], float64
        Q'X'y, train.
    zo : Tensor [q x batch], float64
        Q'X_o'y_o, holdout.
    yy : Tensor [batch], float64
        y_o'y_o per voxel.
    lam : Tensor [n_lambdas], float64
        The lambda grid, on the same device.

    Returns
    -------
    loss : Tensor [n_lambdas x batch], float64
        Approximate holdout sums of squared errors.
    bound : Tensor [n_lambdas x batch], float64
        Bound on |loss - direct loss| (>= 0).
    """
    d = 1.0 / (terms.evals[None, :] + lam[:, None])
    d2 = d * d
    zz = z * z
    lin_cross = d @ torch.cat([zo * z, z * (terms.g @ z)], dim=1)   # one product for both terms
    lin, cross = lin_cross[:, :z.shape[1]], lin_cross[:, z.shape[1]:]
    diag_dz2 = d2 @ torch.cat([terms.mdiag[:, None] * zz, zz], dim=1)
    dz2 = diag_dz2[:, z.shape[1]:]                           # ||D z||^2 per lambda
    quad = diag_dz2[:, :z.shape[1]] + 2 * cross
    for a, b, mb in terms.blocks:
        zb = z[a:b]
        for k in range(d.shape[0]):
            dk = d[k, a:b]
            quad[k] += ((mb * (dk[:, None] * dk[None, :])) @ zb).mul_(zb).sum(dim=0)
    loss = yy[None, :] - 2 * lin + quad
    size = (terms.gnorm * torch.sqrt(dz2 * zz.sum(dim=0)[None, :]) + terms.mnorm * dz2
            + lin.abs() + yy.abs()[None, :])
    bound = ERR_FACTOR * z.shape[0] * np.finfo(np.float64).eps * size
    return loss, bound


def unresolved_voxels(losses: torch.Tensor, bound: torch.Tensor, best: torch.Tensor, slack: torch.Tensor):
    """Voxels whose best lambda the approximate losses cannot settle.

    Voxels where some other lambda's approximate loss, within the bounds, may come
    within ``slack`` (per voxel) of the best one's: their choice needs the direct losses.

    Parameters
    ----------
    losses : Tensor [n_lambdas x batch], float64
        Approximate losses (:func:`approx_holdout_losses`).
    bound : Tensor [n_lambdas x batch], float64
        Their rounding bounds.
    best : Tensor [batch], int64
        Index of each voxel's least approximate loss.
    slack : Tensor [batch], float64
        Near-tie tolerance per voxel.

    Returns
    -------
    Tensor [n_unresolved], int64
        Positions in the batch, ascending.
    """
    reach = (losses.gather(0, best[None, :]) + bound.gather(0, best[None, :]))[0] + slack
    return (((losses - bound) <= reach[None, :]).sum(dim=0) > 1).nonzero().flatten()


def ambiguous_voxels(losses: torch.Tensor, best: torch.Tensor, yy: torch.Tensor, rtol: float):
    """Voxels where another lambda's loss is within rtol * y_o'y_o of the best one.

    Parameters
    ----------
    losses : Tensor [n_lambdas x w], float64
        Direct holdout losses (:func:`holdout_losses`).
    best : Tensor [w], int64
        Index of each voxel's least loss.
    yy : Tensor [w], float64
        y_o'y_o per voxel.
    rtol : float

    Returns
    -------
    Tensor [n_ambiguous], int64
        Positions among the w voxels, ascending.
    """
    best_loss = losses.gather(0, best[None, :])
    gap = losses - best_loss
    gap.scatter_(0, best[None, :], torch.inf)
    return (gap.min(dim=0).values <= rtol * yy.abs()).nonzero().flatten()


class ReferenceScorer:
    """Holdout losses computed with the reference's own operations, in its order.

    Used only for the few voxels whose best lambdas are closer than rounding can
    separate. The cofactors (X'X + l I)^-1 X' for all lambdas ([n_lambdas x p+1 x n_trn])
    are built on first use and kept for the rest of the fit.

    Parameters
    ----------
    x_trn : Tensor [n_trn x p+1], float64
        Train features, ones column last.
    x_holdout : Tensor [n_holdout x p+1], float64
        Holdout features, ones column last.
    lambdas : ndarray [n_lambdas], float64
        The lambda grid.
    """

    def __init__(self, x_trn, x_holdout, lambdas):
        self.x_trn, self.x_holdout, self.lambdas = x_trn, x_holdout, lambdas
        self.cofactor = None

    def losses(self, y_trn, y_holdout) -> torch.Tensor:
        """The reference's holdout sums of squared errors of every lambda.

        Parameters
        ----------
        y_trn : Tensor [n_trn x w], float64
            Train responses of the w voxels to score.
        y_holdout : Tensor [n_holdout x w], float64
            Their holdout responses (not centred).

        Returns
        -------
        Tensor [n_lambdas x w], float64
        """
        if self.cofactor is None:
            mult = self.x_trn.T @ self.x_trn
            ridge_term = torch.eye(self.x_trn.shape[1], device=self.x_trn.device, dtype=torch.float64)
            inv = torch.stack([(mult + ridge_term * float(l)).inverse() for l in self.lambdas], dim=0)
            self.cofactor = torch.tensordot(inv, self.x_trn, dims=[[2], [1]])
        weights = torch.tensordot(self.cofactor, y_trn, dims=[[2], [0]])
        pred = torch.tensordot(self.x_holdout, weights, dims=[[1], [1]])
        return torch.sum(torch.pow(y_holdout[:, None, :] - pred, 2), dim=0)


@dataclass
class RidgeResult:
    """Per voxel results of :func:`fit_ridge` (V voxels).

    Shapes are in the field comments; there ``p`` counts the ones column, so ``weights``
    is [p+1 x V] in fit_ridge's notation.
    """
    best_index: np.ndarray   # [V] index into the lambda grid
    best_lambda: np.ndarray  # [V]
    r2: np.ndarray           # [V] R2 on the validation split
    weights: np.ndarray      # [p x V] in the design's basis, intercept last: prediction = x @ weights
    n_rescored: int          # voxels re-scored with the reference's operations
    n_direct: int = 0        # voxels whose choice needed the direct losses (approximate ones too close)


@dataclass
class _Batch:
    """One voxel batch projected on a basis: z = Q'X'y (train), zo = Q'X_h'y_h (holdout)."""
    z: torch.Tensor
    z_holdout: torch.Tensor
    y_holdout: torch.Tensor              # centred on the train mean where the basis centres
    xty: torch.Tensor | None = None      # X'y (train) and X_h'y_h (holdout) in the basis's columns,
    xty_holdout: torch.Tensor | None = None  # kept for the refit
    y_mean: torch.Tensor | None = None   # train mean of y (centred basis only)


class _PenalizedBasis:
    """The reference's model: the ones column is a feature like any other, penalised.

    Without precomputed products the eigenbasis is folded into the designs, so that
    z = (XQ)'y costs one product instead of two.
    """
    matches_reference = True

    def __init__(self, x_trn, x_holdout, x_val, fold_designs):
        self.x_trn, self.x_holdout = x_trn, x_holdout
        self.design = (x_trn, x_holdout, x_val)     # the columns the weights apply to
        self.evals, self.evecs = torch.linalg.eigh(x_trn.T @ x_trn)
        self.terms = loss_terms(self.evals, self.evecs.T @ (x_holdout.T @ x_holdout) @ self.evecs)
        self.fold = fold_designs
        if fold_designs:
            self.xq_trn, self.xq_holdout = x_trn @ self.evecs, x_holdout @ self.evecs
        self.xq_val = x_val @ self.evecs

    def project(self, y_trn, y_holdout, xty, xty_holdout) -> _Batch:
        if self.fold:
            return _Batch(self.xq_trn.T @ y_trn(), self.xq_holdout.T @ y_holdout, y_holdout)
        ct = xty if xty is not None else self.x_trn.T @ y_trn()
        co = xty_holdout if xty_holdout is not None else self.x_holdout.T @ y_holdout
        return _Batch(self.evecs.T @ ct, self.evecs.T @ co, y_holdout, ct, co)

    def full_weights(self, w, batch):
        return w


class _CentredBasis:
    """Unpenalised intercept: drop the ones column, centre features and responses on the
    train means. Products with the responses come from X'y and 1'y (the ones row)."""
    matches_reference = False

    def __init__(self, x_trn, x_holdout, x_val):
        self.x_trn, self.x_holdout = x_trn, x_holdout
        self.n_trn = x_trn.shape[0]
        self.mean = x_trn[:, :-1].mean(dim=0, keepdim=True)
        xs_trn, self.xs_holdout, xs_val = (x[:, :-1] - self.mean for x in (x_trn, x_holdout, x_val))
        self.design = (xs_trn, self.xs_holdout, xs_val)
        self.evals, self.evecs = torch.linalg.eigh(xs_trn.T @ xs_trn)
        self.terms = loss_terms(self.evals, self.evecs.T @ (self.xs_holdout.T @ self.xs_holdout) @ self.evecs)
        self.xq_val = xs_val @ self.evecs

    def project(self, y_trn, y_holdout, xty, xty_holdout) -> _Batch:
        ct = xty if xty is not None else self.x_trn.T @ y_trn()
        co = xty_holdout if xty_holdout is not None else self.x_holdout.T @ y_holdout
        y_mean = ct[-1] / self.n_trn
        ct = ct[:-1] - self.mean.T * ct[-1][None, :]
        co = co[:-1] - self.mean.T * co[-1][None, :] - self.xs_holdout.sum(dim=0)[:, None] * y_mean[None, :]
        return _Batch(self.evecs.T @ ct, self.evecs.T @ co, y_holdout - y_mean, ct, co, y_mean)

    def full_weights(self, w, batch):
        """Append the intercept, so that prediction = [x 1] @ weights on the uncentred design."""
        return torch.cat([w, (batch.y_mean - self.mean @ w)], dim=0)


class _TrainWeights:
    """Weights from the train split (the reference): w = Q diag(1 / (s + lambda)) z."""

    def __init__(self, basis):
        self.basis = basis

    def solve(self, batch, lam):
        c = batch.z / (self.basis.evals[:, None] + lam[None, :])
        return self.basis.evecs @ c, self.basis.xq_val @ c


class _RefitWeights:
    """Weights refitted on train + holdout with the chosen lambda."""

    def __init__(self, basis):
        x_trn, x_holdout, self.x_val = basis.design
        self.evals, self.evecs = torch.linalg.eigh(x_trn.T @ x_trn + x_holdout.T @ x_holdout)

    def solve(self, batch, lam):
        zf = self.evecs.T @ (batch.xty + batch.xty_holdout)
        w = self.evecs @ (zf / (self.evals[:, None] + lam[None, :]))
        return w, self.x_val @ w


def fit_ridge(x_trn, x_holdout, x_val, y_trn, y_holdout, y_val, lambdas, *,
              xty_trn=None, xty_holdout=None, intercept: str = "penalized",
              refit: bool = False, batch_size: int = 2048, device="cpu",
              tie_rtol: float = 1e-12) -> RidgeResult:
    """Fit every voxel (column of y_*) and score it on the validation split.

    The features' last column is the intercept (ones), as the reference builds them.
    intercept='unpenalized' centres features and responses on the train split instead
    of penalising the ones column; refit=True recomputes the weights on train+holdout
    with the chosen lambda. The reference's behaviour is intercept='penalized', refit=False.
    The lambda is chosen per voxel by the least holdout sum of squared errors, ties going
    to the lowest index (see the module docstring for how).

    Below, p counts the feature columns and p+1 adds the ones column.

    Parameters
    ----------
    x_trn : ndarray or Tensor [n_trn x p+1]
        Train features, ones column last (converted to float64).
    x_holdout : ndarray or Tensor [n_holdout x p+1]
        Holdout features, ones column last.
    x_val : ndarray or Tensor [n_val x p+1]
        Validation features, ones column last.
    y_trn : ndarray or SplitResponses [n_trn x V]
        Train responses, float32 or float64 (float32 converts exactly); anything with
        ``shape`` and indexable as ``y_trn[:, cols]``, read only where needed: for the
        batches whose X'y is not given, and for re-scored voxels.
    y_holdout : ndarray or SplitResponses [n_holdout x V]
        Holdout responses.
    y_val : ndarray or SplitResponses [n_val x V]
        Validation responses.
    lambdas : array-like [n_lambdas]
        The lambda grid (checked by :func:`check_lambdas`).
    xty_trn : ndarray [p+1 x V], optional
        Precomputed x_trn'y_trn, float64, rows in the column order of x_trn (ones row
        last); a layer pair reuses its layers' products.
    xty_holdout : ndarray [p+1 x V], optional
        x_holdout'y_holdout, likewise.
    intercept : {'penalized', 'unpenalized'}
        'penalized' (the reference): the ones column is penalised like any other.
    refit : bool
        True: weights from train + holdout with the chosen lambda.
    batch_size : int
        Voxels per batch (bounds memory).
    device : str or torch.device
    tie_rtol : float
        Voxels whose direct losses put another lambda within tie_rtol * y_o'y_o of the
        best get the reference's losses (penalised intercept only).

    Returns
    -------
    RidgeResult
        best_index [V] int64 (position in ``lambdas``), best_lambda [V] float64, r2 [V]
        float64 (validation R2; NaN where y_val is constant over the images), weights
        [p+1 x V] float64 (prediction = x_val @ weights, intercept coefficient last, for
        both intercept modes), n_rescored and n_direct (counts of voxels).

    Raises
    ------
    ValueError
        An unknown ``intercept``, a bad lambda grid, or responses whose shape does not
        match the features' rows and y_trn's voxel count.
    """
    if intercept not in INTERCEPT_MODES:
        raise ValueError(f"intercept must be one of {INTERCEPT_MODES}, got {intercept!r}")
    lambdas = check_lambdas(lambdas)
    device = torch.device(device)
    x_trn, x_holdout, x_val = (as_tensor(x, device) for x in (x_trn, x_holdout, x_val))
    n_vox = y_trn.shape[1]
    for name, y, n in (("y_trn", y_trn, x_trn.shape[0]), ("y_holdout", y_holdout, x_holdout.shape[0]),
                       ("y_val", y_val, x_val.shape[0])):
        if tuple(y.shape) != (n, n_vox):
            raise ValueError(f"{name} has shape {tuple(y.shape)}, expected {(n, n_vox)}")

    if intercept == "unpenalized":
        basis = _CentredBasis(x_trn, x_holdout, x_val)
    else:
        basis = _PenalizedBasis(x_trn, x_holdout, x_val,
                                fold_designs=not refit and xty_trn is None and xty_holdout is None)
    solver = _RefitWeights(basis) if refit else _TrainWeights(basis)
    scorer = ReferenceScorer(x_trn, x_holdout, lambdas) if basis.matches_reference else None
    lam_t = as_tensor(lambdas, device)

    best_index = np.empty(n_vox, dtype=np.int64)
    r2 = np.empty(n_vox, dtype=np.float64)
    weights = np.empty((x_trn.shape[1], n_vox), dtype=np.float64)
    n_rescored = n_direct = 0
    for start in range(0, n_vox, batch_size):
        sl = slice(start, min(start + batch_size, n_vox))
        batch = basis.project(lambda: as_tensor(y_trn[:, sl], device), as_tensor(y_holdout[:, sl], device),
                              None if xty_trn is None else as_tensor(xty_trn[:, sl], device),
                              None if xty_holdout is None else as_tensor(xty_holdout[:, sl], device))
        yy = torch.linalg.vecdot(batch.y_holdout, batch.y_holdout, dim=0)
        approx, bound = approx_holdout_losses(basis.terms, batch.z, batch.z_holdout, yy, lam_t)
        best = torch.argmin(approx, dim=0)
        # Direct losses where the approximate ones cannot tell: another lambda within the
        # rounding bounds plus the near-tie tolerance (which the reference re-scoring uses).
        near = unresolved_voxels(approx, bound, best, tie_rtol * yy.abs())
        if near.numel():
            losses = holdout_losses(basis.evals, batch.z[:, near], batch.z_holdout[:, near], basis.terms.m,
                                    yy[near], lambdas)
            chosen = torch.argmin(losses, dim=0)
            if scorer is not None:
                amb = ambiguous_voxels(losses, chosen, yy[near], tie_rtol)
                if amb.numel():
                    v = near[amb]
                    ref = scorer.losses(as_tensor(y_trn[:, (v + start).cpu().numpy()], device), batch.y_holdout[:, v])
                    chosen[amb] = torch.argmin(ref, dim=0)
                    n_rescored += int(amb.numel())
            best[near] = chosen
            n_direct += int(near.numel())
        w, pred = solver.solve(batch, lam_t[best])
        if batch.y_mean is not None:
            pred = pred + batch.y_mean[None, :]
        best_index[sl] = best.cpu().numpy()
        r2[sl] = r2_score(as_tensor(y_val[:, sl], device), pred).cpu().numpy()
        weights[:, sl] = basis.full_weights(w, batch).cpu().numpy()
    return RidgeResult(best_index=best_index, best_lambda=lambdas[best_index], r2=r2,
                       weights=weights, n_rescored=n_rescored, n_direct=n_direct)


def cross_products(x, y, *, batch_size: int = 2048, device="cpu") -> np.ndarray:
    """x'y [p+1 x V] in float64, computed in voxel batches (y may be float32).

    Parameters
    ----------
    x : ndarray or Tensor [n x p+1]
        Features (converted to float64).
    y : ndarray or SplitResponses [n x V]
        Responses, float32 or float64; read ``batch_size`` columns at a time.
    batch_size : int
    device : str or torch.device

    Returns
    -------
    ndarray [p+1 x V], float64
    """
    device = torch.device(device)
    xd = as_tensor(x, device)
    out = np.empty((xd.shape[1], y.shape[1]), dtype=np.float64)
    for start in range(0, y.shape[1], batch_size):
        sl = slice(start, min(start + batch_size, y.shape[1]))
        out[:, sl] = (xd.T @ as_tensor(y[:, sl], device)).cpu().numpy()
    return out
