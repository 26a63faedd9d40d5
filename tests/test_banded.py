"""Banded ridge (encoding_models.banded) against fit_ridge, a direct solve and himalaya."""
import numpy as np
import pytest
import torch

from encoding_models import banded, ridge, runtime

N_TRN, N_OUT, N_VAL = 600, 150, 200


def split(a):
    return a[:N_TRN], a[N_TRN:N_TRN + N_OUT], a[N_TRN + N_OUT:]


def two_band_data(seed, pa=10, pb=15, n_vox=200, scale_b=30.0, noise_b=False):
    """Band A: unit-scale features carrying most of the signal; band B: features on a very
    different scale carrying little (or, with noise_b, none) of it. Responses have offsets."""
    rng = np.random.default_rng(seed)
    n = N_TRN + N_OUT + N_VAL
    a = rng.standard_normal((n, pa))
    b = rng.standard_normal((n, pb)) * scale_b + 0.3 * scale_b * a[:, :1]
    y = a @ rng.standard_normal((pa, n_vox)) * rng.uniform(0.1, 0.6, n_vox)
    if not noise_b:
        y += b @ rng.standard_normal((pb, n_vox)) * rng.uniform(0, 0.2, n_vox) / scale_b
    y += rng.standard_normal((n, n_vox)) + rng.normal(0, 3, n_vox)
    x = np.concatenate([a, b, np.ones((n, 1))], 1)
    return split(x), split(y), [slice(0, pa), slice(pa, pa + pb)]


def direct_weights(xs, y_trn, col_lambdas):
    """Centred solve (Xc'Xc + diag(col_lambdas)) beta = Xc'yc; intercept last."""
    x = xs[0][:, :-1]
    mx, my = x.mean(0), y_trn.mean(0)
    xc, yc = x - mx, y_trn - my
    beta = np.linalg.solve(xc.T @ xc + np.diag(col_lambdas), xc.T @ yc)
    return np.concatenate([beta, [my - mx @ beta]])


def test_ratio_one_equals_concatenated_unpenalized_fit_ridge():
    xs, ys, bands = two_band_data(0)
    lam = np.logspace(-3, 7, 20)
    ref = ridge.fit_ridge(*xs, *ys, lam, intercept="unpenalized")
    for kwargs in ({}, {"xty_trn": xs[0].T @ ys[0], "xty_holdout": xs[1].T @ ys[1], "batch_size": 37}):
        res = banded.fit_banded_ridge(*xs, *ys, bands, lam, [1.0], **kwargs)
        assert np.array_equal(res.best_index, ref.best_index)
        assert np.max(np.abs(res.band_lambdas - ref.best_lambda[:, None])) <= 1e-9 * np.max(lam)
        assert np.max(np.abs(res.r2 - ref.r2)) < 1e-9
    assert len(set(ref.best_index)) > 1


def test_weights_are_the_banded_solution_in_the_original_basis():
    xs, ys, bands = two_band_data(1, n_vox=40)
    lam = np.logspace(-2, 6, 9)
    res = banded.fit_banded_ridge(*xs, *ys, bands, lam, np.logspace(-4, 4, 9), batch_size=16)
    owner = np.r_[np.zeros(10, int), np.ones(15, int)]
    for v in range(0, 40, 7):
        w = direct_weights(xs, ys[0][:, v], res.band_lambdas[v, owner])
        assert np.allclose(res.weights[:, v], w, rtol=1e-8, atol=1e-10)
    assert np.array_equal(banded.fit_banded_ridge(*xs, *ys, bands, lam, np.logspace(-4, 4, 9),
                                                  batch_size=16, return_weights=False).r2, res.r2)
    pred = xs[2] @ res.weights
    r2 = runtime.r2_score(torch.from_numpy(ys[2]), torch.from_numpy(pred)).numpy()
    assert np.max(np.abs(r2 - res.r2)) < 1e-10
    # the chosen candidate has the least holdout loss of all candidates
    for v in (0, 5):
        losses = [np.sum((ys[1][:, v] - xs[1] @ direct_weights(xs, ys[0][:, v], l * wb[owner])) ** 2)
                  for wb in res.band_weights for l in lam]
        assert np.isclose(min(losses), res.holdout_loss[v], rtol=1e-9)


