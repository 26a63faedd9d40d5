"""The solver against a straight port of the reference's solve_ridge_fast."""
import numpy as np
import pytest
import torch

import reference_port as ref
from encoding_models import ridge


def make_data(seed, p, n_vox, cond=1.0, snr=0.5, n_trn=1200, n_out=150, n_val=200, float32=True):
    rng = np.random.default_rng(seed)
    n = n_trn + n_out + n_val
    f = rng.standard_normal((n, p)) @ np.diag(np.logspace(0, -np.log10(cond), p))
    f = (f - f.mean(0)) / (f.std(0) + 1e-6)
    x = np.concatenate([f, np.ones((n, 1))], 1)
    w = rng.standard_normal((p, n_vox)) * rng.uniform(0, 1, n_vox)
    y = f @ w / np.sqrt(p) * snr * rng.uniform(0, 2, n_vox) + rng.standard_normal((n, n_vox)) + rng.normal(0, 2, n_vox)
    if float32:
        x, y = x.astype(np.float32).astype(np.float64), y.astype(np.float32)
    parts = np.split(np.arange(n), [n_trn, n_trn + n_out])
    return [x[i] for i in parts], [y[i] for i in parts]


def run_reference(xs, ys, lambdas):
    T = lambda a: torch.Tensor(a).to(torch.float64)
    (xt, xo, xv), (yt, yo, yv) = xs, ys
    w, best = ref.solve_ridge_fast(T(xt), T(yt), lambdas, T(xo), T(yo), "cpu")
    return best, ref.get_r2(T(yv).numpy(), (T(xv) @ w).numpy())


@pytest.mark.parametrize("cond", [1.0, 1e4, 1e8])
@pytest.mark.parametrize("snr", [0.05, 1.0, 5.0])
def test_single_layer_matches_reference(cond, snr):
    xs, ys = make_data(int(cond) % 97 + int(snr * 10), p=40, n_vox=600, cond=cond, snr=snr)
    lambdas = ref.reference_lambdas()
    best, r2 = run_reference(xs, ys, lambdas)
    res = ridge.fit_ridge(*xs, *ys, ridge.reference_lambdas())
    assert np.array_equal(res.best_index, best)  # the same lambda for 100% of voxels
    assert np.max(np.abs(res.r2 - r2)) < 1e-9
    assert len(set(best)) > 1  # the data exercise more than one lambda


def test_pair_from_layer_cross_products_matches_reference():
    """A pair fit from its layers' X'Y (reused) equals the reference fitting the concatenation."""
    rng = np.random.default_rng(5)
    n_trn, n_out, n_val, p = 1000, 120, 150, 30
    n = n_trn + n_out + n_val
    a = rng.standard_normal((n, p))
    b = 0.7 * a + 0.3 * rng.standard_normal((n, p))      # correlated layers
    y = (a @ rng.standard_normal((p, 400)) * 0.1 + b @ rng.standard_normal((p, 400)) * 0.1
         + rng.standard_normal((n, 400))).astype(np.float32)
    trn = np.zeros(n, bool); trn[:n_trn] = True
    out = np.zeros(n, bool); out[n_trn:n_trn + n_out] = True
    val = ~(trn | out)
    from encoding_models.splits import split_normalize
    xa = [x.astype(np.float32).astype(np.float64) for x in split_normalize(a, trn, out, val)]
    xb = [x.astype(np.float32).astype(np.float64) for x in split_normalize(b, trn, out, val)]
    xab = [np.concatenate([u[:, :-1], v[:, :-1], u[:, -1:]], 1) for u, v in zip(xa, xb)]
    xty = lambda x, yy: np.concatenate([(x[:, :-1].T @ yy), (x[:, -1:].T @ yy)])
    xty_trn = np.concatenate([xty(xa[0], y[trn].astype(np.float64))[:-1], xty(xb[0], y[trn].astype(np.float64))])
    xty_out = np.concatenate([xty(xa[1], y[out].astype(np.float64))[:-1], xty(xb[1], y[out].astype(np.float64))])
    res = ridge.fit_ridge(*xab, y[trn], y[out], y[val], ridge.reference_lambdas(), xty_trn=xty_trn, xty_holdout=xty_out)
    # the reference normalises the concatenated raw features itself
    ref_x = ref.split_normalize_feats(np.concatenate([a, b], 1), trn, val, out)
    best, r2 = run_reference((ref_x[0], ref_x[2], ref_x[1]), (y[trn], y[out], y[val]), ref.reference_lambdas())
    assert np.array_equal(res.best_index, best)
    assert np.max(np.abs(res.r2 - r2)) < 1e-9


