"""Issue 13 in the workflow: per-voxel statistics checked against the demo's ground truth."""
import itertools
import os

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from encoding_models import stats
from encoding_models.io import read_h5
from workflow_helpers import fitted_models, job_counts, layer_jobs, small_config, snakemake, stats_jobs, write_config

pytestmark = pytest.mark.workflow
LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
PAIRS = list(itertools.combinations(LAYERS, 2))
Q = 0.05


def _base(wd):
    return os.path.join(wd, "results", "demo")


def _null(wd):
    prep = read_h5(os.path.join(_base(wd), "prepared.h5"))
    with h5py.File(os.path.join(wd, "resources", "demo", "ground_truth.h5")) as f:
        null = f["null_voxel"][()][prep["voxel_index"]]
        preferred = f["preferred_layer"][()][prep["voxel_index"]]
    return prep, null, preferred


def _stats(wd, model):
    return read_h5(os.path.join(_base(wd), "stats", f"{model}.h5"))


def test_stats_files_hold_the_documented_datasets(demo_run):
    prep, _, _ = _null(demo_run)
    n_val = int(prep["val"].sum())
    for model in LAYERS + [f"{a}+{b}" for a, b in PAIRS]:
        st = _stats(demo_run, model)
        assert np.array_equal(st["voxel_index"], prep["voxel_index"])
        fit_r2 = read_h5(os.path.join(_base(demo_run), "fits", f"{model}.h5"), ["r2"])["r2"]
        np.testing.assert_allclose(st["r2"], fit_r2, rtol=1e-7, atol=1e-9)   # predictions = x_val @ weights
        np.testing.assert_array_equal(st["q_r2"], stats.bh_q_values(st["p_r2"]))
    with h5py.File(os.path.join(_base(demo_run), "stats", "Conv1.h5")) as f:
        assert f.attrs["n_permutations"] == min(n_val - 1, 1000)   # the default stats.permutations
    for a, b in PAIRS:
        st = read_h5(os.path.join(_base(demo_run), "stats", "partition", f"{a}+{b}.h5"))
        part = read_h5(os.path.join(_base(demo_run), "partition", f"{a}+{b}.h5"))
        for key in ("unique_a", "unique_b"):
            np.testing.assert_array_equal(st[f"q_{key}"], stats.bh_q_values(st[f"p_{key}"]))
        for key in ("unique_a", "unique_b", "shared"):
            ci = st[f"{key}_ci"]
            assert ci.shape == (prep["voxel_index"].size, 2)
            ok = ~np.isnan(ci[:, 0])
            assert np.all(ci[ok, 0] <= ci[ok, 1])
            # the estimate lies inside its interval for nearly every voxel
            inside = (part[key][ok] >= ci[ok, 0] - 1e-12) & (part[key][ok] <= ci[ok, 1] + 1e-12)
            assert inside.mean() > 0.9


def test_r2_p_values_are_calibrated_on_null_voxels(demo_run):
    """Uncorrected p of R2 on the generator's noise-only voxels: P(p <= 0.05) within binomial bounds."""
    _, null, _ = _null(demo_run)
    n = int(null.sum())
    assert n > 200
    lo, hi = binom.ppf([0.0005, 0.9995], n, 0.05) / n
    for layer in LAYERS:
        p = _stats(demo_run, layer)["p_r2"][null]
        frac = np.mean(p <= 0.05)
        print(f"{layer}: {frac:.3f} of {n} null voxels with p <= 0.05 (binomial 99.9% bounds {lo:.3f}..{hi:.3f}), "
              f"p < 0.05: {np.mean(p < 0.05):.3f}")
        assert lo <= frac <= hi


def test_fdr_share_of_null_voxels_and_power(demo_run):
    prep, null, preferred = _null(demo_run)
    clear = prep["noise_ceiling"] >= 0.3
    sig_preferred = np.zeros(null.size, dtype=bool)
    n_sig = n_false = 0
    for li, layer in enumerate(LAYERS):
        st = _stats(demo_run, layer)
        sig = stats.significant(st["q_r2"], st["r2"], Q)
        n_sig += sig.sum()
        n_false += (sig & null).sum()
        assert (sig & null).sum() / max(sig.sum(), 1) <= Q
        sig_preferred |= sig & (preferred == li)
    power = sig_preferred[clear].mean()
    print(f"FDR share of null voxels among significant (all layers): {n_false}/{n_sig} = {n_false / n_sig:.4f}; "
          f"power (NC >= 0.3, preferred layer significant): {power:.3f} of {clear.sum()} voxels")
    assert not (clear & null).any()
    assert power > 0.9


