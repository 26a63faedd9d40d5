"""What the workflow refuses (issue 11): one test per class of bad input, each through a
real run, asserting the exit status, the message (file or key named) and that no result
of the refused stage was written. Subjects are 'download' subjects served from file://
URLs of files the test writes, so no demo generation or network is needed."""
import os

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import LAYERS
from encoding_models import demo, layout
from encoding_models.io import read_h5
from workflow_helpers import snakemake, write_config

pytestmark = pytest.mark.workflow
SUBJECT = "subjx"


def _subject(tmp_path, small_subject, change=None):
    """The small subject's files in tmp_path/src (changed by ``change``) and a config that downloads them."""
    src = tmp_path / "src"
    files = layout.input_files("s", LAYERS, root=str(src))
    subject = {k: (dict(v) if isinstance(v, dict) else v) for k, v in small_subject.items()}
    subject["features"] = dict(small_subject["features"])
    subject["image_info"] = dict(small_subject["image_info"])
    subject["betas"] = small_subject["betas"].copy()
    if change:
        change(subject)
    demo.write_subject(files, subject, str(src / "gt.h5"))
    url = lambda p: f"file://{os.path.abspath(p)}"
    cfg = {"subjects": {SUBJECT: {"source": "download", "split_seed": 42102,
                                  "urls": {"betas": url(files["betas"]), "image_info": url(files["image_info"]),
                                           "roi_info": url(files["roi_info"]),
                                           "features": {l: url(files["features"][l]) for l in LAYERS}}}},
           "layers": LAYERS[:3], "rois": ["all", "V1v", "FFA-1"], "maps": {"enabled": False}}
    return cfg


def _run(tmp_path, cfg, target="summaries"):
    wd = tmp_path / "wd"
    write_config(wd, cfg)
    targets = {"summaries": [layout.path(layout.SUMMARY, subject=SUBJECT, table=t) for t in layout.SUMMARY_TABLES]}
    res = snakemake(wd, "-c1", *targets.get(target, [target]), check=False)
    logs = "".join(open(os.path.join(r, f)).read() for r, _, fs in os.walk(wd / "logs") for f in fs) \
        if (wd / "logs").exists() else ""
    return res.returncode, res.stdout + res.stderr + logs, wd


def _results(wd):
    base = wd / "results"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.exists() else []


# ------------------------------------------------------------------ data that would give numbers that look like answers
@pytest.mark.parametrize("case, change, cfg_change, message, named", [
    ("no validation images", lambda s: s["image_info"].update(shared1000=np.zeros(400, bool)), None,
     "shared1000: the validation split needs at least 3", "image_info.csv"),
    ("holdout takes everything", None, {"split": {"pct_holdout": 0.9999}},
     "split.pct_holdout=0.9999 leaves the train split", "image_info.csv"),
    ("betas overflow float32", lambda s: s.update(betas=_overflowing(s["betas"])), None,
     "not finite after rounding to float32", "betas_avg_bigmask.hdf5"),
])
def test_degenerate_splits_and_unusable_betas_stop_in_prepare(case, change, cfg_change, message, named,
                                                              tmp_path, small_subject):
    cfg = _subject(tmp_path, small_subject, change)
    cfg.update(cfg_change or {})
    rc, out, wd = _run(tmp_path, cfg)
    assert rc != 0 and message in out and named in out
    assert _results(wd) == [], "prepare must write nothing"


def _overflowing(betas):
    b = betas.astype(np.float64)
    b[np.flatnonzero(~np.isnan(b[:, 0]))[3], 2] = 1e39    # beyond float32's range
    return b