def test_batch_size_does_not_change_results_and_runs_are_bitwise_identical():
    xs, ys = make_data(11, p=25, n_vox=700)
    lam = ridge.reference_lambdas()
    r1 = ridge.fit_ridge(*xs, *ys, lam, batch_size=64)
    r2 = ridge.fit_ridge(*xs, *ys, lam, batch_size=700)
    r3 = ridge.fit_ridge(*xs, *ys, lam, batch_size=64)
    assert np.array_equal(r1.best_index, r2.best_index)
    assert np.max(np.abs(r1.r2 - r2.r2)) < 1e-12
    assert r1.r2.tobytes() == r3.r2.tobytes() and np.array_equal(r1.best_index, r3.best_index)


@pytest.mark.parametrize("design", ["plain", "ill_conditioned", "repeated_columns"])
@pytest.mark.parametrize("intercept", ["penalized", "unpenalized"])
def test_partial_fraction_losses_choose_what_the_direct_losses_choose(design, intercept, monkeypatch):
    """The cheap losses (partial fractions + rounding bound) only decide where the bound
    separates the best lambda; the choice equals the direct losses' choice for every voxel,
    exact ties included (voxels whose train responses are zero tie every lambda)."""
    xs, ys = make_data(23, p=30, n_vox=800, cond=1e8 if design == "ill_conditioned" else 1.0)
    if design == "repeated_columns":   # equal eigenvalues: clusters summed directly
        xs = [np.concatenate([x[:, :10], x[:, :10], x[:, 10:]], 1) for x in xs]
    ys = [y.copy() for y in ys]
    ys[0][:, :20] = 0.0                # zero on train: z = 0, every lambda ties
    lam = ridge.reference_lambdas()
    fast = ridge.fit_ridge(*xs, *ys, lam, intercept=intercept)
    monkeypatch.setattr(ridge, "ERR_FACTOR", 1e300)   # no voxel separated: all direct
    direct = ridge.fit_ridge(*xs, *ys, lam, intercept=intercept)
    assert direct.n_direct == 800
    assert 20 <= fast.n_direct < 800 // 4
    assert np.array_equal(fast.best_index, direct.best_index)
    assert fast.r2.tobytes() == direct.r2.tobytes() and fast.weights.tobytes() == direct.weights.tobytes()
    assert fast.n_rescored == direct.n_rescored


def test_partial_fraction_bound_covers_the_direct_losses():
    xs, ys = make_data(29, p=30, n_vox=500, cond=1e6)
    x_trn, x_out = (torch.from_numpy(x) for x in xs[:2])
    y_trn, y_out = (torch.from_numpy(y.astype(np.float64)) for y in ys[:2])
    evals, evecs = torch.linalg.eigh(x_trn.T @ x_trn)
    terms = ridge.loss_terms(evals, evecs.T @ (x_out.T @ x_out) @ evecs)
    z, zo, yy = evecs.T @ (x_trn.T @ y_trn), evecs.T @ (x_out.T @ y_out), (y_out * y_out).sum(0)
    lam = ridge.reference_lambdas()
    approx, bound = ridge.approx_holdout_losses(terms, z, zo, yy, torch.from_numpy(lam))
    direct = ridge.holdout_losses(evals, z, zo, terms.m, yy, lam)
    assert torch.all((approx - direct).abs() <= bound)
    assert torch.all(bound <= 1e-9 * yy.abs())       # and is tight enough to decide


