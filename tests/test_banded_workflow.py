"""Banded joint fits and partition sets in the workflow (issue 14)."""
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from encoding_models import commonality, configuration, layout
from encoding_models.io import read_h5
from workflow_helpers import ROOT, fitted_models, job_counts, small_config, snakemake, stats_jobs, write_config

LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]   # small_config's
SET3 = ["Conv1", "Conv3", "Conv5"]
SET_LAYERS = SET3                   # set_config's layers
SETS = [SET3, ["Conv5", "Conv1"]]          # the second one out of config order on purpose
PAIRS = [("Conv1", "Conv3"), ("Conv1", "Conv5"), ("Conv3", "Conv5")]


def res(wd, *parts):
    return os.path.join(wd, "results", "demo", *parts)


def fit(wd, model):
    return read_h5(res(wd, "fits", f"{model}.h5"))


def set_config(store, joint):
    """Layers Conv1, Conv3, Conv5 and two partition sets, maps off, on the default config's
    demo subject (1,500 images x 4,000 voxels): the test config's 600 images (120 for
    validation) are too few for banded's gain to show above the noise of R2."""
    with open(os.path.join(ROOT, "config", "config.yaml")) as fh:
        subjects = yaml.safe_load(fh)["subjects"]
    return small_config(store, layers=SET3, maps=False, ridge={"joint": joint}, partition_sets=SETS,
                        subjects=subjects, stats={"bootstrap": 500})


# ----------------------------------------------------------------- no runs
def test_default_ridge_params_are_the_ones_always_passed():
    """The concatenated default passes exactly the params it always did: old results do not rerun."""
    cfg = {"ridge": {"lambdas": "reference", "intercept": "auto", "refit": False, "input_precision": "float32",
                     "joint": "concatenated", "band_ratios": [1.0]}}
    for layers in (["Conv1"], ["Conv1", "Conv2"]):
        p = configuration.ridge_params(cfg, layers)
        assert set(p) == {"lambdas", "intercept", "refit", "precision"} and p["intercept"] == "penalized"
    cfg["ridge"]["joint"] = "banded"
    single, pair = configuration.ridge_params(cfg, ["Conv1"]), configuration.ridge_params(cfg, ["Conv1", "Conv2"])
    assert single["intercept"] == pair["intercept"] == "unpenalized"
    assert "band_ratios" not in single and pair["band_ratios"] == [1.0] and pair["joint"] == "banded"
    assert min(pair["lambdas"]) > 0 and single["lambdas"] == pair["lambdas"]


def test_set_models_follow_config_order():
    cfg = {"layers": ["Conv1", "Conv2", "Conv3"], "partition_sets": [["Conv3", "Conv1", "Conv2"]]}
    assert configuration.partition_sets(cfg) == [("Conv1", "Conv2", "Conv3")]
    assert layout.set_models(configuration.partition_sets(cfg)) == ["Conv1+Conv2+Conv3"]


# ----------------------------------------------------------------- dry runs and refusals
@pytest.mark.workflow
def test_dry_run_lists_banded_and_partition_set_jobs(tmp_path):
    write_config(tmp_path, small_config("store", ridge={"joint": "banded"}, partition_sets=[SET3]))
    res_ = snakemake(tmp_path, "-n")
    counts = job_counts(res_.stdout)
    assert fitted_models(counts, LAYERS) == 16 and counts["partition"] == 10     # 5 layers, 10 pairs, Conv1+Conv3+Conv5
    assert counts["fit"] == 1
    assert counts["partition_set"] == 1 and counts["partition_sets_summary"] == 1
    assert counts["map_partition_set"] == 4                           # 3 unique parts and the common part
    assert counts["stats_partition_set"] == 1 and sum(stats_jobs(counts).values()) == 5
    assert counts["stats_model"] == 1                                 # Conv1+Conv3+Conv5
    # maps.mask fdr: the unique parts' maps read the set's statistics, the common part's does not
    dag = snakemake(tmp_path, "-n",
                    "results/demo/maps/partition_sets/Conv1+Conv3+Conv5/unique_Conv3.png").stdout
    assert "results/demo/stats/partition_sets/Conv1+Conv3+Conv5.h5" in dag
    dag = snakemake(tmp_path, "-n",
                    "results/demo/maps/partition_sets/Conv1+Conv3+Conv5/common_Conv1+Conv3+Conv5.png").stdout
    assert "stats_partition_set" not in dag
    for path in ("results/demo/fits/Conv1+Conv3+Conv5.h5", "results/demo/partition_sets/Conv1+Conv3+Conv5.h5",
                 "results/demo/summary/partition_sets.tsv",
                 "results/demo/maps/partition_sets/Conv1+Conv3+Conv5/common_Conv1+Conv3+Conv5.png"):
        assert path in res_.stdout
    write_config(tmp_path, small_config("store"))
    counts = job_counts(snakemake(tmp_path, "-n").stdout)
    assert fitted_models(counts, LAYERS) == 15 and not {"partition_set", "partition_sets_summary", "map_partition_set"} & set(counts)