def test_three_bands_product_grid():
    rng = np.random.default_rng(2)
    n = N_TRN + N_OUT + N_VAL
    f = rng.standard_normal((n, 12)) * np.repeat([1.0, 10.0, 0.1], 4)
    y = f[:, :4] @ rng.standard_normal((4, 30)) + rng.standard_normal((n, 30))
    xs, ys = split(np.c_[f, np.ones(n)]), split(y)
    bands = [slice(0, 4), np.arange(4, 8), [8, 9, 10, 11]]
    res = banded.fit_banded_ridge(*xs, *ys, bands, np.logspace(-2, 5, 8), [0.01, 1, 100])
    assert res.band_weights.shape == (9, 3) and res.band_lambdas.shape == (30, 3)
    owner = np.repeat([0, 1, 2], 4)
    for v in (0, 13):
        assert np.allclose(res.weights[:, v], direct_weights(xs, ys[0][:, v], res.band_lambdas[v, owner]), rtol=1e-8)


def test_candidate_sets():
    w = banded.ratio_candidates(np.logspace(-4, 4, 9))
    assert w.shape == (9, 2)
    assert np.allclose(w[:, 1] / w[:, 0], np.logspace(-4, 4, 9)) and np.allclose(np.prod(w, 1), 1)
    assert np.allclose(w[4], 1)
    w3 = banded.ratio_candidates([0.1, 1, 10], 3)
    assert w3.shape == (9, 3) and np.allclose(np.prod(w3, 1), 1)
    assert np.allclose(w3[:, 1:] / w3[:, :1], [[r2, r3] for r2 in (0.1, 1, 10) for r3 in (0.1, 1, 10)])
    d = banded.dirichlet_candidates(4, 20, seed=1)
    assert d.shape == (20, 4) and np.allclose(d[0], 1) and np.allclose(np.prod(d, 1), 1)
    assert np.array_equal(d, banded.dirichlet_candidates(4, 20, seed=1))


def test_bad_inputs_are_refused():
    xs, ys, _ = two_band_data(3, n_vox=5)
    lam = [1.0, 10.0]
    with pytest.raises(ValueError, match="overlaps"):
        banded.fit_banded_ridge(*xs, *ys, [slice(0, 12), slice(10, 25)], lam, [1.0])
    with pytest.raises(ValueError, match="in no band"):
        banded.fit_banded_ridge(*xs, *ys, [slice(0, 10), slice(10, 24)], lam, [1.0])
    with pytest.raises(ValueError, match="exactly one"):
        banded.fit_banded_ridge(*xs, *ys, [slice(0, 10), slice(10, 25)], lam)
    with pytest.raises(ValueError, match="positive"):
        banded.fit_banded_ridge(*xs, *ys, [slice(0, 10), slice(10, 25)], lam, [0.0, 1.0])


def test_banded_beats_concatenated_where_bands_need_different_lambdas():
    xs, ys, bands = two_band_data(4, pa=10, pb=120, scale_b=1.0, noise_b=True)
    lam = np.logspace(-3, 7, 20)
    cat = ridge.fit_ridge(*xs, *ys, lam, intercept="unpenalized")
    res = banded.fit_banded_ridge(*xs, *ys, bands, lam, np.logspace(-4, 4, 9))
    assert np.mean(res.r2 > cat.r2) > 0.8
    assert np.median(res.r2) > np.median(cat.r2) + 0.01
    # the noise band gets the heavier penalty
    assert np.mean(res.band_lambdas[:, 1] > res.band_lambdas[:, 0]) > 0.9


