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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

INTERCEPT_MODES = ("penalized", "unpenalized")


def reference_lambdas(n_lambdas: int = 20) -> np.ndarray:
    """The reference's grid: float32 logspace from 1e-4 to 1e10+0.01, minus 0.01.

    Its first values are slightly negative (about -0.0099); they are kept as they are.
    Returned as float64 holding the float32 values exactly (as torch sees them).
    """
    grid = np.logspace(np.log(0.0001), np.log(10**10 + 0.01), n_lambdas,
                       dtype=np.float32, base=np.e) - 0.01
    return grid.astype(np.float64)


def check_lambdas(lambdas) -> np.ndarray:
    """Return the grid as a 1-D float64 array, or raise ValueError saying what is wrong."""
    grid = np.asarray(lambdas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"lambda grid must be a non-empty list of numbers, got shape {grid.shape}")
    bad = ~np.isfinite(grid)
    if bad.any():
        raise ValueError(f"lambda grid has non-finite values at positions {np.flatnonzero(bad).tolist()}")
    return grid


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' fails clearly when it is missing."""
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config asks for device 'cuda' but torch sees no CUDA device")
    return torch.device(name)


def tune_allocator(mmap_threshold=32 << 20, trim_threshold=1 << 30):
    """Keep freed blocks of up to 32 MB in glibc's heap instead of returning them to the OS.

    The batch loop allocates and frees the same few temporaries (up to [n_val x batch])
    again and again; by default each one above 128 kB is a fresh mmap whose pages fault
    in anew, which costs a large share of the run time. Process-wide; no effect on results.
    Does nothing where glibc is absent.
    """
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))
        libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold))
    except (OSError, AttributeError):
        pass


def _t(a, device) -> torch.Tensor:
    """float64 tensor on device (float32 input converts exactly). Strided numpy views
    (a column block of a row-major matrix) are used in place where possible."""
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=torch.float64)
    a = np.asarray(a)
    if any(s < 0 for s in a.strides):
        a = np.ascontiguousarray(a)
    return torch.from_numpy(a).to(device=device, dtype=torch.float64)


