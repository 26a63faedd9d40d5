"""Per-voxel statistics: permutation p-values of R2, pair bootstrap, FDR."""
import numpy as np
import pytest
import scipy.stats
import torch

from encoding_models import stats


def noise_pair(seed, n, n_vox, gain=0.0):
    """y and predictions sharing a signal of the given gain per voxel (0: pure noise)."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n, n_vox))
    gain = np.broadcast_to(gain, (n_vox,))
    y = gain * s + rng.standard_normal((n, n_vox)) + rng.normal(0, 3, n_vox)
    pred = gain * s + rng.standard_normal((n, n_vox)) * rng.uniform(0.5, 2, n_vox) + rng.normal(0, 1, n_vox)
    return y, pred


def ridge_predictions(x_trn, x_val, y_trn, lam=10.0):
    xm = x_trn.mean(0)
    xt, xv = x_trn - xm, x_val - xm
    w = np.linalg.solve(xt.T @ xt + lam * np.eye(xt.shape[1]), xt.T @ (y_trn - y_trn.mean(0)))
    return xv @ w + y_trn.mean(0)


# ------------------------------------------------------------------ permutation test
@pytest.mark.parametrize("n_perm", [25, 1000])
def test_permutation_test_equals_explicit_permutations(n_perm):
    """The FFT cross terms give the p-values of the explicit permutations, exactly."""
    y, pred = noise_pair(0, 60, 300, gain=np.linspace(0, 0.6, 300))
    res = stats.permutation_test_r2(y, pred, n_permutations=n_perm, seed=4)
    perms = stats.permutation_indices(60, n_perm, seed=4)
    assert res.n_permutations == len(perms) == min(n_perm, 59)
    yc = y - y.mean(0)
    obs = (yc * pred).sum(0)
    null = np.stack([(yc * pred[pm]).sum(0) for pm in perms])
    # the same ordering of null and observed, away from rounding-level ties
    assert np.abs(null - obs).min() > 1e-6 * np.abs(obs).max()
    expected = (1 + (null >= obs).sum(0)) / (1 + len(perms))
    assert np.array_equal(res.p, expected)
    r2 = 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    assert np.allclose(res.r2, r2, rtol=0, atol=1e-12)


def test_permutations_are_distinct_non_identity_and_seeded():
    perms = stats.permutation_indices(50, 30, seed=1)
    assert perms.shape == (30, 50)
    assert all(np.array_equal(np.sort(pm), np.arange(50)) for pm in perms)
    assert len({pm.tobytes() for pm in perms}) == 30
    assert not (perms == np.arange(50)).all(axis=1).any()
    assert np.array_equal(perms, stats.permutation_indices(50, 30, seed=1))
    assert not np.array_equal(perms, stats.permutation_indices(50, 30, seed=2))
    whole = stats.permutation_indices(50, 5000, seed=1)
    assert whole.shape == (49, 50)   # the whole group minus the identity


@pytest.mark.parametrize("n, n_perm", [(200, 1000), (400, 99)])
def test_null_voxels_are_calibrated(n, n_perm):
    """Pure-noise voxels: uncorrected p-values uniform (whole group and sampled shifts)."""
    n_vox = 4000
    y, pred = noise_pair(10 + n, n, n_vox)
    p = stats.permutation_test_r2(y, pred, n_permutations=n_perm, seed=7).p
    b = min(n_perm, n - 1)
    level = np.floor(0.05 * (b + 1)) / (b + 1)       # attainable level: P(p <= level) = level
    lo, hi = scipy.stats.binom.ppf([0.0005, 0.9995], n_vox, level)
    assert lo <= np.sum(p <= level) <= hi
    # p is uniform on {1, ..., b+1} / (b+1): spread each value over its step to compare with U(0, 1)
    jittered = p - np.random.default_rng(0).uniform(size=n_vox) / (b + 1)
    assert scipy.stats.kstest(jittered, "uniform").pvalue > 1e-3


def test_power_on_clear_signal():
    y, pred = noise_pair(3, 300, 1000, gain=1.0)
    res = stats.permutation_test_r2(y, pred, n_permutations=1000, seed=0)
    q = stats.bh_q_values(res.p)
    assert np.mean(q <= 0.05) > 0.99       # the test's power (noise_pair's offsets make many R2 < 0)


def test_fdr_share_of_null_voxels_below_q():
    n_null, n_sig = 3000, 3000
    gain = np.concatenate([np.zeros(n_null), np.linspace(0.1, 0.6, n_sig)])
    y, pred = noise_pair(5, 200, n_null + n_sig, gain=gain)
    res = stats.permutation_test_r2(y, pred, n_permutations=1000, seed=1)
    for q in (0.05, 0.1, 0.2):
        sig = stats.bh_q_values(res.p) <= q      # BH's rejections (R2 may be < 0: noise_pair's offsets)
        assert sig[n_null:].sum() > 400
        assert sig[:n_null].sum() / sig.sum() <= q


def test_undefined_and_degenerate_voxels():
    y, pred = noise_pair(2, 80, 6, gain=1.0)
    y[:, 0] = 2.5               # constant response: R2 undefined
    y[3, 1] = np.nan            # missing value: undefined
    pred[:, 2] = np.inf         # non-finite prediction: undefined
    pred[:, 3] = 0.7            # constant prediction: every permutation ties, p = 1
    res = stats.permutation_test_r2(y, pred, n_permutations=200)
    assert np.isnan(res.p[:3]).all() and np.isnan(res.r2[:3]).all()
    assert res.p[3] == 1.0 and np.isfinite(res.r2[3])
    assert np.all(res.p[4:] < 0.05)
    out = stats.pair_bootstrap(y, pred, pred, pred, n_boot=100)
    for key in ("unique_a", "unique_b", "shared", "p_unique_a", "p_unique_b"):
        assert out[key].shape == (6,) and np.isnan(out[key][:3]).all() and np.isfinite(out[key][3:]).all()
    for key in ("unique_a_ci", "unique_b_ci", "shared_ci"):
        assert out[key].shape == (6, 2) and np.isnan(out[key][:3]).all() and np.isfinite(out[key][3:]).all()


def test_bad_inputs():
    y, pred = noise_pair(2, 30, 10)
    with pytest.raises(ValueError):
        stats.permutation_test_r2(y, pred[:, :5])
    with pytest.raises(ValueError):
        stats.permutation_test_r2(y, pred, n_permutations=0)
    with pytest.raises(ValueError):
        stats.bootstrap_components(y, {"a": pred}, {"u": {"a": 1, "b": -1}})


# ------------------------------------------------------------------ reproducibility
def test_batch_size_independence_and_bitwise_reruns():
    n_vox = 1100                # blocks of 512: two full ones and a padded one
    y, pred = noise_pair(8, 150, n_vox, gain=np.linspace(0, 0.5, n_vox))
    pa, pb = pred * 0.5, noise_pair(9, 150, n_vox, gain=0.3)[1]
    base = stats.permutation_test_r2(y, pred, n_permutations=500, seed=3)
    boot = stats.pair_bootstrap(y, pa, pb, pred, n_boot=300, seed=3)
    for batch in (1, 100, 512, 700, 5000):
        res = stats.permutation_test_r2(y, pred, n_permutations=500, seed=3, batch_size=batch)
        assert np.array_equal(res.p, base.p) and np.array_equal(res.r2, base.r2)
        other = stats.pair_bootstrap(y, pa, pb, pred, n_boot=300, seed=3, batch_size=batch)
        assert all(np.array_equal(other[k], boot[k]) for k in boot)
    # predictions made on the fly, float32 responses as torch tensors: the same numbers
    res = stats.permutation_test_r2(torch.as_tensor(y), lambda sl: pred[:, sl], n_permutations=500, seed=3,
                                    batch_size=300)
    assert np.array_equal(res.p, base.p)
    assert not np.array_equal(stats.permutation_test_r2(y, pred, n_permutations=500, seed=4).p, base.p)


def test_one_pass_over_several_models_equals_each_alone_bitwise():
    """A stats_layer_<layer> job tests its models and bootstraps its pairs in one pass
    (model_statistics): every model's and pair's numbers are bitwise those of the model
    or pair alone, so adding a layer changes no other model's or pair's statistics."""
    n_vox = 1100
    y, pred = noise_pair(8, 150, n_vox, gain=np.linspace(0, 0.5, n_vox))
    preds = {"A": pred * 0.5, "B": noise_pair(9, 150, n_vox, gain=0.3)[1], "A+B": pred,
             "C": noise_pair(10, 150, n_vox, gain=0.1)[1], "A+C": pred * 0.8 + 0.1}
    pairs = {"A+B": ("A", "B", "A+B"), "A+C": ("A", "C", "A+C")}
    perm, boot = stats.model_statistics(y, preds, tested=list(preds), groups=stats.pair_groups(pairs),
                                        n_permutations=500, n_boot=300, seed=3, batch_size=700)
    for m, p in preds.items():
        alone = stats.permutation_test_r2(y, p, n_permutations=500, seed=3)
        assert np.array_equal(perm[m].p, alone.p, equal_nan=True) and np.array_equal(perm[m].r2, alone.r2)
        assert perm[m].n_permutations == alone.n_permutations == 149
    for name, (a, b, ab) in pairs.items():
        alone = stats.pair_bootstrap(y, preds[a], preds[b], preds[ab], n_boot=300, seed=3)
        both = stats.pair_result(boot[name])
        assert set(both) == set(alone)
        assert all(np.array_equal(both[k], alone[k], equal_nan=True) for k in alone), name
    with pytest.raises(ValueError, match="no predictions for models: \\['D'\\]"):
        stats.model_statistics(y, preds, tested=["D"])


# ------------------------------------------------------------------ bootstrap
def test_bootstrap_weights():
    w = stats.bootstrap_weights(40, 300, seed=2)
    assert w.shape == (300, 40) and np.all(w.sum(1) == 40) and np.all(w == np.round(w))
    assert np.array_equal(w, stats.bootstrap_weights(40, 300, seed=2))
    assert abs(w.mean() - 1) < 0.01 and abs(w.var() - (1 - 1 / 40)) < 0.1


@pytest.mark.parametrize("n_boot", [7, 300, 1000, 1001])
def test_quantiles_match_numpy(n_boot):
    rng = np.random.default_rng(n_boot)
    v = rng.standard_normal((50, n_boot))
    v[:5] = np.round(v[:5])                       # ties
    v[5] = np.sort(v[5])                          # ordered rows
    v[6] = np.sort(v[6])[::-1]
    v[7] = rng.exponential(size=n_boot) ** 3      # skewed
    for levels in ((0.025, 0.975), (0.05, 0.5, 0.95), (0.0, 1.0)):
        got = stats._quantiles(torch.as_tensor(v), levels).numpy()
        assert np.array_equal(got, np.quantile(v, levels, axis=1).T)


def test_bootstrap_equals_explicit_resampling():
    rng = np.random.default_rng(0)
    n, n_vox = 70, 40
    y = rng.standard_normal((n, n_vox)) + 5
    preds = {m: y * c + rng.standard_normal((n, n_vox)) for m, c in (("a", 0.3), ("b", 0.2), ("ab", 0.5))}
    out = stats.pair_bootstrap(y, preds["a"], preds["b"], preds["ab"], n_boot=400, seed=6)
    idx = np.random.default_rng(6).integers(0, n, size=(400, n))
    r2 = {}
    for m, p in preds.items():
        ys, ps = y[idx], p[idx]                   # [B x n x V]: resampled images
        r2[m] = 1 - ((ys - ps) ** 2).sum(1) / ((ys - ys.mean(1, keepdims=True)) ** 2).sum(1)
    comps = {"unique_a": r2["ab"] - r2["b"], "unique_b": r2["ab"] - r2["a"], "shared": r2["a"] + r2["b"] - r2["ab"]}
    for name, boot in comps.items():
        assert np.allclose(out[f"{name}_ci"], np.quantile(boot, [0.025, 0.975], axis=0).T, rtol=0, atol=1e-10)
    for name in ("unique_a", "unique_b"):
        assert np.array_equal(out[f"p_{name}"], (1 + (comps[name] <= 0).sum(0)) / 401)
    from encoding_models.comparisons import variance_partition
    full = {m: 1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0) for m, p in preds.items()}
    ref = variance_partition(full["a"], full["b"], full["ab"])
    for name in comps:
        assert np.allclose(out[name], ref[name], rtol=0, atol=1e-12)


def test_bootstrap_interval_coverage():
    """Known population values: each interval holds the truth at about the nominal rate."""
    rng = np.random.default_rng(11)
    n, n_vox = 300, 600
    s1, s2 = rng.standard_normal((2, n, n_vox))
    y = s1 + s2 + np.sqrt(2) * rng.standard_normal((n, n_vox))       # var 4
    noise = lambda: np.sqrt(0.5) * rng.standard_normal((n, n_vox))
    out = stats.pair_bootstrap(y, s1 + noise(), s2 + noise(), s1 + s2 + noise(), n_boot=400, seed=2)
    # population R2: A, B = 1 - 3.5 / 4; AB = 1 - 2.5 / 4
    r2_a = r2_b = 0.125
    r2_ab = 0.375
    truth = {"unique_a": r2_ab - r2_b, "unique_b": r2_ab - r2_a, "shared": r2_a + r2_b - r2_ab}
    for name, value in truth.items():
        ci = out[f"{name}_ci"]
        cover = np.mean((ci[:, 0] <= value) & (value <= ci[:, 1]))
        assert 0.9 <= cover <= 0.985, (name, cover)
    assert np.mean(out["p_unique_a"] < 0.01) > 0.95


def test_noise_layer_has_no_significant_unique_variance():
    rng = np.random.default_rng(4)
    n_trn, n_val, n_vox, p = 500, 200, 800, 10
    xa = rng.standard_normal((n_trn + n_val, p))       # the Noise layer: unrelated to y
    xb = rng.standard_normal((n_trn + n_val, p))
    y = xb @ rng.standard_normal((p, n_vox)) * rng.uniform(0.05, 0.4, n_vox) + rng.standard_normal((n_trn + n_val, n_vox))
    trn, val = slice(0, n_trn), slice(n_trn, None)
    fit = lambda x: ridge_predictions(x[trn], x[val], y[trn])
    out = stats.pair_bootstrap(y[val], fit(xa), fit(xb), fit(np.hstack([xa, xb])), n_boot=500, seed=0)
    q = 0.05
    sig_a = stats.significant(stats.bh_q_values(out["p_unique_a"]), out["unique_a"], q)
    assert sig_a.sum() <= q * n_vox                   # all null: BH allows about none
    assert stats.significant(stats.bh_q_values(out["p_unique_b"]), out["unique_b"], q).mean() > 0.5


def test_general_components():
    """bootstrap_components takes any linear combination, e.g. one model's R2 alone."""
    rng = np.random.default_rng(1)
    y = rng.standard_normal((100, 50))
    pred = y + 0.5 * rng.standard_normal((100, 50))
    res = stats.bootstrap_components(y, {"m": pred}, {"r2": {"m": 1.0}}, n_boot=200, confidence=0.9)
    r2 = stats.permutation_test_r2(y, pred, n_permutations=10).r2
    assert np.allclose(res.estimate["r2"], r2, rtol=0, atol=1e-12)
    assert res.ci["r2"].shape == (50, 2) and np.all(res.ci["r2"][:, 0] <= r2) and np.all(r2 <= res.ci["r2"][:, 1])
    assert res.n_boot == 200 and np.all(res.p_positive["r2"] == 1 / 201)


