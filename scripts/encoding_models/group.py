"""Group level across subjects: the subject is the unit of inference.

Arrays in, arrays out; no files. A one-sample sign-flip permutation test of
"the subjects' mean is above 0" (exact over all 2^n sign vectors up to
``EXACT_MAX_SUBJECTS`` subjects, seeded random sign vectors above), and
Benjamini-Hochberg q-values across a table (``significance.bh_q_values``).
"""
from __future__ import annotations

import itertools

import numpy as np

from .significance import bh_q_values

EXACT_MAX_SUBJECTS = 12


def t_statistic(values):
    """One-sample t statistic of each column.

    Parameters
    ----------
    values : ndarray, shape (n_subjects, n_tests)
        One value per subject and test; no NaN.

    Returns
    -------
    t : ndarray, shape (n_tests,)
        mean / (sd / sqrt(n)) with sd of ddof 1; +inf / -inf where sd is 0 and the
        mean is positive / negative, 0 where every value is 0.
    """
    x = np.asarray(values, dtype=float)
    n = x.shape[0]
    m = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1) if n > 1 else np.zeros_like(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = m / (sd / np.sqrt(n))
    t = np.where(sd > 0, t, np.sign(m) * np.inf)
    return np.where((sd == 0) & (m == 0), 0.0, t)


def sign_vectors(n_subjects, n_random=None, seed=0):
    """The sign vectors of a sign-flip test.

    Parameters
    ----------
    n_subjects : int
    n_random : int, optional
        Number of random sign vectors when n_subjects > EXACT_MAX_SUBJECTS.
    seed : int
        Seed of the random sign vectors (numpy's default_rng).

    Returns
    -------
    signs : ndarray, shape (n_flips, n_subjects)
        Every vector of +1/-1 (2^n rows, the identity first) up to EXACT_MAX_SUBJECTS
        subjects; above, n_random rows drawn uniformly (the identity not included).
    exact : bool
    """
    if n_subjects <= EXACT_MAX_SUBJECTS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n_subjects)), dtype=float)
        return signs.reshape(-1, n_subjects), True
    if n_random is None or n_random < 1:
        raise ValueError(f"{n_subjects} subjects: more than {EXACT_MAX_SUBJECTS} need a number of random sign flips")
    rng = np.random.default_rng(seed)
    return rng.choice((1.0, -1.0), size=(int(n_random), n_subjects)), False


def _tolerance(x):
    """Rounding slack for comparing a flipped mean with the observed one (ties count)."""
    return 1e-12 * np.maximum(np.abs(x).sum(axis=0), np.finfo(float).tiny)


def sign_flip_p(values, n_random=10000, seed=0):
    """One-sided sign-flip permutation p-values of "mean > 0", one per column.

    Under the null each subject's value is symmetric about 0, so its sign is
    exchangeable. Flipping signs leaves the sum of squares unchanged, so the t
    statistic is an increasing function of the mean over the flips: the p-value of
    the mean and of t are the same; it is computed on the mean.

    Parameters
    ----------
    values : ndarray, shape (n_subjects, n_tests)
        NaN marks a subject without a value for that test: each column is tested on
        its non-NaN subjects (columns with the same subjects are tested together).
    n_random : int
        Random sign vectors when a column has more than EXACT_MAX_SUBJECTS subjects.
    seed : int

    Returns
    -------
    p : ndarray, shape (n_tests,)
        Exact: the fraction of the 2^n sign vectors (the identity included) whose mean
        is >= the observed mean. Random: (1 + count) / (1 + n_random). NaN where fewer
        than 2 subjects have a value.
    n_flips : ndarray of int, shape (n_tests,)
        Sign vectors used (2^n exact, n_random random; 0 where p is NaN).
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"values must be (n_subjects, n_tests), got shape {x.shape}")
    p = np.full(x.shape[1], np.nan)
    n_flips = np.zeros(x.shape[1], dtype=int)
    present = ~np.isnan(x)
    patterns = {}
    for j in range(x.shape[1]):
        patterns.setdefault(tuple(present[:, j]), []).append(j)
    for pattern, cols in patterns.items():
        rows = np.flatnonzero(pattern)
        if rows.size < 2:
            continue
        sub = x[np.ix_(rows, cols)]
        signs, exact = sign_vectors(rows.size, n_random, seed)
        observed = sub.mean(axis=0)
        flipped = signs @ sub / rows.size
        count = (flipped >= observed - _tolerance(sub)).sum(axis=0)
        p[cols] = count / signs.shape[0] if exact else (1 + count) / (1 + signs.shape[0])
        n_flips[cols] = signs.shape[0]
    return p, n_flips


def describe(values):
    """Mean, SEM and number of subjects of each column, NaN ignored.

    Parameters
    ----------
    values : ndarray, shape (n_subjects, n_tests)

    Returns
    -------
    dict of ndarray, each shape (n_tests,)
        mean, sem (sd with ddof 1 / sqrt(n); NaN below 2 subjects), n_subjects, and
        statistic (the one-sample t of the non-NaN values; NaN below 2 subjects).
    """
    x = np.asarray(values, dtype=float)
    n = (~np.isnan(x)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(x, axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isnan(x), 0.0, x - mean)
        sd = np.sqrt((dev ** 2).sum(axis=0) / np.maximum(n - 1, 1))
        sem = np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)
    t = np.full(x.shape[1], np.nan)
    for j in np.flatnonzero(n > 1):
        t[j] = t_statistic(x[~np.isnan(x[:, j]), j][:, None])[0]
    return {"mean": mean, "sem": sem, "n_subjects": n, "statistic": t}


def group_test(values, n_random=10000, seed=0):
    """describe() and sign_flip_p() of each column, with BH q across all columns.

    Parameters
    ----------
    values : ndarray, shape (n_subjects, n_tests)

    Returns
    -------
    dict of ndarray, each shape (n_tests,)
        mean, sem, n_subjects, statistic, p, q, n_flips.
    """
    out = describe(values)
    out["p"], out["n_flips"] = sign_flip_p(values, n_random, seed)
    out["q"] = bh_q_values(out["p"])
    return out


def most_frequent(labels, order):
    """The most frequent label; ties go to the one first in ``order``.

    Parameters
    ----------
    labels : sequence of str (None entries ignored)
    order : sequence of str

    Returns
    -------
    str or None
    """
    labels = [x for x in labels if x is not None]
    if not labels:
        return None
    counts = {name: labels.count(name) for name in order}
    best = max(counts.values())
    return next(name for name in order if counts[name] == best)
