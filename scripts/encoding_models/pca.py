"""Streaming PCA of activations too large to hold: a randomised subspace iteration over row blocks.

Arrays in, arrays out: no file access. The fit sees the fit rows (e.g. the train split's images)
as a stream of blocks [b x d], several times, always in the same order; the caller produces
each pass (for features: one forward pass of the network over the fit images, all layers of
a network advancing together). Then ``transform`` projects any row block.

Algorithm (Halko, Martinsson & Tropp 2011, algorithm 4.4, with the data streamed by rows):
  pass 1      mean and Y = (X - mean) Omega            Omega [d x l] Gaussian, l = k + oversamples
  q times     Z = orth((X - mean)^T Q); Y = (X - mean) Z, Q = orth(Y)   (two passes each)
  last pass   B^T = (X - mean)^T Q  [d x l]; SVD B = W S U^T; components = U[:, :k]
so 2 + 2q passes over the fit rows. Accumulation is in float64. With l >= n (fewer fit rows than
the sketch), Q spans every direction of the centred rows and the result equals an exact PCA
(to rounding); with more rows it is the randomised approximation, whose error falls with q.

Memory bound (per layer of d values, n fit rows, l = n_components + oversamples):
about 2 x 8 x d x l bytes (one [d x l] float64 accumulator and its orthonormalised copy),
plus 8 x n x l bytes (Y), plus the block being processed; never n x d.

Sign convention: each component (a unit vector over the d activation values) is flipped so that
its entry of largest magnitude is positive (as scikit-learn's ``svd_flip(u_based_decision=False)``).
"""
from __future__ import annotations

import numpy as np


def flip_signs(components):
    """Flip each row so that its entry of largest magnitude is positive.

    Parameters
    ----------
    components : np.ndarray [k x d]

    Returns
    -------
    np.ndarray [k x d], a copy with rows possibly negated.
    """
    components = np.array(components, copy=True)
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), idx])
    signs[signs == 0] = 1
    return components * signs[:, None]


def memory_bound_bytes(d: int, n_fit: int, n_components: int, oversamples: int) -> int:
    """The module's stated bound on the fit's own arrays for one layer (bytes)."""
    sketch = n_components + oversamples
    return 8 * (2 * d * sketch + n_fit * sketch + 2 * d)