def test_rounding_level_components_are_not_significant():
    """Models whose predictions agree to rounding (all shrunk to the mean by the largest
    lambda, say): the component is at rounding level (~1e-14 here, below the bound of
    the sums it is made of), and every bootstrap value has its sign. It must not test
    as > 0; real components still do."""
    rng = np.random.default_rng(3)
    n, n_vox = 300, 64
    y = rng.standard_normal((n, n_vox))
    pred_a = 0.01 * y[::-1] + 1e-3 * rng.standard_normal((n, n_vox))     # nearly a constant prediction
    pred_b = pred_a.copy()
    pred_ab = pred_a + 1e-14 * (y - pred_a)     # closer to y by a few ulps of the residuals
    pred_ab[:, 32:] += 0.3 * (y[:, 32:] - pred_a[:, 32:])               # second half: a real unique part
    out = stats.pair_bootstrap(y, pred_a, pred_b, pred_ab, n_boot=200, seed=1)
    tiny = out["unique_a"][:32]
    assert np.all(tiny > 0) and np.all(tiny < 1e-13)                    # rounding-level, all positive
    assert np.all(out["p_unique_a"][:32] == 1.0)                        # not evidence of anything
    assert np.all(out["p_unique_a"][32:] == 1 / 201)                    # a real part still is


