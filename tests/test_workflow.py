"""End-to-end runs of the workflow on a small demo subject."""
import itertools
import os

import h5py
import numpy as np
import pandas as pd
import pytest

import reference_port as ref
from encoding_models import contract, layout
from encoding_models.io import read_h5
from workflow_helpers import (ROOT, fitted_models, job_counts, layer_jobs, small_config, snakemake,  # noqa: F401
                              stats_jobs, write_config)

pytestmark = pytest.mark.workflow
LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
PAIRS = list(itertools.combinations(LAYERS, 2))


def fit(wd, model):
    return read_h5(os.path.join(wd, "results", "demo", "fits", f"{model}.h5"))


# ----------------------------------------------------------------- dry runs and config
def test_dry_run_lists_five_layer_fits_and_ten_pairs(demo_run, tmp_path):
    cfg = small_config("store")
    write_config(tmp_path, cfg)
    counts = job_counts(snakemake(tmp_path, "-n").stdout)
    assert counts["fit_layer"] == 5 and layer_jobs(counts, "fit_pairs") == {f"Conv{i}": 1 for i in range(2, 6)}
    assert fitted_models(counts, LAYERS) == 15 and counts["partition"] == 10 and "fit" not in counts
    write_config(tmp_path, small_config("store", layers=["Conv1", "Conv3", "Conv5"]))
    counts = job_counts(snakemake(tmp_path, "-n").stdout)
    assert counts["fit_layer"] == 3 and layer_jobs(counts, "fit_pairs") == {"Conv3": 1, "Conv5": 1}
    assert fitted_models(counts, ["Conv1", "Conv3", "Conv5"]) == 6 and counts["partition"] == 3
    out = snakemake(tmp_path, "-n", "--printshellcmds").stdout
    assert "results/demo/fits/Conv1+Conv5.h5" in out and "Conv5+Conv1" not in out


@pytest.mark.parametrize("override, message", [
    (["no_such_key=1"], "no_such_key"),
    (["layers=[Conv1, Conv2, Conv1]"], "layers"),
    (["rois=[all, V1v, NotAnROI]"], "NotAnROI"),
    (["ridge={lambdas: [1.0, .nan]}"], "lambdas"),
])
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, override, message):
    write_config(tmp_path, small_config("store"))
    res = snakemake(tmp_path, "-n", "--config", *override, check=False)
    assert res.returncode != 0
    assert message in res.stdout + res.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_lint_is_clean():
    res = snakemake(ROOT, "--lint", check=False)
    assert res.returncode == 0, res.stdout + res.stderr


# ----------------------------------------------------------------- results
def test_demo_subject_passes_the_contract(demo_run):
    files = layout.input_files("demo", LAYERS, root=str(demo_run))
    subj = contract.validate_subject(files, LAYERS, ["all", "V1v", "hV4", "FFA-2", "EBA"])
    assert subj.n_voxels >= 3000 and (~subj.good_rows).sum() == 6
    with open(os.path.join(demo_run, "logs", "demo", "prepare.log")) as fh:
        assert "594 images kept of 600" in fh.read()


def test_partitions_add_up_and_equal_fit_differences(demo_run):
    for a, b in PAIRS:
        part = read_h5(os.path.join(demo_run, "results", "demo", "partition", f"{a}+{b}.h5"))
        ra, rb, rab = fit(demo_run, a)["r2"], fit(demo_run, b)["r2"], fit(demo_run, f"{a}+{b}")["r2"]
        np.testing.assert_allclose(part["unique_a"] + part["unique_b"] + part["shared"], part["r2_joint"], atol=1e-12)
        assert np.array_equal(part["unique_a"], rab - rb) and np.array_equal(part["unique_b"], rab - ra)
        assert np.array_equal(part["r2_joint"], rab)
        np.testing.assert_allclose(part["shared"], ra + rb - rab, atol=1e-12)


def test_best_layer_recovers_ground_truth(demo_run):
    best = read_h5(os.path.join(demo_run, "results", "demo", "best_layer.h5"))
    prep = read_h5(os.path.join(demo_run, "results", "demo", "prepared.h5"))
    with h5py.File(os.path.join(demo_run, "resources", "demo", "ground_truth.h5")) as f:
        truth = f["preferred_layer"][()][best["voxel_index"]]
    good = prep["noise_ceiling"] >= 0.3
    agree = np.mean(best["best_layer"][good] == truth[good])
    print(f"best layer == generator's preferred layer for {agree:.1%} of {good.sum()} voxels with NC >= 0.3")
    assert agree > 0.75
    stack = np.stack([fit(demo_run, l)["r2"] for l in LAYERS])
    assert np.array_equal(best["best_layer"], stack.argmax(0))