def himalaya_choice(xs, ys, bands, lambdas, band_weights):
    """himalaya's banded random search given exactly our candidates and holdout split.

    gammas = 1 / band_weights and alphas = lambdas give band b the penalty
    alpha / gamma_b = lambdas[l] * band_weights[c, b]; cv is the one predefined split
    (train rows, holdout rows); fit_intercept centres on the train rows; the score is the
    holdout sum of squared errors (negated, / n_out). Returns the per-band lambdas [V x k]
    and the validation R2 of train-split weights refit with those lambdas by himalaya.
    """
    from himalaya.backend import set_backend
    from himalaya.ridge import solve_group_ridge_random_search, solve_ridge_svd
    set_backend("numpy")
    x = np.concatenate([xs[0], xs[1]])[:, :-1]
    y = np.concatenate([ys[0], ys[1]])
    n_trn = xs[0].shape[0]
    cv = [(np.arange(n_trn), np.arange(n_trn, x.shape[0]))]
    deltas, _, _, _ = solve_group_ridge_random_search(
        [x[:, b] for b in bands], y, n_iter=1.0 / band_weights, alphas=np.asarray(lambdas),
        fit_intercept=True, cv=cv, return_weights=False, progress_bar=False, warn=False)
    band_lambdas = np.exp(-deltas.T)
    r2 = np.empty(y.shape[1])
    for d in np.unique(deltas, axis=1).T:
        vox = np.flatnonzero(np.all(deltas == d[:, None], axis=0))
        scale = np.concatenate([np.full(x[:, b].shape[1], np.exp(dk / 2)) for b, dk in zip(bands, d)])
        w, b0 = solve_ridge_svd(xs[0][:, :-1] * scale, ys[0][:, vox], alpha=1.0, fit_intercept=True)
        pred = xs[2][:, :-1] * scale @ w + b0
        r2[vox] = runtime.r2_score(torch.from_numpy(ys[2][:, vox]), torch.from_numpy(pred)).numpy()
    return band_lambdas, r2


def test_agrees_with_himalaya():
    pytest.importorskip("himalaya")
    xs, ys, bands = two_band_data(5, n_vox=200, scale_b=100.0)
    lam = np.logspace(-3, 8, 14)
    ratios = np.logspace(-4, 4, 9)
    res = banded.fit_banded_ridge(*xs, *ys, bands, lam, ratios)
    from threadpoolctl import threadpool_limits   # installed with himalaya (scikit-learn)
    with threadpool_limits(1):   # numpy's BLAS threads only slow these small products down
        h_lambdas, h_r2 = himalaya_choice(xs, ys, bands, lam, res.band_weights)
    same = np.all(np.isclose(res.band_lambdas, h_lambdas, rtol=1e-6), axis=1)
    print(f"himalaya agreement: same per-band lambdas for {same.mean():.4f} of {same.size} voxels, "
          f"max |dR2| {np.max(np.abs(res.r2 - h_r2)):.2e} (same-lambda voxels {np.max(np.abs(res.r2 - h_r2)[same]):.2e})")
    # himalaya breaks near-ties towards larger alphas (it adds 1e-10 * log(alpha) to the
    # score -SSE / n_out); here that decides one voxel of 200 (losses 8.6e-11 apart)
    assert same.mean() >= 0.98
    assert np.max(np.abs(res.r2 - h_r2)[same]) < 1e-8
    assert np.max(np.abs(res.r2 - h_r2)) < 1e-3
    assert len(set(res.best_candidate)) > 2   # the data exercise several ratios