@pytest.mark.workflow
@pytest.mark.parametrize("override, keys", [
    (["ridge={joint: banded, intercept: penalized}"], ["ridge.intercept", "ridge.joint"]),
    (["ridge={joint: banded, lambdas: [-0.005, 1.0]}"], ["ridge.lambdas", "banded"]),
    (["partition_sets=[[Conv1, FC6]]"], ["partition_sets[0]", "FC6"]),
    (["partition_sets=[[Conv1, Conv2, Conv3, Conv4, Conv5]]"], ["partition_sets"]),
    (["ridge={joint: banded, band_ratios: [0.1, 0]}"], ["ridge.band_ratios", "position 1"]),
    (["ridge={band_ratios: [-1]}"], ["ridge.band_ratios", "> 0"]),
    (["ridge={joint: banded, band_ratios: [.inf, 1.0]}"], ["ridge.band_ratios", "finite"]),
    (["ridge={joint: banded, band_ratios: [ten]}"], ["ridge.band_ratios", "ten"]),
])
def test_bad_banded_or_set_config_is_refused_naming_the_keys(tmp_path, override, keys):
    write_config(tmp_path, small_config("store"))
    r = snakemake(tmp_path, "-n", "--config", *override, check=False)
    assert r.returncode != 0
    for key in keys:
        assert key in r.stdout + r.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_band_ratios_written_as_text_are_numbers(tmp_path):
    """YAML reads 1e-2 as text and --config reads every nested value as text: both work."""
    write_config(tmp_path, small_config("store", ridge={"joint": "banded", "band_ratios": ["1e-2", 1, "1e2"]}))
    snakemake(tmp_path, "-n")
    snakemake(tmp_path, "-n", "--config", "ridge={joint: banded, band_ratios: [0.1, 1, 10]}")
    assert configuration.band_ratios({"ridge": {"band_ratios": ["1e-2", 1, "1e2"]}}) == [0.01, 1.0, 100.0]


# ----------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def set_runs(tmp_path_factory, store):
    """Two small runs (maps off) of layers Conv1, Conv3, Conv5 with two partition sets:
    joint concatenated and joint banded."""
    out = {}
    for joint in ("concatenated", "banded"):
        wd = tmp_path_factory.mktemp(f"sets_{joint}")
        write_config(wd, set_config(store, joint))
        r = snakemake(wd, "-c2")
        assert "Finished" in r.stderr + r.stdout
        out[joint] = wd
    return out


@pytest.mark.workflow
def test_banded_run_builds_every_output(set_runs):
    wd = set_runs["banded"]
    for s in ("Conv1+Conv3+Conv5", "Conv1+Conv5"):
        assert os.path.exists(res(wd, "partition_sets", f"{s}.h5"))
    assert os.path.exists(res(wd, "summary", "partition_sets.tsv"))
    import h5py
    for model, k in (("Conv1+Conv3", 2), ("Conv1+Conv5", 2), ("Conv3+Conv5", 2), ("Conv1+Conv3+Conv5", 3)):
        d = fit(wd, model)
        n = d["voxel_index"].size
        assert d["band_lambdas"].shape == (n, k) and d["r2"].shape == (n,) and d["weights"].shape[1] == n
        # the overall scale is the geometric mean of the band lambdas
        np.testing.assert_allclose(np.exp(np.log(d["band_lambdas"]).mean(1)), d["best_lambda"], rtol=1e-9)
        assert np.array_equal(d["best_lambda"], d["lambdas"][d["best_lambda_index"]])
        with h5py.File(res(wd, "fits", f"{model}.h5")) as f:
            assert list(f.attrs["bands"]) == layout.model_layers(model)
            assert f.attrs["joint"] == "banded" and f.attrs["intercept"] == "unpenalized"
    for layer in SET3:
        with h5py.File(res(wd, "fits", f"{layer}.h5")) as f:
            assert f.attrs["intercept"] == "unpenalized" and "band_lambdas" not in f
    with h5py.File(res(set_runs["concatenated"], "fits", "Conv1+Conv3.h5")) as f:
        assert f.attrs["intercept"] == "penalized" and "band_lambdas" not in f
    # statistics: banded models and pairs get them as concatenated ones do; every set
    # component gets an interval, a p-value and a q-value
    for a, b in PAIRS:
        st = read_h5(res(wd, "stats", "partition", f"{a}+{b}.h5"))
        assert st["unique_a_ci"].shape == (st["voxel_index"].size, 2)
    assert "q_r2" in read_h5(res(wd, "stats", "Conv1+Conv3+Conv5.h5"))
    for s, layers in (("Conv1+Conv3+Conv5", SET3), ("Conv1+Conv5", ["Conv1", "Conv5"])):
        st = read_h5(res(wd, "stats", "partition_sets", f"{s}.h5"))
        n = st["voxel_index"].size
        for name in commonality.commonality_coefficients(layers):
            assert st[f"{name}_ci"].shape == (n, 2) and st[f"p_{name}"].shape == (n,)
            ok = ~np.isnan(st[f"p_{name}"])
            assert ok.mean() > 0.9 and np.all((st[f"p_{name}"][ok] > 0) & (st[f"p_{name}"][ok] <= 1))
            assert np.all(st[f"q_{name}"][ok] >= st[f"p_{name}"][ok] - 1e-15)
    assert job_counts(snakemake(wd, "-n").stdout) == {}