def test_summaries_match_result_files(demo_run):
    base = os.path.join(demo_run, "results", "demo")
    prep = read_h5(os.path.join(base, "prepared.h5"))
    members = dict(zip(prep["roi_names"], prep["roi_members"]))
    q1 = pd.read_csv(os.path.join(base, "summary", "layer_r2.tsv"), sep="\t")
    assert len(q1) == len(LAYERS) * len(members)
    for row in q1.itertuples():
        r2 = fit(demo_run, row.layer)["r2"][members[row.roi]]
        assert row.n_voxels == r2.size
        np.testing.assert_allclose([row.min, row.median, row.max], [r2.min(), np.median(r2), r2.max()], rtol=1e-9)
    q2 = pd.read_csv(os.path.join(base, "summary", "best_layer_counts.tsv"), sep="\t")
    best = read_h5(os.path.join(base, "best_layer.h5"))["best_layer"]
    for row in q2.itertuples():
        assert row.count == np.sum(best[members[row.roi]] == LAYERS.index(row.layer))
    assert q2[q2.roi == "all"]["count"].sum() == best.size
    q4 = pd.read_csv(os.path.join(base, "summary", "partition.tsv"), sep="\t")
    assert len(q4) == len(PAIRS) * len(members)
    for row in q4.sample(40, random_state=0).itertuples():
        part = read_h5(os.path.join(base, "partition", f"{row.pair}.h5"))
        for key in ("unique_a", "unique_b", "shared", "r2_joint"):
            v = part[key][members[row.roi]]
            np.testing.assert_allclose([getattr(row, f"{key}_median"), getattr(row, f"{key}_min"), getattr(row, f"{key}_max")],
                                       [np.median(v), v.min(), v.max()], rtol=1e-9, atol=1e-12)


def _reference_inputs(wd):
    files = layout.input_files("demo", LAYERS, root=str(wd))
    with h5py.File(files["betas"]) as f:
        betas = np.copy(f["/betas"])
    info = pd.read_csv(files["image_info"])
    rinfo = np.load(files["roi_info"], allow_pickle=True).item()
    fdata = {l: np.array(h5py.File(files["features"][l])["features"]) for l in LAYERS}
    return betas, info, rinfo, fdata


@pytest.mark.parametrize("roi", ["all", "FFA-1"])
def test_fits_equal_the_reference_notebook_pipeline(demo_run, roi):
    """The notebook's whole pipeline (split, normalisation, solver, R2), per ROI, on the demo files."""
    betas, info, rinfo, fdata = _reference_inputs(demo_run)
    out = ref.run_pipeline(betas, info, rinfo, fdata, seed=171301, roi_name=roi,
                           pairs=PAIRS if roi == "all" else [("Conv1", "Conv5")])
    sel = ref.get_roi_vox(rinfo, roi)
    for layer in LAYERS:
        mine = fit(demo_run, layer)
        idx = np.searchsorted(mine["voxel_index"], np.flatnonzero(sel))
        assert np.array_equal(mine["best_lambda_index"][idx], out["best"][layer])
        assert np.max(np.abs(mine["r2"][idx] - out["r2"][layer])) < 1e-9
    for (a, b), p in out["partition"].items():
        mine = fit(demo_run, f"{a}+{b}")
        idx = np.searchsorted(mine["voxel_index"], np.flatnonzero(sel))
        assert np.array_equal(mine["best_lambda_index"][idx], p["best"])
        assert np.max(np.abs(mine["r2"][idx] - p["r2_joint"])) < 1e-9
    if roi == "all":
        best = read_h5(os.path.join(demo_run, "results", "demo", "best_layer.h5"))["best_layer"]
        assert np.mean(best == out["best_layer"]) == 1.0


# ----------------------------------------------------------------- maps and report
def test_every_map_exists_and_is_not_blank(demo_run):
    from PIL import Image
    base = os.path.join(demo_run, "results", "demo", "maps")
    pngs = [os.path.join(base, "best_layer.png")] + [os.path.join(base, "r2", f"{l}.png") for l in LAYERS] + [
        os.path.join(base, "partition", f"{a}+{b}", f"{k}.png") for a, b in PAIRS
        for k in ("r2_joint", "unique_a", "unique_b", "shared")]
    assert len(pngs) == 1 + 5 + 40
    for path in pngs:
        img = Image.open(path)
        img.verify()
        arr = np.asarray(Image.open(path).convert("RGB"), dtype=float)
        assert arr.shape[0] > 300 and arr.shape[1] > 500
        assert arr.std() > 10, f"{path} looks blank"
    meta = Image.open(os.path.join(base, "best_layer.png")).text
    assert meta["Legend"] == ",".join(LAYERS)
    assert "cmap=best_layer vmin=-0.5 vmax=4.5" in meta["Description"]   # the palette's layer colours
    for fig in ("partition_by_roi.png", "best_layer_by_roi.png"):
        arr = np.asarray(Image.open(os.path.join(demo_run, "results", "demo", "figures", fig)).convert("RGB"), float)
        assert arr.std() > 10