def direct_choice(xs, ys, bands, lambdas, band_weights):
    """Every candidate's losses straight from ridge.holdout_losses (one product per lambda)."""
    x = xs[0][:, :-1]
    mx = x.mean(0)
    xt, xo = torch.from_numpy(x - mx), torch.from_numpy(xs[1][:, :-1] - mx)
    ybar = ys[0].mean(0)
    yt, yo = torch.from_numpy(ys[0] - ybar), torch.from_numpy(ys[1] - ybar)
    owner = np.concatenate([np.full(len(range(*b.indices(x.shape[1]))), i) for i, b in enumerate(bands)])
    out = []
    for w in band_weights:
        s = torch.from_numpy(1 / np.sqrt(w[owner]))
        evals, q = torch.linalg.eigh((xt * s).T @ (xt * s))
        m = q.T @ ((xo * s).T @ (xo * s)) @ q
        z, zo = q.T @ ((xt * s).T @ yt), q.T @ ((xo * s).T @ yo)
        out.append(ridge.holdout_losses(evals, z, zo, m, (yo * yo).sum(0), lambdas))
    flat = torch.cat(out).numpy()
    best = np.argmin(flat, axis=0)
    return best // len(lambdas), best % len(lambdas), flat


@pytest.mark.parametrize("case", ["scales", "ill_conditioned", "duplicate_columns"])
def test_partial_fraction_losses_choose_like_direct_losses(case):
    """The fast losses (partial fractions + rounding bound + exact re-scoring of near-ties)
    pick the same candidate as the direct float64 losses for every voxel, and their error
    stays within the bound."""
    xs, ys, bands = two_band_data(6, n_vox=400, scale_b=100.0)
    if case == "ill_conditioned":
        spec = np.r_[np.logspace(0, -5, 10), np.logspace(0, -6, 15)]
        xs = tuple(np.c_[x[:, :-1] * spec, x[:, -1:]] for x in xs)
    if case == "duplicate_columns":   # rank-deficient: repeated (zero) eigenvalues
        xs = tuple(np.c_[x[:, :5], x[:, :5], x[:, 10:15], x[:, 10:20], x[:, -1:]] for x in xs)
    lam = np.logspace(-3, 9, 20)
    w = banded.ratio_candidates(np.logspace(-4, 4, 9))
    res = banded.fit_banded_ridge(*xs, *ys, bands, lam, band_weights=w)
    bc, bl, flat = direct_choice(xs, ys, bands, lam, w)
    assert np.array_equal(res.best_candidate, bc) and np.array_equal(res.best_index, bl)
    assert np.allclose(res.holdout_loss, flat.min(0), rtol=1e-6)   # to rounding (the bound)
    # the bound holds for every candidate
    x = xs[0][:, :-1]
    mx = x.mean(0)
    owner = np.r_[np.zeros(10, int), np.ones(15, int)]
    xt, xo = torch.from_numpy(x - mx), torch.from_numpy(xs[1][:, :-1] - mx)
    ybar = ys[0].mean(0)
    yt, yo = torch.from_numpy(ys[0] - ybar), torch.from_numpy(ys[1] - ybar)
    for c, wc in enumerate(w):
        s = torch.from_numpy(1 / np.sqrt(wc[owner]))
        cd = banded._prepare(xt.T @ xt, xo.T @ xo, s)
        loss, bound = ridge.approx_holdout_losses(cd.terms, cd.qs.T @ (xt.T @ yt), cd.qs.T @ (xo.T @ yo),
                                                  (yo * yo).sum(0), torch.from_numpy(lam))
        exact = flat[c * len(lam):(c + 1) * len(lam)]
        assert np.all(np.abs(loss.numpy() - exact) <= bound.numpy())


def test_near_ties_are_rescored_and_go_to_the_earlier_candidate():
    xs, ys, bands = two_band_data(7, n_vox=60)
    w = np.array([[1.0, 1.0], [0.1, 10.0], [1.0, 1.0]])   # rows 0 and 2 tie exactly
    res = banded.fit_banded_ridge(*xs, *ys, bands, np.logspace(-2, 6, 10), band_weights=w)
    assert 2 not in set(res.best_candidate)
    assert res.n_rescored >= np.sum(res.best_candidate == 0) > 0
