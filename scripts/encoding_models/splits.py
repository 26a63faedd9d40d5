"""Train / holdout / validation split and feature normalisation, as the reference does them."""
from __future__ import annotations

import numpy as np

# The reference's per-subject seeds, for NSD subjects 1..8 (index 8 is spare).
NSD_SPLIT_SEEDS = [171301, 42102, 490304, 521005, 11407, 501610, 552211, 450013, 824387]


def make_split(shared1000, seed: int, pct_holdout: float = 0.10):
    """Boolean masks (trn, holdout, val) over the rows given.

    val = the shared1000 images; holdout = ceil(pct_holdout * rest), drawn with the
    legacy numpy RNG exactly as the reference (np.random.seed, np.random.shuffle);
    train = the remainder. The global numpy RNG state is restored afterwards.
    The reference draws over ALL image_info rows, n_reps == 0 rows included: see
    ``split_kept_rows``.

    Parameters
    ----------
    shared1000 : array-like [n_rows], bool
        True for the rows of the shared1000 images (the validation split).
    seed : int
        The legacy RNG's seed (one per subject: ``NSD_SPLIT_SEEDS``).
    pct_holdout : float
        Fraction of the non-validation rows that go to the holdout split.

    Returns
    -------
    trn, holdout, val : ndarray [n_rows], bool
        Disjoint masks that together cover every row.
    """
    val = np.asarray(shared1000, dtype=bool)
    n_total = val.size
    n_notval = int(np.sum(~val))
    n_holdout = int(np.ceil(n_notval * pct_holdout))
    n_trn = n_notval - n_holdout
    inds_notval = np.where(~val)[0]
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        np.random.shuffle(inds_notval)
    finally:
        np.random.set_state(state)
    trn = np.isin(np.arange(n_total), inds_notval[:n_trn])
    holdout = np.isin(np.arange(n_total), inds_notval[n_trn:])
    return trn, holdout, val


def split_kept_rows(shared1000, kept, seed: int, pct_holdout: float = 0.10, val_allowed=None):
    """The reference's order: split over all image_info rows, then keep the rows with data.

    The rows with data (n_reps > 0) are kept in each split. An image's split therefore
    never depends on which other rows lack data.

    Parameters
    ----------
    shared1000 : array-like [n_rows], bool
        True for the shared1000 images, over all image_info rows.
    kept : array-like [n_rows], bool
        True for the rows with data.
    seed : int
        As in :func:`make_split`.
    pct_holdout : float
        As in :func:`make_split`.
    val_allowed : array-like [n_rows], bool, optional
        ``split.validation: shared_by_all``: shared1000 rows outside it are dropped from
        every split (in none of trn, holdout, val); the train/holdout draw is the
        reference's, unchanged.

    Returns
    -------
    trn, holdout, val : ndarray [n_kept], bool
        The masks of :func:`make_split` restricted to the kept rows (n_kept = kept.sum()).
    """
    kept = np.asarray(kept, dtype=bool)
    trn, holdout, val = make_split(shared1000, seed, pct_holdout)
    if val_allowed is not None:
        val = val & np.asarray(val_allowed, dtype=bool)
    return tuple(mask[kept] for mask in (trn, holdout, val))


def common_validation(image_infos):
    """The shared1000 images every subject saw.

    Parameters
    ----------
    image_infos : iterable of pandas.DataFrame
        Each subject's image_info (columns unique_ims, n_reps, shared1000).

    Returns
    -------
    ndarray [n_common], int64
        Sorted 73k ids (``unique_ims``) marked shared1000 with n_reps > 0 in every table.
    """
    common = None
    for info in image_infos:
        seen = set(info.loc[info["shared1000"].astype(bool) & (info["n_reps"] > 0), "unique_ims"].astype(int))
        common = seen if common is None else common & seen
    return np.array(sorted(common or ()), dtype=np.int64)


def split_normalize(f, trn, holdout, val, *, intercept: bool = True):
    """The reference's split_normalize_feats: z-score with train+holdout statistics.

    Same numpy operations in the same order and dtype as the reference (in-place on
    copies, std + 1e-6), then a ones column. Returns (x_trn, x_holdout, x_val).

    Parameters
    ----------
    f : ndarray [n x p], float32 or float64
        Features of every kept image (p features, no intercept); not modified.
    trn, holdout, val : ndarray [n], bool
        Split masks over the rows of ``f`` (from :func:`split_kept_rows`).
    intercept : bool
        Append the ones column (last).

    Returns
    -------
    x_trn : ndarray [n_trn x p+1]
    x_holdout : ndarray [n_holdout x p+1]
    x_val : ndarray [n_val x p+1]
        Rows in the order of ``f``, dtype of ``f``; the last column is ones (without it,
        [n_split x p] each, when ``intercept`` is False).
    """
    f_trn, f_val, f_holdout = f[trn, :], f[val, :], f[holdout, :]
    f_concat = np.concatenate([f_trn, f_holdout], axis=0)
    m = np.mean(f_concat, axis=0, keepdims=True)
    s = np.std(f_concat, axis=0, keepdims=True) + 1e-6
    for part in (f_trn, f_holdout, f_val):
        part -= m
        part /= s
    if intercept:
        f_trn, f_holdout, f_val = (np.concatenate([p, np.ones((len(p), 1), dtype=p.dtype)], axis=1)
                                   for p in (f_trn, f_holdout, f_val))
    return f_trn, f_holdout, f_val


PRECISIONS = {"float32": np.float32, "float64": np.float64}


def precision_dtype(precision: str):
    """The numpy dtype of an input precision.

    Parameters
    ----------
    precision : {'float32', 'float64'}

    Returns
    -------
    type
        np.float32 or np.float64.

    Raises
    ------
    ValueError
        Any other precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"input precision must be 'float32' or 'float64', got {precision!r}")
    return PRECISIONS[precision]


def quantize(a, precision: str):
    """Round to the configured input precision.

    'float32': round to float32 as the reference's torch.Tensor(...) does; 'float64': keep.

    Parameters
    ----------
    a : array-like [any shape]
    precision : {'float32', 'float64'}

    Returns
    -------
    ndarray [same shape as a]
        Of the precision's dtype (``a`` itself where it already has it).
    """
    return np.asarray(a, dtype=precision_dtype(precision))
