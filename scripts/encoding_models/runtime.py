"""The torch runtime the compute stages share: device, threads and allocator, float64
tensors, and R2.

Arrays in, tensors out; no file access. Every module that computes with torch (ridge,
banded, stats, the fit and statistics stages) takes its device and tensors from here,
so that one place decides how numpy arrays become float64 tensors and what R2 means.
"""
from __future__ import annotations

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device a config's ``device`` names.

    'auto' -> CUDA when available, else CPU; 'cuda' fails clearly when it is missing.

    Parameters
    ----------
    name : str
        'auto', 'cpu', 'cuda' or any name torch.device takes ('cuda:1', ...).

    Returns
    -------
    torch.device

    Raises
    ------
    RuntimeError
        ``name`` is 'cuda' and torch sees no CUDA device.
    """
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config asks for device 'cuda' but torch sees no CUDA device")
    return torch.device(name)


def configure_runtime(threads=None, mmap_threshold=32 << 20, trim_threshold=256 << 20):
    """Set torch's threads and glibc's allocator thresholds for the batch loops.

    Sets torch's thread count (a job's threads, where given), and keeps freed blocks of
    up to 32 MB in glibc's heap instead of returning them to the OS.

    The batch loop allocates and frees the same few temporaries (up to [n_val x batch])
    again and again; by default each one above 128 kB is a fresh mmap whose pages fault
    in anew, which costs a large share of the run time. Process-wide; no effect on results.
    Does nothing where glibc is absent.

    Parameters
    ----------
    threads : int, optional
        torch's intra-op thread count; None or 0 leaves it as it is.
    mmap_threshold : int
        Bytes: glibc's M_MMAP_THRESHOLD (allocations above it are mmapped).
    trim_threshold : int
        Bytes: glibc's M_TRIM_THRESHOLD (free heap above it is returned to the OS).

    Returns
    -------
    None
    """
    import ctypes
    import ctypes.util
    if threads:
        torch.set_num_threads(int(threads))
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))
        libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold))
    except (OSError, AttributeError):
        pass


def as_tensor(a, device) -> torch.Tensor:
    """A float64 tensor on ``device`` (float32 input converts exactly).

    Strided numpy views (a column block of a row-major matrix) are used in place where
    possible; arrays with negative strides are copied first (torch cannot view them).

    Parameters
    ----------
    a : ndarray, Tensor or array-like [any shape]
        Any real dtype.
    device : str or torch.device

    Returns
    -------
    Tensor [same shape as a], float64
        A float64 numpy array on the CPU is not copied: the tensor shares its memory, so
        in-place operations on it change ``a``.
    """
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=torch.float64)
    a = np.asarray(a)
    if any(s < 0 for s in a.strides):
        a = np.ascontiguousarray(a)
    return torch.from_numpy(a).to(device=device, dtype=torch.float64)


def r2_score(actual: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """Coefficient of determination per column: the reference's get_r2.

    1 - SSres/SStot along the samples axis (SStot about the mean of ``actual``); NaN
    (undefined, where the reference gives -inf or NaN) for a voxel constant over the
    samples.

    Parameters
    ----------
    actual : Tensor [n x V], float64
        Measured responses.
    predicted : Tensor [n x V], float64
        Predictions of the same samples.

    Returns
    -------
    Tensor [V], float64
        R2 per voxel; NaN where SStot is 0 (constant voxel) or not a number (NaN in
        ``actual``).
    """
    res = predicted - actual
    dev = actual - actual.mean(dim=0)
    sstot = torch.linalg.vecdot(dev, dev, dim=0)
    r2 = 1 - torch.linalg.vecdot(res, res, dim=0) / sstot
    return torch.where(sstot > 0, r2, torch.nan)