def test_best_layer_map_shows_early_layers_in_early_areas(demo_run):
    """What the map draws: early visual areas' voxels prefer Conv1-2, category areas Conv4-5."""
    counts = pd.read_csv(os.path.join(demo_run, "results", "demo", "summary", "best_layer_counts.tsv"), sep="\t")
    frac = counts.pivot(index="roi", columns="layer", values="count")
    frac = frac.div(frac.sum(axis=1), axis=0)
    assert (frac.loc["V1", ["Conv1", "Conv2"]].sum()) > 0.6
    assert (frac.loc["FFA-2", ["Conv4", "Conv5"]].sum()) > 0.6
    assert (frac.loc["PPA", ["Conv4", "Conv5"]].sum()) > 0.6


def test_user_config_is_never_touched(demo_run, store):
    assert os.path.isfile(os.path.join(store, "config", "pycortex", "options.cfg"))
    assert os.path.isdir(os.path.join(store, "db", "S1"))
    home_cfg = os.path.expanduser("~/.config/pycortex/options.cfg")
    if os.path.exists(home_cfg):
        assert os.path.getmtime(home_cfg) < os.path.getmtime(os.path.join(demo_run, "config", "config.yaml"))


def test_report_builds(demo_run):
    snakemake(demo_run, "--report", "report.html")
    html = open(os.path.join(demo_run, "report.html"), encoding="utf-8", errors="replace").read()
    assert "best_layer.png" in html and "partition_by_roi.png" in html and "layer_r2.tsv" in html


def test_noise_ceiling_normalised_summary_option(demo_run, tmp_path):
    """summary.noise_ceiling_threshold: R2 / NC over voxels whose NC is at least the threshold."""
    from encoding_models.stages import summaries
    base = os.path.join(demo_run, "results", "demo")
    out = [str(tmp_path / f) for f in ("q1.tsv", "q2.tsv", "q4.tsv")]
    summaries.summaries(os.path.join(base, "prepared.h5"), LAYERS,
                       [os.path.join(base, "fits", f"{l}.h5") for l in LAYERS], os.path.join(base, "best_layer.h5"),
                       PAIRS, [os.path.join(base, "partition", f"{a}+{b}.h5") for a, b in PAIRS], *out, nc_threshold=0.3)
    q1 = pd.read_csv(out[0], sep="\t")
    prep = read_h5(os.path.join(base, "prepared.h5"))
    row = q1[(q1.roi == "V1") & (q1.layer == "Conv1")].iloc[0]
    m = prep["roi_members"][list(prep["roi_names"]).index("V1")] & (prep["noise_ceiling"] >= 0.3)
    ratio = fit(demo_run, "Conv1")["r2"][m] / prep["noise_ceiling"][m]
    assert row.n_voxels_r2_over_nc == m.sum() > 0
    np.testing.assert_allclose(row.median_r2_over_nc, np.median(ratio), rtol=1e-9)
    # the default tables are unchanged by the option (this call passes no statistics, so
    # the run's significance columns are absent here)
    default = pd.read_csv(os.path.join(base, "summary", "layer_r2.tsv"), sep="\t")
    assert {"n_significant", "fraction_significant"} <= set(default.columns)
    assert "n_significant" not in q1.columns
    common = [c for c in default.columns if c in q1.columns]
    pd.testing.assert_frame_equal(q1[common], default[common])


# ----------------------------------------------------------------- structure (issue 10)
def test_parsing_imports_neither_torch_nor_pycortex(tmp_path):
    """`snakemake -n` works where torch and pycortex cannot be imported at all."""
    blocker = tmp_path / "blocked"
    for name in ("torch", "cortex"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked by the test')\n")
    wd = tmp_path / "wd"
    write_config(wd, small_config("store"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]))
    res = snakemake(wd, "-n", env=env)
    assert fitted_models(job_counts(res.stdout), LAYERS) == 15
    assert "blocked by the test" not in res.stdout + res.stderr


