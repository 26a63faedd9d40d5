"""The responses the fits use, split once per subject into files read partially and fast.

``prepare`` reads the betas once and writes, per split (trn, holdout, val), the kept rows'
betas of the selected voxels, rounded to the configured precision, in voxel blocks: the
file holds a 4 kB JSON header, then for each block of BLOCK voxels an [images x BLOCK]
C-order array (the last block may be narrower). A job reads a voxel block as one
contiguous read: no job maps or holds a whole split, and the betas file is read by
``prepare`` alone.
"""
from __future__ import annotations

import json
import os

import numpy as np

SPLITS = ("trn", "holdout", "val")
BLOCK = 1024          # voxels per stored block; fits read batches of whole blocks
HEADER_BYTES = 4096


def _block_bounds(n_voxels, block=BLOCK):
    return [(start, min(start + block, n_voxels)) for start in range(0, n_voxels, block)]


class SplitWriter:
    """Write row blocks of kept images into the per-split block files.

    masks: split -> bool over the kept rows. Tracks, per voxel, the range over the
    validation rows, so that voxels constant there (R2 undefined) are known.

    The files are written under temporary names and renamed into place by
    :meth:`close`; call it in every case (``ok=False`` on failure).

    Parameters
    ----------
    paths : dict of str to path
        Output file of each split in SPLITS.
    masks : dict of str to ndarray [n_kept], bool
        Rows of each split, over the kept rows (from ``splits.split_kept_rows``).
    n_voxels : int
        Columns (selected voxels) of every block.
    dtype : dtype
        Stored precision (float32 or float64).
    """

    def __init__(self, paths: dict, masks: dict, n_voxels: int, dtype):
        from .io import atomic_path
        self.masks, self.dtype, self.n_voxels = masks, np.dtype(dtype), int(n_voxels)
        self._contexts, self.files, self.rows_written = {}, {}, {}
        for split in SPLITS:
            ctx = atomic_path(paths[split])
            tmp = ctx.__enter__()
            self._contexts[split] = ctx
            fh = open(tmp, "wb")
            n = int(masks[split].sum())
            header = json.dumps({"shape": [n, self.n_voxels], "block": BLOCK, "dtype": self.dtype.str}).encode()
            fh.write(header.ljust(HEADER_BYTES, b" "))
            self.files[split], self.rows_written[split] = fh, 0
        self.val_lo = np.full(n_voxels, np.inf)
        self.val_hi = np.full(n_voxels, -np.inf)

    def __call__(self, first_row, block):
        """Append one block of kept rows to the split files.

        Blocks must come in row order and without gaps: each split's rows are appended after
        those already written.

        Parameters
        ----------
        first_row : int
            Kept-row index of the block's first row.
        block : ndarray [n_rows x n_voxels]
            Betas of kept rows first_row .. first_row + n_rows - 1; rounded to ``dtype``.
        """
        rows = slice(first_row, first_row + block.shape[0])
        for split in SPLITS:
            part = block[self.masks[split][rows]]
            if not part.shape[0]:
                continue
            n = int(self.masks[split].sum())
            r0 = self.rows_written[split]
            fd = self.files[split].fileno()
            for start, stop in _block_bounds(self.n_voxels):
                offset = HEADER_BYTES + (start * n + r0 * (stop - start)) * self.dtype.itemsize
                os.pwrite(fd, memoryview(np.ascontiguousarray(part[:, start:stop], dtype=self.dtype)).cast("B"), offset)
            self.rows_written[split] += part.shape[0]
            if split == "val":
                self.val_lo = np.minimum(self.val_lo, part.min(axis=0))
                self.val_hi = np.maximum(self.val_hi, part.max(axis=0))

    def close(self, ok=True):
        """Rename the files into place (ok) or remove them; returns the val-constant voxels.

        Parameters
        ----------
        ok : bool
            True: the files are complete and move into place; False: they are removed.

        Returns
        -------
        ndarray [n_voxels], bool
            True where a voxel's value is the same over every validation row written (its R2
            is undefined).
        """
        for split in SPLITS:
            self.files[split].close()
            if ok:
                self._contexts[split].__exit__(None, None, None)
            else:
                try:
                    self._contexts[split].__exit__(RuntimeError, RuntimeError("failed"), None)
                except RuntimeError:
                    pass
        return self.val_hi - self.val_lo == 0


class SplitResponses:
    """Read-only [images x voxels] view of one split file.

    ``y[:, cols]`` (a slice or an index array) returns a C-contiguous array of
    ``out_dtype`` (float64, what the solver computes in: widening float32 is exact, so
    results do not change). A slice is read block by block, each block one contiguous
    read.

    Parameters
    ----------
    path : path
        A split file written by :class:`SplitWriter`.
    out_dtype : dtype
        dtype of the arrays returned.

    Attributes
    ----------
    shape : tuple of int
        (n_images, n_voxels) of the split.
    block : int
        Voxels per stored block.
    dtype : dtype
        Stored dtype.
    """

    def __init__(self, path, out_dtype=np.float64):
        self.path, self.out_dtype = path, np.dtype(out_dtype)
        with open(path, "rb") as fh:
            meta = json.loads(fh.read(HEADER_BYTES).decode())
        self.shape, self.block, self.dtype = tuple(meta["shape"]), int(meta["block"]), np.dtype(meta["dtype"])

    def _read_block(self, fd, start, stop):
        n = self.shape[0]
        buf = np.empty((n, stop - start), dtype=self.dtype)
        want = buf.nbytes
        got = os.preadv(fd, [memoryview(buf).cast("B")], HEADER_BYTES + start * n * self.dtype.itemsize)
        if got != want:
            raise OSError(f"{self.path}: truncated (read {got} of {want} bytes at voxel {start})")
        return buf

    def __getitem__(self, key):
        """Whole columns ``y[:, cols]``.

        Parameters
        ----------
        key : tuple
            ``(slice(None), cols)`` with ``cols`` a slice or an int index array [w] over the
            voxels (any order, repeats allowed).

        Returns
        -------
        ndarray [n_images x w], out_dtype
            C-contiguous.

        Raises
        ------
        IndexError
            Rows other than ``:`` are asked for.
        OSError
            The file is truncated.
        """
        rows, cols = key
        if rows != slice(None):
            raise IndexError("SplitResponses reads whole columns: use y[:, cols]")
        cols = np.arange(self.shape[1])[cols]
        out = np.empty((self.shape[0], cols.size), dtype=self.out_dtype)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for start, stop in _block_bounds(self.shape[1], self.block):
                sel = (cols >= start) & (cols < stop)
                if not sel.any():
                    continue
                part = self._read_block(fd, start, stop)
                where = np.flatnonzero(sel)
                if where.size == stop - start and np.array_equal(cols[where], np.arange(start, stop)):
                    np.copyto(out[:, where[0]:where[-1] + 1], part)
                else:
                    out[:, where] = part[:, cols[where] - start]
        finally:
            os.close(fd)
        return out