@pytest.mark.parametrize("case, features, message", [
    ("identical rows", lambda f, s: np.tile(f[:1], (f.shape[0], 1)), "identical on every train/holdout image"),
    ("no columns", lambda f, s: np.zeros((f.shape[0], 0), np.float32), "0 columns"),
    ("more features than train images", lambda f, s: np.random.default_rng(0).standard_normal((f.shape[0], 400)),
     "train split only"),
    # one float64 cell beyond float32's range in a validation row: the layer's R2 was NaN in every voxel, exit 0
    ("beyond float32", lambda f, s: _with_val_cell(f, s, 1e39), "not finite after z-scoring and rounding to float32"),
])
def test_designs_without_information_stop_in_crossprod(case, features, message, tmp_path, small_subject):
    cfg = _subject(tmp_path, small_subject,
                   lambda s: s["features"].update(Conv2=features(s["features"]["Conv2"], s)))
    rc, out, wd = _run(tmp_path, cfg)
    assert rc != 0 and message in out and "Conv2.hdf5" in out
    assert not any(r.startswith(f"{SUBJECT}/crossprod/Conv2") for r in _results(wd))
    assert not any(r.startswith(f"{SUBJECT}/fits") and "Conv2" in r for r in _results(wd))


def _with_val_cell(f, subject, value):
    """float64 features with ``value`` in column 0 of the first validation row (shared1000, seen)."""
    info = subject["image_info"]
    row = int(np.flatnonzero(np.asarray(info["shared1000"]) & (np.asarray(info["n_reps"]) > 0))[0])
    f = f.astype(np.float64)
    f[row, 0] = value
    return f


def test_integer_features_are_read_as_numbers(tmp_path, small_subject):
    cfg = _subject(tmp_path, small_subject,
                   lambda s: s["features"].update(Conv1=np.round(s["features"]["Conv1"] * 10).astype(np.int16)))
    rc, out, wd = _run(tmp_path, cfg, layout.path(layout.FIT, subject=SUBJECT, model="Conv1"))
    assert rc == 0, out[-3000:]
    assert np.isfinite(read_h5(wd / layout.path(layout.FIT, subject=SUBJECT, model="Conv1"), ["r2"])["r2"]).all()


def test_undefined_r2_is_nan_counted_and_never_a_layer(tmp_path, small_subject):
    """A voxel constant over the validation images: R2 undefined (NaN, not -inf), best
    layer -1, excluded from every summary and counted in n_undefined; no NaN/inf in TSVs.
    A voxel constant over the training images (every model predicts its mean, so every
    layer has the same R2): best layer -1 too, not the first layer (found by an attack
    review: the reference's argmax made Conv1 win it)."""
    holder = {}

    def flatten_on_val(s):
        b = s["betas"]
        shared = np.asarray(s["image_info"]["shared1000"])
        b[shared & ~np.isnan(b[:, 0]), 4] = 0.5
        b[~shared & ~np.isnan(b[:, 0]), 7] = 0.0
        holder["voxel"] = 4
    cfg = _subject(tmp_path, small_subject, flatten_on_val)
    rc, out, wd = _run(tmp_path, cfg)
    assert rc == 0, out[-3000:]
    base = wd / "results" / SUBJECT
    fit = read_h5(base / "fits" / "Conv1.h5")
    k = int(np.flatnonzero(fit["voxel_index"] == holder["voxel"])[0])
    assert np.isnan(fit["r2"][k]) and np.isfinite(np.delete(fit["r2"], k)).all()
    best = read_h5(base / "best_layer.h5")["best_layer"]
    assert best[k] == -1
    flat = int(np.flatnonzero(fit["voxel_index"] == 7)[0])
    r2 = [read_h5(base / "fits" / f"{layer}.h5", ["r2"])["r2"][flat] for layer in LAYERS[:3]]
    assert np.isfinite(r2).all() and len(set(r2)) == 1 and best[flat] == -1     # a tie, not Conv1
    assert (best == -1).sum() == 2
    assert read_h5(base / "prepared.h5")["r2_undefined"].sum() == 1
    for table in layout.SUMMARY_TABLES:
        text = (base / "summary" / f"{table}.tsv").read_text()
        assert "nan" not in text.lower() and "inf" not in text.lower(), table
    q1 = pd.read_csv(base / "summary" / "layer_r2.tsv", sep="\t")
    row = q1[(q1.roi == "all") & (q1.layer == "Conv1")].iloc[0]
    assert row.n_undefined == 1 and row.n_voxels == fit["r2"].size - 1
    counts = pd.read_csv(base / "summary" / "best_layer_counts.tsv", sep="\t")
    assert counts[counts.roi == "all"]["count"].sum() == fit["r2"].size - 2
    assert (counts[counts.roi == "all"]["n_undefined"] == 2).all()