def test_snakefmt_is_clean():
    import shutil
    import subprocess
    import sys
    exe = shutil.which("snakefmt", path=os.path.dirname(sys.executable)) or shutil.which("snakefmt")
    assert exe, "snakefmt is a dev dependency (pip install -e .[dev])"
    res = subprocess.run([exe, "--check", "Snakefile", "workflow"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_roi_outputs_are_targets(tmp_path):
    write_config(tmp_path, small_config("store"))
    res = snakemake(tmp_path, "-n", "results/demo/rois/FFA-1/overview.png")
    assert job_counts(res.stdout)["roi_summary"] == 1
    counts = job_counts(snakemake(tmp_path, "-n").stdout)
    assert counts["roi_summary"] == 1   # every ROI of the subject in one job


def test_rule_scripts_build_no_paths_and_rules_spell_none():
    """Paths come from snakemake.input/output (rule scripts) and from the layout module (rules)."""
    import ast
    import glob
    for script in glob.glob(os.path.join(ROOT, "scripts", "*.py")):
        tree = ast.parse(open(script).read())
        literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        suspicious = [s for s in literals if "/" in s or s.endswith((".h5", ".hdf5", ".tsv", ".png", ".csv", ".npy"))]
        assert not suspicious, f"{script} builds paths from literals: {suspicious}"
    for smk in glob.glob(os.path.join(ROOT, "workflow", "rules", "*.smk")):
        text = open(smk).read()
        for prefix in ("resources/", "results/", "logs/"):
            assert f'"{prefix}' not in text and f"'{prefix}" not in text, f"{smk} spells a {prefix} path"


def test_jobs_by_layer_covers_every_model_and_pair_once_and_appending_changes_none():
    from encoding_models import layout
    layers = ["A", "B", "C", "D"]
    plan = layout.jobs_by_layer(layers)
    tested = [m for p in plan.values() for m in p["tested"]]
    assert sorted(tested) == sorted(layout.models(layers)) and len(tested) == len(set(tested))
    assert sorted(pr for p in plan.values() for pr in p["pairs"]) == sorted(layout.pairs(layers))
    assert plan["A"] == {"tested": ["A"], "pairs": []}
    assert plan["D"] == {"tested": ["D", "A+D", "B+D", "C+D"], "pairs": [("A", "D"), ("B", "D"), ("C", "D")]}
    more = layout.jobs_by_layer(layers + ["E"])
    assert all(more[layer] == plan[layer] for layer in layers) and more["E"]["pairs"][-1] == ("D", "E")


def test_every_path_pattern_is_defined_once():
    from encoding_models import layout
    patterns = [v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str) and "/" in v]
    patterns += [v for d in (layout.INPUTS, layout.LOG, layout.FIGURES) for v in d.values()]
    assert len(patterns) == len(set(patterns))


def test_every_job_has_its_own_log_whatever_the_names():
    """Issue 20: layers [A, partition_A, B] made stats_model (model partition_A+B) and
    stats_partition (pair A+B) declare one log. Each rule with wildcards logs into a folder
    no other pattern's text starts with, and joins its wildcard values with '/' or '+'
    (characters no name may hold), so the values can be read back from the path."""
    import re
    from encoding_models import layout
    texts = {rule: p.replace("{subject}", "S") for rule, p in layout.LOG.items()}
    static = {rule: t.split("{")[0] for rule, t in texts.items()}
    for rule, t in texts.items():
        parts = re.split(r"\{[a-z_]+\}", t)
        if len(parts) == 1:
            continue
        assert static[rule].endswith("/"), (rule, t)
        assert all(sep in ("/", "+") for sep in parts[1:-1]) and parts[-1] == ".log", (rule, t)
        for other, o in texts.items():
            if other != rule:
                assert not o.startswith(static[rule]) and not static[rule].startswith(static[other] + "/"), (rule, other)


def test_names_that_once_shared_a_log_dry_run(tmp_path):
    """A dry run with layer and set names whose jobs once declared the same log file
    (stats_model vs stats_partition, map_r2 vs map_r2_over_nc, stats_model vs
    stats_partition_set): no two jobs of the dry run name the same log file (Snakemake
    9 does not refuse that itself: two such jobs would write one file at once)."""
    import collections
    layers = ["A", "partition_set_A", "partition_A", "B", "over_nc_B", "C"]
    cfg = small_config("store", layers=layers, partition_sets=[["A", "B", "C"], ["partition_set_A", "B", "C"]])
    cfg["subjects"]["demo"]["demo"]["layers"] = layers
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, "-n", check=False)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    counts = job_counts(res.stdout)
    assert len(stats_jobs(counts)) == len(layers) and counts["stats_partition_set"] == 2
    assert counts["stats_model"] == counts["fit"]     # the sets' models of 3+ layers: a fit and a test each
    logs = [line.split("log:", 1)[1].strip() for line in res.stdout.splitlines() if line.strip().startswith("log:")]
    assert len(logs) == sum(counts[r] for r in counts if r != "all")
    shared = {log: n for log, n in collections.Counter(logs).items() if n > 1}
    assert not shared, shared