# ------------------------------------------------------------------ FDR
def test_fdr_equals_scipy_and_keeps_nan():
    p = np.random.default_rng(0).uniform(size=500) ** 3
    assert np.array_equal(stats.bh_q_values(p), scipy.stats.false_discovery_control(p, method="bh"))
    p_nan = p.copy()
    p_nan[::7] = np.nan
    q = stats.bh_q_values(p_nan)
    ok = ~np.isnan(p_nan)
    assert np.array_equal(np.isnan(q), ~ok)
    assert np.array_equal(q[ok], scipy.stats.false_discovery_control(p_nan[ok], method="bh"))
    sig = stats.significant(q, np.ones_like(q), 0.05)
    assert sig.dtype == bool and not sig[~ok].any()
    assert np.array_equal(sig[ok], q[ok] <= 0.05)


def test_fdr_is_scipys_arithmetic_bitwise_with_ties_and_edges():
    """bh_q_values does not import scipy (1.5 s per job) but must stay its twin."""
    rng = np.random.default_rng(1)
    for p in (rng.uniform(size=4000) ** 4,                               # continuous
              np.round(rng.uniform(size=3000), 2),                        # many ties
              (1 + rng.integers(0, 1000, size=2000)) / 1001.0,            # permutation p-values
              np.array([0.0, 1.0, 1.0, 0.5, 0.0]), np.ones(7)):
        assert np.array_equal(stats.bh_q_values(p), scipy.stats.false_discovery_control(p, method="bh"))
    assert np.array_equal(stats.bh_q_values([0.3]), [0.3])
    assert np.array_equal(stats.bh_q_values([np.nan, 0.2]), [np.nan, 0.2], equal_nan=True)
    assert np.isnan(stats.bh_q_values(np.full(3, np.nan))).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.bh_q_values([0.1, 1.5])