@pytest.mark.workflow
@pytest.mark.parametrize("joint", ["concatenated", "banded"])
def test_two_set_statistics_equal_the_pair_statistics(set_runs, joint):
    """The same bootstrap samples of the same predictions: a 2-set's unique parts and common
    part have the pair's intervals and p-values (to summation-order rounding)."""
    wd = set_runs[joint]
    s = read_h5(res(wd, "stats", "partition_sets", "Conv1+Conv5.h5"))
    p = read_h5(res(wd, "stats", "partition", "Conv1+Conv5.h5"))
    for set_name, pair_name in (("unique_Conv1", "unique_a"), ("unique_Conv5", "unique_b"),
                                ("common_Conv1+Conv5", "shared")):
        np.testing.assert_allclose(s[f"{set_name}_ci"], p[f"{pair_name}_ci"], atol=1e-12)
    for set_name, pair_name in (("unique_Conv1", "unique_a"), ("unique_Conv5", "unique_b")):
        a, b = s[f"p_{set_name}"], p[f"p_{pair_name}"]
        assert np.mean(np.isclose(a, b, rtol=0, atol=2e-3, equal_nan=True)) > 0.999


@pytest.mark.workflow
@pytest.mark.parametrize("joint", ["concatenated", "banded"])
def test_three_set_components_sum_to_the_full_model(set_runs, joint):
    wd = set_runs[joint]
    part = read_h5(res(wd, "partition_sets", "Conv1+Conv3+Conv5.h5"))
    names = list(commonality.commonality_coefficients(SET3))
    assert len(names) == 7 and set(names) <= set(part)
    full = fit(wd, "Conv1+Conv3+Conv5")["r2"]
    assert np.array_equal(part["r2_full"], full)
    np.testing.assert_allclose(sum(part[n] for n in names), full, atol=1e-12)
    r2 = {m: fit(wd, m)["r2"] for m in ("Conv1+Conv3", "Conv3+Conv5")}
    np.testing.assert_allclose(part["unique_Conv1"], full - r2["Conv3+Conv5"], atol=1e-12)
    np.testing.assert_allclose(part["unique_Conv5"], full - r2["Conv1+Conv3"], atol=1e-12)


@pytest.mark.workflow
@pytest.mark.parametrize("joint", ["concatenated", "banded"])
def test_two_set_equals_the_pair_partition(set_runs, joint):
    wd = set_runs[joint]
    s = read_h5(res(wd, "partition_sets", "Conv1+Conv5.h5"))
    p = read_h5(res(wd, "partition", "Conv1+Conv5.h5"))
    np.testing.assert_allclose(s["unique_Conv1"], p["unique_a"], atol=1e-12)
    np.testing.assert_allclose(s["unique_Conv5"], p["unique_b"], atol=1e-12)
    np.testing.assert_allclose(s["common_Conv1+Conv5"], p["shared"], atol=1e-12)
    assert np.array_equal(s["r2_full"], p["r2_joint"])