def test_summaries_count_significant_voxels(demo_run):
    base = _base(demo_run)
    prep = read_h5(os.path.join(base, "prepared.h5"))
    members = dict(zip(prep["roi_names"], prep["roi_members"]))
    q1 = pd.read_csv(os.path.join(base, "summary", "layer_r2.tsv"), sep="\t")
    for row in q1.itertuples():
        st = _stats(demo_run, row.layer)
        r2 = read_h5(os.path.join(base, "fits", f"{row.layer}.h5"), ["r2"])["r2"]
        sig = stats.significant(st["q_r2"], r2, Q)[members[row.roi] & ~np.isnan(r2)]   # over defined voxels
        assert row.n_significant == sig.sum()
        np.testing.assert_allclose(row.fraction_significant, sig.mean())
    q4 = pd.read_csv(os.path.join(base, "summary", "partition.tsv"), sep="\t")
    for row in q4.sample(20, random_state=1).itertuples():
        st = read_h5(os.path.join(base, "stats", "partition", f"{row.pair}.h5"))
        part = read_h5(os.path.join(base, "partition", f"{row.pair}.h5"))
        for key in ("unique_a", "unique_b"):
            sig = stats.significant(st[f"q_{key}"], part[key], Q)[members[row.roi]]
            assert getattr(row, f"n_significant_{key}") == sig.sum()
            np.testing.assert_allclose(getattr(row, f"fraction_significant_{key}"), sig.mean())


def test_no_voxel_with_r2_at_or_below_zero_is_counted_or_drawn_as_significant(demo_run):
    """Issue 20: "significant" is a positive value the test rejects (q <= fdr_q and value
    > 0), in the summary tables and in the masks of every masked map; the raw q-values
    still reject some voxels with R2 <= 0 (the permutation null is "no information")."""
    from encoding_models.stages.maps import significance_blank
    base = _base(demo_run)
    q1 = pd.read_csv(os.path.join(base, "summary", "layer_r2.tsv"), sep="\t").set_index(["roi", "layer"])
    q4 = pd.read_csv(os.path.join(base, "summary", "partition.tsv"), sep="\t").set_index(["roi", "pair"])
    fits = {m: os.path.join(base, "fits", f"{m}.h5") for m in LAYERS}
    stats_files = {m: os.path.join(base, "stats", f"{m}.h5") for m in LAYERS + [f"{a}+{b}" for a, b in PAIRS]}
    r2 = {layer: read_h5(fits[layer], ["r2"])["r2"] for layer in LAYERS}
    rejected_at_or_below_zero = {}
    for layer in LAYERS:
        q = _stats(demo_run, layer)["q_r2"]
        rejected_at_or_below_zero[layer] = int(((q <= Q) & (r2[layer] <= 0)).sum())
        positive = int(((q <= Q) & (r2[layer] > 0)).sum())
        assert q1.loc[("all", layer), "n_significant"] == positive
        kept = ~significance_blank(fits[layer], "r2", [stats_files[layer]], "q_r2", Q)
        assert kept.sum() == positive and np.all(r2[layer][kept] > 0)
    print("raw q <= 0.05 with R2 <= 0 (not significant now):", rejected_at_or_below_zero)
    assert sum(rejected_at_or_below_zero.values()) > 0      # the case exists on the demo
    best_path = os.path.join(base, "best_layer.h5")
    best = read_h5(best_path, ["best_layer"])["best_layer"]
    kept = ~significance_blank(best_path, "best_layer", [stats_files[layer] for layer in LAYERS], "q_r2", Q)
    assert kept.any() and np.all(np.stack([r2[layer] for layer in LAYERS])[best[kept], np.flatnonzero(kept)] > 0)
    # best_layer_counts.tsv counts every voxel; its n_significant: those the best-layer map colours
    prep = read_h5(os.path.join(base, "prepared.h5"), ["roi_names", "roi_members"])
    members = dict(zip(prep["roi_names"], prep["roi_members"]))
    q2 = pd.read_csv(os.path.join(base, "summary", "best_layer_counts.tsv"), sep="\t")
    q = {layer: _stats(demo_run, layer)["q_r2"] for layer in LAYERS}
    for row in q2.itertuples():
        mine = members[row.roi] & (best == LAYERS.index(row.layer))
        assert row.count == mine.sum()
        assert row.n_significant == (mine & (q[row.layer] <= Q) & (r2[row.layer] > 0)).sum() == (mine & kept).sum()
    assert 0 < q2[q2.roi == "all"]["n_significant"].sum() < q2[q2.roi == "all"]["count"].sum()
    for a, b in PAIRS:
        path = os.path.join(base, "partition", f"{a}+{b}.h5")
        part = read_h5(path)
        pair_stats = os.path.join(base, "stats", "partition", f"{a}+{b}.h5")
        for key in ("unique_a", "unique_b"):
            q = read_h5(pair_stats, [f"q_{key}"])[f"q_{key}"]
            kept = ~significance_blank(path, key, [pair_stats], f"q_{key}", Q)
            assert np.all(part[key][kept] > 0)
            assert q4.loc[("all", f"{a}+{b}"), f"n_significant_{key}"] == ((q <= Q) & (part[key] > 0)).sum()
        kept = ~significance_blank(path, "r2_joint", [stats_files[f"{a}+{b}"]], "q_r2", Q)
        assert np.all(part["r2_joint"][kept] > 0)