class StreamingPCA:
    """PCA of the fit rows of one layer, fitted from passes over row blocks.

    Parameters
    ----------
    d : number of values per row.
    n_components : k, the number of components kept (at most min(n_fit - 1, d)).
    oversamples : extra sketch columns (l = k + oversamples).
    power_iterations : q, passes pairs that sharpen the subspace (2 + 2q passes in all).
    seed : seed of the Gaussian test matrix.
    device : torch device of the accumulators ('cpu' or a CUDA device).

    Usage: ``for p in range(pca.n_passes): pca.begin_pass(); [pca.update(block) ...]; pca.end_pass()``,
    then ``pca.transform(block)``. Every pass must give the same rows in the same order.
    """

    def __init__(self, d, n_components, oversamples=10, power_iterations=1, seed=0, device="cpu"):
        import torch
        self.d, self.k = int(d), int(n_components)
        if self.k < 1 or self.k > self.d:
            raise ValueError(f"n_components must be in 1..{self.d} (the layer's size), got {self.k}")
        self.l = min(self.k + int(oversamples), self.d)
        self.q = int(power_iterations)
        self.seed = int(seed)
        self.device = torch.device(device)
        self.n_passes = 2 + 2 * self.q
        self.pass_index = -1
        self.n_fit = None
        self.mean = None
        self.components = None          # [k x d] float64 (numpy), after the last pass
        self.explained_variance = None  # [k]
        self.total_variance = None

    # ------------------------------------------------------------------ passes
    def begin_pass(self):
        import torch
        self.pass_index += 1
        if self.pass_index >= self.n_passes:
            raise RuntimeError("the fit is complete; no further pass")
        self._row = 0
        self._parts = []
        kind = self._kind()
        if kind == "first":
            g = torch.Generator(device="cpu").manual_seed(self.seed)
            self._omega = torch.randn(self.d, self.l, generator=g, dtype=torch.float64).to(self.device)
            self._shift = None
            self._sum = torch.zeros(self.d, dtype=torch.float64, device=self.device)
            self._sumsq = 0.0
        elif kind == "left":    # accumulate (X - mean)^T Q  [d x l]
            self._acc = torch.zeros(self.d, self._q.shape[1], dtype=torch.float64, device=self.device)

    def _kind(self):
        if self.pass_index == 0:
            return "first"
        # passes 1, 3, ...: X^T Q (the last one gives B^T); passes 2, 4, ...: X Z
        return "left" if self.pass_index % 2 == 1 else "right"

    def update(self, block):
        """One block of rows, [b x d] (numpy or torch, any float dtype)."""
        import torch
        x = torch.as_tensor(block).to(self.device, torch.float64)
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"block must be [rows x {self.d}], got {tuple(x.shape)}")
        kind = self._kind()
        if kind == "first":
            if self._shift is None:   # a provisional centre, so that sums do not lose digits
                self._shift = x.mean(dim=0)
            xs = x - self._shift
            self._sum += xs.sum(dim=0)
            self._sumsq += float((xs * xs).sum())
            self._parts.append(xs @ self._omega)
        else:
            xc = x - self._mean_t
            rows = slice(self._row, self._row + x.shape[0])
            if kind == "left":
                self._acc += xc.T @ self._q[rows]
            else:
                self._parts.append(xc @ self._z)
        self._row += x.shape[0]

    def end_pass(self):
        import torch
        kind = self._kind()
        if kind == "first":
            n = self._row
            if n < 2:
                raise ValueError(f"PCA needs at least 2 fit rows, got {n}")
            if self.k > n - 1:
                raise ValueError(f"n_components {self.k} exceeds the {n} fit rows' rank ({n - 1})")
            self.n_fit = n
            delta = self._sum / n                    # mean - shift
            self._mean_t = self._shift + delta
            y = torch.cat(self._parts) - (delta @ self._omega)[None, :]
            # total variance of the centred rows: sum |x - mean|^2 = sum |x - shift|^2 - n |delta|^2
            self.total_variance = (self._sumsq - n * float(delta @ delta)) / (n - 1)
            del self._omega
            self._q = torch.linalg.qr(y).Q
        else:
            if self._row != self.n_fit:
                raise ValueError(f"pass {self.pass_index} saw {self._row} rows, the first saw {self.n_fit}")
            if kind == "right":
                self._q = torch.linalg.qr(torch.cat(self._parts)).Q
                del self._z
            elif self.pass_index < self.n_passes - 1:
                self._z = torch.linalg.qr(self._acc).Q
                del self._acc
            else:
                self._finish()
        self._parts = []

    def _finish(self):
        import torch
        bt = self._acc                      # [d x l] = (X - mean)^T Q = B^T
        u, s, _ = torch.linalg.svd(bt, full_matrices=False)
        comps = u[:, :self.k].T.cpu().numpy()
        self.components = flip_signs(comps)
        self.explained_variance = (s[:self.k] ** 2).cpu().numpy() / (self.n_fit - 1)
        self.mean = self._mean_t.cpu().numpy()
        self._comp_t = torch.as_tensor(self.components, device=self.device)
        del self._acc, self._q

    # ------------------------------------------------------------------ use
    @property
    def fitted(self) -> bool:
        return self.components is not None

    @property
    def explained_variance_ratio(self):
        return self.explained_variance / self.total_variance

    def transform(self, block):
        """Scores of a block of rows.

        Parameters
        ----------
        block : [b x d] numpy or torch array.

        Returns
        -------
        np.ndarray float64 [b x k]: (rows - mean) @ components.T
        """
        import torch
        if not self.fitted:
            raise RuntimeError("transform before the fit is complete")
        x = torch.as_tensor(block).to(self.device, torch.float64)
        return ((x - self._mean_t) @ self._comp_t.T).cpu().numpy()


def exact_pca(x, n_components):
    """Reference PCA of rows held in memory (numpy SVD), with the module's sign convention.

    Parameters
    ----------
    x : np.ndarray [n x d]
    n_components : k

    Returns
    -------
    mean [d], components [k x d], explained_variance [k]
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, flip_signs(vt[:n_components]), s[:n_components] ** 2 / (x.shape[0] - 1)