def r2_score(actual: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """The reference's get_r2: 1 - SSres/SStot along the samples axis."""
    res = predicted - actual
    dev = actual - actual.mean(dim=0)
    return 1 - torch.linalg.vecdot(res, res, dim=0) / torch.linalg.vecdot(dev, dev, dim=0)


def shrinkage(evals, lambdas) -> torch.Tensor:
    """d[k, j] = 1 / (s_j + lambda_k): [n_lambdas x p]."""
    lam = torch.as_tensor(np.asarray(lambdas, dtype=np.float64), device=evals.device)
    return 1.0 / (evals[None, :] + lam[:, None])


def holdout_losses(evals, z, zo, m, yy, lambdas) -> torch.Tensor:
    """Holdout sum of squared errors for each lambda: [n_lambdas x batch].

    L_k = y_o'y_o - 2 sum_j d_kj zo_j z_j + z' (D_k M D_k) z with D_k = diag(d_k). The
    linear term for every lambda is one product d @ (zo * z); the quadratic one is one
    [p x p] @ [p x batch] product per lambda, with D_k folded into the small matrix.
    """
    d = shrinkage(evals, lambdas)
    out = yy[None, :] - 2 * (d @ (zo * z))
    for k in range(d.shape[0]):
        q = (m * (d[k][:, None] * d[k][None, :])) @ z
        out[k] += q.mul_(z).sum(dim=0)
    return out


def ambiguous_voxels(losses: torch.Tensor, best: torch.Tensor, yy: torch.Tensor, rtol: float):
    """Voxels where another lambda's loss is within rtol * y_o'y_o of the best one."""
    best_loss = losses.gather(0, best[None, :])
    gap = losses - best_loss
    gap.scatter_(0, best[None, :], torch.inf)
    return (gap.min(dim=0).values <= rtol * yy.abs()).nonzero().flatten()


class ReferenceScorer:
    """Holdout losses computed with the reference's own operations, in its order.

    Used only for the few voxels whose best lambdas are closer than rounding can
    separate. The cofactors (X'X + l I)^-1 X' for all lambdas ([n_lambdas x p x n_trn])
    are built on first use and kept for the rest of the fit.
    """

    def __init__(self, x_trn, x_out, lambdas):
        self.x_trn, self.x_out, self.lambdas = x_trn, x_out, lambdas
        self.cofactor = None

    def losses(self, y_trn, y_out) -> torch.Tensor:
        if self.cofactor is None:
            mult = self.x_trn.T @ self.x_trn
            ridge_term = torch.eye(self.x_trn.shape[1], device=self.x_trn.device, dtype=torch.float64)
            inv = torch.stack([(mult + ridge_term * float(l)).inverse() for l in self.lambdas], dim=0)
            self.cofactor = torch.tensordot(inv, self.x_trn, dims=[[2], [1]])
        weights = torch.tensordot(self.cofactor, y_trn, dims=[[2], [0]])
        pred = torch.tensordot(self.x_out, weights, dims=[[1], [1]])
        return torch.sum(torch.pow(y_out[:, None, :] - pred, 2), dim=0)


@dataclass
class RidgeResult:
    best_index: np.ndarray   # [V] index into the lambda grid
    best_lambda: np.ndarray  # [V]
    r2: np.ndarray           # [V] R2 on the validation split
    n_rescored: int          # voxels re-scored with the reference's operations


def _center(x_trn, x_out, x_val):
    """Unpenalised intercept: drop the ones column, centre on the train means."""
    mean = x_trn[:, :-1].mean(dim=0, keepdim=True)
    return mean, x_trn[:, :-1] - mean, x_out[:, :-1] - mean, x_val[:, :-1] - mean


def fit_ridge(x_trn, x_out, x_val, y_trn, y_out, y_val, lambdas, *,
              xty_trn=None, xty_out=None, intercept: str = "penalized",
              refit: bool = False, batch_size: int = 2048, device="cpu",
              tie_rtol: float = 1e-12) -> RidgeResult:
    """Fit every voxel (column of y_*) and score it on the validation split.

    x_*: [n x p] features whose last column is the intercept (ones), as the reference
    builds them. y_*: [n x V] responses (float32 or float64 arrays; float32 converts
    exactly). xty_trn / xty_out: optional precomputed x_trn'y_trn and x_out'y_out
    [p x V] (a layer pair reuses its layers' products). intercept='unpenalized' centres
    features and responses on the train split instead of penalising the ones column;
    refit=True recomputes the weights on train+holdout with the chosen lambda.
    The reference's behaviour is intercept='penalized', refit=False.
    """
    if intercept not in INTERCEPT_MODES:
        raise ValueError(f"intercept must be one of {INTERCEPT_MODES}, got {intercept!r}")
    lambdas = check_lambdas(lambdas)
    device = torch.device(device)
    x_trn, x_out, x_val = (_t(x, device) for x in (x_trn, x_out, x_val))
    n_trn, n_out = x_trn.shape[0], x_out.shape[0]
    n_vox = y_trn.shape[1]
    for name, y, n in (("y_trn", y_trn, n_trn), ("y_out", y_out, n_out), ("y_val", y_val, x_val.shape[0])):
        if y.shape != (n, n_vox):
            raise ValueError(f"{name} has shape {tuple(y.shape)}, expected {(n, n_vox)}")

    centred = intercept == "unpenalized"
    if centred:
        x_mean, xs_trn, xs_out, xs_val = _center(x_trn, x_out, x_val)
    else:
        xs_trn, xs_out, xs_val = x_trn, x_out, x_val
    evals, evecs = torch.linalg.eigh(xs_trn.T @ xs_trn)
    m = evecs.T @ (xs_out.T @ xs_out) @ evecs
    # Without precomputed products, the eigenbasis is folded into the designs:
    # z = (XQ)'y costs one product instead of two.
    direct = not centred and not refit and xty_trn is None and xty_out is None
    if direct:
        xq_trn, xq_out = x_trn @ evecs, x_out @ evecs
    xq_val = xs_val @ evecs
    if refit:
        full_evals, full_evecs = torch.linalg.eigh(xs_trn.T @ xs_trn + xs_out.T @ xs_out)

    scorer = ReferenceScorer(x_trn, x_out, lambdas)
    best_index = np.empty(n_vox, dtype=np.int64)
    r2 = np.empty(n_vox, dtype=np.float64)
    n_rescored = 0
    for start in range(0, n_vox, batch_size):
        sl = slice(start, min(start + batch_size, n_vox))
        yo, yv = _t(y_out[:, sl], device), _t(y_val[:, sl], device)
        if direct:
            z, zo = xq_trn.T @ _t(y_trn[:, sl], device), xq_out.T @ yo
        else:
            ct = _t(xty_trn[:, sl], device) if xty_trn is not None else x_trn.T @ _t(y_trn[:, sl], device)
            co = _t(xty_out[:, sl], device) if xty_out is not None else x_out.T @ yo
            if centred:
                # (x - mean)'(y - ybar) from x'y and 1'y (the ones row), ybar = train mean
                ybar = ct[-1] / n_trn
                ct = ct[:-1] - x_mean.T * ct[-1][None, :]
                co = co[:-1] - x_mean.T * co[-1][None, :] - xs_out.sum(dim=0)[:, None] * ybar[None, :]
                yo = yo - ybar
            z, zo = evecs.T @ ct, evecs.T @ co
        yy = torch.linalg.vecdot(yo, yo, dim=0)
        losses = holdout_losses(evals, z, zo, m, yy, lambdas)
        best = torch.argmin(losses, dim=0)
        if not centred:
            amb = ambiguous_voxels(losses, best, yy, tie_rtol)
            if amb.numel():
                cols = (amb + start).cpu().numpy()
                ref = scorer.losses(_t(y_trn[:, cols], device), yo[:, amb])
                best[amb] = torch.argmin(ref, dim=0)
                n_rescored += int(amb.numel())
        if refit:
            zf = full_evecs.T @ (ct + co)
            w = full_evecs @ (zf / (full_evals[:, None] + _t(lambdas, device)[best][None, :]))
            pred = xs_val @ w
        else:
            pred = xq_val @ (z / (evals[:, None] + _t(lambdas, device)[best][None, :]))
        if centred:
            pred = pred + ybar[None, :]
        best_index[sl] = best.cpu().numpy()
        r2[sl] = r2_score(yv, pred).cpu().numpy()
    return RidgeResult(best_index=best_index, best_lambda=lambdas[best_index], r2=r2,
                       n_rescored=n_rescored)


def cross_products(x, y, *, batch_size: int = 2048, device="cpu") -> np.ndarray:
    """x'y [p x V] in float64, computed in voxel batches (y may be float32)."""
    device = torch.device(device)
    xd = _t(x, device)
    out = np.empty((xd.shape[1], y.shape[1]), dtype=np.float64)
    for start in range(0, y.shape[1], batch_size):
        sl = slice(start, min(start + batch_size, y.shape[1]))
        out[:, sl] = (xd.T @ _t(y[:, sl], device)).cpu().numpy()
    return out