def test_reference_lambda_grid():
    grid = ridge.reference_lambdas()
    assert grid.shape == (20,)
    assert np.array_equal(grid, ref.reference_lambdas().astype(np.float64))
    assert grid[0] < 0 and grid[-1] > 9e9   # the reference's small negative first values are kept


@pytest.mark.parametrize("bad", [[1.0, np.nan], [np.inf, 1.0], [], [[1.0, 2.0]]])
def test_lambda_grid_checked(bad):
    with pytest.raises(ValueError, match="lambda grid"):
        ridge.check_lambdas(bad)


def _direct(x_trn, y_trn, x_eval, lam, penalty):
    a = x_trn.T @ x_trn + lam * penalty
    return x_eval @ np.linalg.solve(a, x_trn.T @ y_trn)


def test_unpenalized_intercept_equals_direct_solution():
    xs, ys = make_data(2, p=10, n_vox=50, float32=False)
    lam = np.array([0.5, 50.0, 5000.0])
    res = ridge.fit_ridge(*xs, *ys, lam, intercept="unpenalized")
    penalty = np.diag([1.0] * 10 + [0.0])   # intercept column unpenalised
    for k, l in enumerate(lam):
        sel = res.best_index == k
        if not sel.any():
            continue
        pred = _direct(xs[0], ys[0][:, sel], xs[2], l, penalty)
        assert np.allclose(res.r2[sel], ref.get_r2(ys[2][:, sel], pred), atol=1e-9)
    # and the lambda chosen is the one with the least holdout error of the direct solutions
    losses = np.stack([((ys[1] - _direct(xs[0], ys[0], xs[1], l, penalty)) ** 2).sum(0) for l in lam])
    assert np.array_equal(res.best_index, losses.argmin(0))


def test_refit_uses_train_and_holdout():
    xs, ys = make_data(3, p=10, n_vox=40, float32=False)
    lam = np.array([1.0, 100.0, 1e4])
    res0 = ridge.fit_ridge(*xs, *ys, lam)
    res = ridge.fit_ridge(*xs, *ys, lam, refit=True)
    assert np.array_equal(res.best_index, res0.best_index)   # same lambda choice
    x_all, y_all = np.concatenate(xs[:2]), np.concatenate(ys[:2])
    for k, l in enumerate(lam):
        sel = res.best_index == k
        if sel.any():
            pred = _direct(x_all, y_all[:, sel], xs[2], l, np.eye(11))
            assert np.allclose(res.r2[sel], ref.get_r2(ys[2][:, sel], pred), atol=1e-9)
    assert not np.allclose(res.r2, res0.r2)


def test_shape_mismatch_is_reported():
    xs, ys = make_data(4, p=5, n_vox=10)
    with pytest.raises(ValueError, match="y_holdout has shape"):
        ridge.fit_ridge(xs[0], xs[1], xs[2], ys[0], ys[1][:-1], ys[2], ridge.reference_lambdas())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device on this machine")
def test_cuda_path_matches_cpu():
    """Where torch sees a GPU, the CUDA path picks the same lambdas; R2 agrees to rounding."""
    xs, ys = make_data(7, p=40, n_vox=800)
    lam = ridge.reference_lambdas()
    cpu = ridge.fit_ridge(*xs, *ys, lam, device="cpu")
    gpu = ridge.fit_ridge(*xs, *ys, lam, device="cuda")
    assert np.mean(cpu.best_index == gpu.best_index) > 0.999
    same = cpu.best_index == gpu.best_index
    assert np.max(np.abs(cpu.r2[same] - gpu.r2[same])) < 1e-9
