"""Result files: written atomically (temporary name, renamed when complete)."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil

import numpy as np


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` (a file or a directory the caller creates);
    rename it to ``path`` only on success, remove it otherwise."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(path))
    for stale in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(stem)}.*.partial{ext}")):
        _remove(stale)   # left by a writer that was killed (SIGKILL) before it could clean up
    tmp = os.path.join(directory, f".{stem}.{os.getpid()}.partial{ext}")  # keeps the extension
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def write_h5(path, datasets: dict, attrs: dict | None = None):
    """Write datasets (name -> array) and attributes to an HDF5 file atomically."""
    import h5py
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for name, value in datasets.items():
                value = np.asarray(value)
                if value.dtype.kind in "UO":
                    value = value.astype("S")
                f.create_dataset(name, data=value)
            for key, value in (attrs or {}).items():
                f.attrs[key] = value


def read_h5(path, names=None) -> dict:
    """Read datasets (all, or the given names) of a result file into a dict."""
    import h5py
    with h5py.File(path, "r") as f:
        names = list(f.keys()) if names is None else names
        out = {n: f[n][()] for n in names}
    for n, v in out.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "S":
            out[n] = v.astype(str)
    return out


def write_tsv(df, path):
    """A pandas DataFrame as a tab-separated table (10 significant digits), written atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format="%.10g")