@pytest.mark.workflow
def test_partition_sets_summary_matches_the_files(set_runs):
    wd = set_runs["banded"]
    prep = read_h5(res(wd, "prepared.h5"))
    members = dict(zip(prep["roi_names"], prep["roi_members"]))
    t = pd.read_csv(res(wd, "summary", "partition_sets.tsv"), sep="\t")
    assert list(t.columns) == ["roi", "set", "component", "n_voxels", "n_undefined", "median", "min", "max",
                               "n_significant", "fraction_significant"]
    assert len(t) == len(members) * (7 + 3)
    for row in t.sample(30, random_state=0).itertuples():
        v = read_h5(res(wd, "partition_sets", f"{row.set}.h5"))[row.component][members[row.roi]]
        q = read_h5(res(wd, "stats", "partition_sets", f"{row.set}.h5"))[f"q_{row.component}"][members[row.roi]]
        ok = ~np.isnan(v)
        assert row.n_voxels == ok.sum() and row.n_undefined == (~ok).sum()
        np.testing.assert_allclose([row.median, row.min, row.max],
                                   [np.median(v[ok]), v[ok].min(), v[ok].max()], rtol=1e-9, atol=1e-12)
        assert row.n_significant == int(np.sum(ok & (np.nan_to_num(q, nan=1.0) <= 0.05) & (v > 0)))   # stats.significant
    # the demo's layer mixtures give some layer a significant unique part somewhere
    assert t[t.component.str.startswith("unique_")].n_significant.max() > 0


def demo_comparison(concat_wd, banded_wd, pairs=PAIRS):
    """Median joint R2, share of voxels where banded's joint R2 is higher, and the fraction of
    negative unique variances (both layers of every pair, defined voxels), concatenated vs banded."""
    out = {}
    higher = []
    for joint, wd in (("concatenated", concat_wd), ("banded", banded_wd)):
        joint_r2, unique = [], []
        for a, b in pairs:
            p = read_h5(res(wd, "partition", f"{a}+{b}.h5"))
            ok = ~np.isnan(p["r2_joint"])
            joint_r2.append(p["r2_joint"][ok])
            unique += [p["unique_a"][ok], p["unique_b"][ok]]
        out[joint] = {"median_joint_r2": float(np.median(np.concatenate(joint_r2))),
                      "frac_negative_unique": float(np.mean(np.concatenate(unique) < 0))}
    for a, b in pairs:
        c, bd = (read_h5(res(wd, "partition", f"{a}+{b}.h5"))["r2_joint"] for wd in (concat_wd, banded_wd))
        ok = ~np.isnan(c) & ~np.isnan(bd)
        higher.append(bd[ok] > c[ok])
    out["frac_banded_higher"] = float(np.mean(np.concatenate(higher)))
    return out


@pytest.mark.workflow
def test_banded_beats_concatenated_on_the_demo(set_runs):
    cmp_ = demo_comparison(set_runs["concatenated"], set_runs["banded"])
    print(f"demo (default demo subject, pairs of Conv1/Conv3/Conv5): {cmp_}")
    assert cmp_["frac_banded_higher"] > 0.5
    assert cmp_["banded"]["median_joint_r2"] > cmp_["concatenated"]["median_joint_r2"]
    assert cmp_["banded"]["frac_negative_unique"] < cmp_["concatenated"]["frac_negative_unique"]


@pytest.mark.workflow
def test_joint_and_ratio_changes_rerun_fits_and_downstream_only(set_runs):
    def dry(wd, ridge):
        cfg = set_config("unused", "concatenated")
        path = os.path.join(wd, "overrides.yaml")
        with open(path, "w") as fh:
            yaml.safe_dump({"ridge": ridge}, fh)
        return job_counts(snakemake(wd, "-n", "--configfile", os.path.join(wd, "config", "config.yaml"),
                                    path).stdout)
    counts = dry(set_runs["concatenated"], {"joint": "banded"})
    # every model: with intercept and lambdas on auto, banded also changes the single layers'
    # intercept and lambda grid, so each fit_layer job (cross products and fit) reruns too
    assert fitted_models(counts, SET_LAYERS) == 7 and counts["fit_layer"] == 3
    assert counts["partition"] == 3 and counts["partition_set"] == 2
    assert counts["best_layer"] == 1 and counts["partition_sets_summary"] == 1
    assert not {"prepare", "demo_subject", "demo_anatomy"} & set(counts)
    counts = dry(set_runs["banded"], {"joint": "banded", "band_ratios": [0.01, 1.0, 100.0]})
    assert fitted_models(counts, SET_LAYERS) == 4          # the three pairs and the 3-layer model, no single layer
    assert "best_layer" not in counts and "fit_layer" not in counts