def test_masked_and_r2_over_nc_maps_exist(demo_run):
    from PIL import Image
    base = os.path.join(_base(demo_run), "maps")
    for layer in LAYERS:
        arr = np.asarray(Image.open(os.path.join(base, "r2_over_nc", f"{layer}.png")).convert("RGB"), float)
        assert arr.shape[0] > 300 and arr.std() > 10


def test_a_stats_change_reruns_only_statistics_summaries_and_maps(demo_run):
    overrides = os.path.join(demo_run, "stats_overrides.yaml")
    with open(overrides, "w") as fh:
        fh.write("stats: {seed: 7, permutations: 500}\n")
    counts = job_counts(snakemake(demo_run, "-n", "--configfile", os.path.join(demo_run, "config", "config.yaml"),
                                  overrides).stdout)
    assert stats_jobs(counts) == {layer: 1 for layer in LAYERS} and counts["summaries"] == 1
    assert counts["map_layer"] == 5 and counts["map_best_layer"] == 1
    for rule in ("demo_subject", "prepare", "fit_layer", "fit", "partition", "best_layer"):
        assert rule not in counts, counts
    assert not layer_jobs(counts, "fit_pairs"), counts
    # the report pages show the significant shares (overview) and the config as run (provenance)
    assert set(counts) - {f"stats_layer_{layer}" for layer in LAYERS} <= {"summaries", "roi_summary", "roi_figures", "all",
                           "map_layer", "map_best_layer", *(f"map_pairs_{layer}" for layer in LAYERS[1:]),
                           "report_overview", "report_provenance"}, counts


def test_stats_off_runs_no_stats_jobs(tmp_path):
    cfg = small_config("store", stats={"enabled": False})
    cfg["maps"]["mask"] = "none"        # maps.mask: fdr (the default) needs statistics
    write_config(tmp_path, cfg)
    counts = job_counts(snakemake(tmp_path, "-n").stdout)
    assert not stats_jobs(counts) and fitted_models(counts, LAYERS) == 15


def test_noise_layer_unique_variance_is_not_found(store, tmp_path):
    """Conv1 + Noise: Noise's features are independent of every response, so its unique
    variance is significant for no more voxels than the FDR level allows."""
    write_config(tmp_path, small_config(store, layers=["Conv1", "Noise"], maps=False))
    snakemake(tmp_path, "-c2")
    st = read_h5(os.path.join(_base(tmp_path), "stats", "partition", "Conv1+Noise.h5"))
    part = read_h5(os.path.join(_base(tmp_path), "partition", "Conv1+Noise.h5"))
    sig_noise = stats.significant(st["q_unique_b"], part["unique_b"], Q)
    sig_conv1 = stats.significant(st["q_unique_a"], part["unique_a"], Q)
    print(f"unique Noise significant in {sig_noise.sum()} of {sig_noise.size} voxels; unique Conv1 in {sig_conv1.sum()}")
    assert sig_noise.sum() <= Q * sig_noise.size
    assert sig_conv1.sum() > 0.1 * sig_conv1.size   # Conv1 itself is found (720 of 3500 on the test demo)
    with h5py.File(os.path.join(tmp_path, "resources", "demo", "ground_truth.h5")) as f:
        assert f["mixture"].shape[1] == 7 and not f["mixture"][()][:, -1].any()   # Noise: in no voxel's mixture
        assert f["null_voxel"][()].mean() == pytest.approx(0.1, abs=0.01)