def test_one_layer_runs_everything_that_exists(tmp_path, small_subject):
    cfg = _subject(tmp_path, small_subject)
    cfg["layers"] = ["Conv1"]
    rc, out, wd = _run(tmp_path, cfg)
    assert rc == 0, out[-3000:]
    part = pd.read_csv(wd / "results" / SUBJECT / "summary" / "partition.tsv", sep="\t")
    assert part.empty and "unique_a_median" in part.columns


# ------------------------------------------------------------------ config: refused at parse time, naming the key
@pytest.mark.parametrize("change, key, why", [
    ({"merged_rois": {"FFA-1": ["V1v"]}}, "merged_rois.FFA-1", "already an ROI name"),
    ({"merged_rois": {"all": ["V1v"]}}, "merged_rois.all", "already an ROI name"),
    ({"ridge": {"lambdas": [-0.5, 1.0, 10.0]}}, "ridge.lambdas", "below"),
    ({"ridge": {"lambdas": [1.0, "ten"]}}, "ridge.lambdas", "'ten', not a number"),
    ({"ridge": {"batch_size": 2048.0}}, "ridge.batch_size", "whole number"),
    ({"maps": {"r2": {"cmap": "NoSuchMap", "vmin": 0, "vmax": 1}}}, "maps.r2.cmap", "unknown colormap"),
    ({"maps": {"partition": {"cmap": "RdBu_r", "vmin": 0.2, "vmax": -0.2}}}, "maps.partition", "must be below"),
    ({"subjects": {SUBJECT: {"split_seed": 2 ** 33}}}, "split_seed", "maximum"),
    # issue 20 (the other cases: test_parse_time_refusals_of_issue_20, without a snakemake run each)
    ({"stats": {"bootstrap": 1}}, "stats.bootstrap", "at least 40"),
    ({"stats": {"enabled": False}, "maps": {"enabled": True, "mask": "fdr"}}, "maps.mask", "stats.enabled is false"),
    ({"merged_rois": {"x/../../../../../ESCAPED": ["V1v"]}, "rois": ["all", "x/../../../../../ESCAPED"]},
     "rois", "does not match"),
])
def test_bad_config_is_refused_before_any_job(change, key, why, tmp_path, small_subject):
    cfg = _subject(tmp_path, small_subject)
    for k, v in change.items():
        if k == "subjects":
            cfg["subjects"][SUBJECT].update(v[SUBJECT])
        else:
            cfg[k] = v
    wd = tmp_path / "wd"
    write_config(wd, cfg)
    res = snakemake(wd, "-n", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and key in out and why in out, out[-2000:]
    assert not (wd / "results").exists() and not (wd / "resources").exists()


def _parse_check(cfg):
    """What the Snakefile does at parse time: the schema (with its defaults), then configuration.check."""
    from snakemake.utils import validate
    from encoding_models import configuration
    from workflow_helpers import ROOT
    validate(cfg, os.path.join(ROOT, "workflow", "schemas", "config.schema.yaml"))
    configuration.check(cfg)


@pytest.mark.parametrize("change, key, why", [
    ({"stats": {"bootstrap": 39}}, "stats.bootstrap", "at least 40"),
    ({"stats": {"bootstrap": 500, "fdr_q": 0.001}}, "stats.bootstrap", "at least 999"),
    ({"stats": {"permutations": 18}}, "stats.permutations", "no voxel could be significant; use at least 19"),
    ({"stats": {"permutations": 998, "fdr_q": 0.001}}, "stats.permutations", "use at least 999"),
    ({"merged_rois": {"x/../../../../../ESCAPED": ["V1v"]}}, "merged_rois", "does not match"),
    ({"merged_rois": {"<script>alert(1)</script>": ["V1v"]}}, "merged_rois", "does not match"),
    ({"merged_rois": {"V1": ["V1v", "../V1d"]}}, "merged_rois", "does not match"),
    ({"rois": ["all", "V1v/.."]}, "rois", "does not match"),
    # maps of a download subject without a pycortex database (was a KeyError while building the DAG)
    ({"maps": {"enabled": True}}, f"subjects.{SUBJECT}.urls.pycortex_db", "maps need the subject's pycortex database"),
    # YAML's .nan passes the schema's bounds (comparisons with NaN are false): refused by key
    ({"stats": {"fdr_q": float("nan")}}, "stats.fdr_q", "nan is not a finite number"),
    ({"split": {"pct_holdout": float("nan")}}, "split.pct_holdout", "nan is not a finite number"),
    ({"summary": {"noise_ceiling_threshold": float("nan")}}, "summary.noise_ceiling_threshold", "not a finite"),
])
def test_parse_time_refusals_of_issue_20(change, key, why, tmp_path, small_subject):
    cfg = _subject(tmp_path, small_subject)
    cfg.update(change)
    with pytest.raises(Exception) as err:
        _parse_check(cfg)
    assert key in str(err.value) and why in str(err.value), str(err.value)


@pytest.mark.parametrize("names", [["x/../y"], ["<script>"], ["a b"], ["V1."]])
def test_roi_names_are_checked_without_the_schema_too(names):
    """configuration.check refuses them itself (e.g. for a config validated elsewhere), naming the key."""
    from encoding_models import configuration
    with pytest.raises(configuration.ConfigError, match=r"'rois'.*letters, digits"):
        configuration._check_roi_names(names, {})
    with pytest.raises(configuration.ConfigError, match=r"'merged_rois\..*letters, digits"):
        configuration._check_roi_names([], {names[0]: ["V1v"]})


def test_smallest_allowed_stats_counts_and_unmasked_maps_without_stats_are_accepted(tmp_path, small_subject):
    for stats_cfg, maps in (({"bootstrap": 40, "permutations": 19}, {"enabled": True}),
                            ({"bootstrap": 999, "permutations": 999, "fdr_q": 0.001}, {"enabled": True}),
                            ({"enabled": False}, {"enabled": True, "mask": "none"}),
                            ({"enabled": False}, {"enabled": False})):
        cfg = _subject(tmp_path, small_subject)
        cfg.update(stats=stats_cfg, maps=maps)
        cfg["subjects"][SUBJECT]["urls"]["pycortex_db"] = "file:///nonexistent/pycortex_db.zip"   # maps need one
        _parse_check(cfg)


def test_lambdas_yaml_reads_as_strings_are_accepted(tmp_path, small_subject):
    cfg = _subject(tmp_path, small_subject)
    wd = tmp_path / "wd"
    write_config(wd, cfg)
    with open(wd / "config" / "config.yaml", "a") as fh:
        fh.write("ridge:\n  lambdas: [1e-3, 1e2, 1.0e4]\n")      # PyYAML reads 1e-3 and 1e2 as strings
    res = snakemake(wd, "-n", check=False)
    assert res.returncode == 0, (res.stdout + res.stderr)[-2000:]


def test_permutations_capped_below_the_fdr_level_are_refused(tmp_path):
    """Issue 20: the validation set caps the permutations at n_val - 1 (stored as attrs);
    when that cap leaves the smallest p-value above stats.fdr_q, the summaries refuse
    rather than report 0 significant voxels."""
    from encoding_models.io import write_h5
    from encoding_models.stages.summaries import check_reachable
    ok, capped = tmp_path / "ok.h5", tmp_path / "capped.h5"
    write_h5(str(ok), {"p_r2": np.ones(3)}, attrs={"n_permutations": 19, "n_permutations_requested": 1000, "n_val": 20})
    write_h5(str(capped), {"p_r2": np.ones(3)}, attrs={"n_permutations": 18, "n_permutations_requested": 1000,
                                                        "n_val": 19})
    check_reachable(str(ok), 0.05)
    with pytest.raises(ValueError, match=r"capped.h5: only 18 permutations are possible with 19 validation images"):
        check_reachable(str(capped), 0.05)
    check_reachable(str(capped), 0.1)