def test_significant_means_a_positive_value_the_test_rejects():
    """Issue 20: the permutation test rejects "no information", not "R2 <= 0"; a voxel
    is significant only where q <= level and the tested value is > 0 (NaN: never)."""
    q = np.array([0.01, 0.01, 0.01, 0.01, 0.2, np.nan, 0.01])
    values = np.array([0.3, -0.05, 0.0, np.nan, 0.4, 0.5, 1e-9])
    assert stats.significant(q, values, 0.05).tolist() == [True, False, False, False, False, False, True]
    with pytest.raises(ValueError, match="shape"):
        stats.significant(q, values[:3], 0.05)
    # a real case: predictions correlated with y but scaled far too large reject the
    # permutation null with R2 < 0
    y, pred = noise_pair(6, 200, 300, gain=1.0)
    res = stats.permutation_test_r2(y, 5 * pred, n_permutations=500)
    q_r2 = stats.bh_q_values(res.p)
    assert np.all(q_r2 <= 0.05) and np.all(res.r2 < 0)
    assert not stats.significant(q_r2, res.r2, 0.05).any()
    assert np.isnan(stats.bh_q_values(np.full(3, np.nan))).all()


# ------------------------------------------------------------------ ridge.batch_size, end to end
def test_batch_size_changes_values_only_at_rounding_level():
    """Issue 20: what ridge.batch_size changes, through cross products, fits and statistics
    as the workflow runs them: the chosen lambdas and the p- and q-values are identical;
    X'Y, R2 and weights (and so partitions and intervals) agree to rounding, not
    necessarily bitwise (GEMMs round a column by the width of the call)."""
    from encoding_models import penalty, ridge
    rng = np.random.default_rng(11)
    n_trn, n_hold, n_val, p, n_vox = 300, 60, 120, 20, 1300
    x = np.concatenate([rng.standard_normal((n_trn + n_hold + n_val, p)), np.ones((n_trn + n_hold + n_val, 1))], 1)
    x = x.astype(np.float32).astype(np.float64)
    y = (x[:, :p] @ rng.standard_normal((p, n_vox)) * rng.uniform(0, 0.3, n_vox)
         + rng.standard_normal((x.shape[0], n_vox))).astype(np.float32)
    xs = np.split(x, [n_trn, n_trn + n_hold])
    ys = np.split(y, [n_trn, n_trn + n_hold])
    lambdas = penalty.reference_lambdas()

    def run(batch):
        xty = [ridge.cross_products(xs[i], ys[i], batch_size=batch) for i in (0, 1)]
        fit = ridge.fit_ridge(*xs, *ys, lambdas, xty_trn=xty[0], xty_holdout=xty[1], batch_size=batch)
        pred = xs[2] @ fit.weights
        perm = stats.permutation_test_r2(ys[2], pred, n_permutations=300, seed=2, batch_size=batch)
        half = ridge.fit_ridge(xs[0][:, 10:], xs[1][:, 10:], xs[2][:, 10:], *ys, lambdas, batch_size=batch)
        boot = stats.pair_bootstrap(ys[2], xs[2][:, 10:] @ half.weights, pred, pred, n_boot=200, seed=2,
                                    batch_size=batch)
        return xty, fit, perm, boot

    a, b = run(64), run(2048)
    assert np.array_equal(a[1].best_index, b[1].best_index)                 # lambdas identical
    assert np.array_equal(a[2].p, b[2].p)                                   # p identical
    assert np.array_equal(stats.bh_q_values(a[2].p), stats.bh_q_values(b[2].p))
    for key in ("p_unique_a", "p_unique_b"):
        assert np.array_equal(a[3][key], b[3][key])
        assert np.array_equal(stats.bh_q_values(a[3][key]), stats.bh_q_values(b[3][key]))
    for u, v in zip(a[0], b[0]):                                            # X'Y to rounding
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12 * np.abs(u).max())
    np.testing.assert_allclose(a[1].r2, b[1].r2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a[1].weights, b[1].weights, rtol=1e-9, atol=1e-12)
    for key in ("unique_a", "unique_b", "shared", "unique_a_ci", "shared_ci"):
        np.testing.assert_allclose(a[3][key], b[3][key], rtol=0, atol=1e-12)
