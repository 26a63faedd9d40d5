"""Rerun-on-change, interruption and determinism of the workflow."""
import glob
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import yaml

from encoding_models.io import read_h5
from workflow_helpers import (ROOT, SNAKEMAKE, fitted_models, job_counts, layer_jobs, pair_maps, small_config,
                              snakemake, write_config)

pytestmark = pytest.mark.workflow
LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]


def dry(wd, overrides=None):
    """A dry run of wd's workflow, with overrides (a dict) layered over its config file."""
    args = []
    if overrides:
        path = os.path.join(wd, "overrides.yaml")
        with open(path, "w") as fh:
            yaml.safe_dump(overrides, fh)
        args = ["--configfile", os.path.join(wd, "config", "config.yaml"), path]
    res = snakemake(wd, "-n", *args)
    return job_counts(res.stdout), res.stdout


def test_changing_nothing_reruns_nothing(demo_run):
    counts, out = dry(demo_run)
    assert counts == {} and "Nothing to be done" in out


def test_lambda_grid_change_reruns_fits_and_downstream_only(demo_run):
    counts, _ = dry(demo_run, {"ridge": {"lambdas": [0.1, 1.0, 10.0, 100.0, 1000.0]}})
    assert fitted_models(counts, LAYERS) == 15 and counts["fit_layer"] == 5 and counts["partition"] == 10
    assert counts["best_layer"] == 1 and counts["summaries"] == 1 and counts["roi_figures"] == 1
    assert pair_maps(counts, LAYERS) == 10 and counts["map_layer"] == 5 and counts["map_best_layer"] == 1
    for untouched in ("demo_anatomy", "demo_subject", "prepare", "pycortex_cache", "pycortex_subject"):
        assert untouched not in counts


def test_sixth_layer_runs_only_its_models_and_aggregates(demo_run):
    counts, out = dry(demo_run, {"layers": ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5", "FC6"]})
    assert counts["fit_layer"] == 1 and "crossprod/FC6.h5" in out
    assert layer_jobs(counts, "fit_pairs") == {"FC6": 1} and "fit" not in counts    # FC6's five pairs
    assert counts["partition"] == 5
    assert counts["map_layer"] == 1 and layer_jobs(counts, "map_pairs") == {"FC6": 1} and counts["map_best_layer"] == 1
    assert counts["best_layer"] == 1 and counts["summaries"] == 1
    # one new statistics job (FC6's model and its pairs with the earlier layers), no other
    assert {rule for rule in counts if rule.startswith("stats_")} == {"stats_layer_FC6"}
    for untouched in ("demo_subject", "prepare", "demo_anatomy"):
        assert untouched not in counts
    outputs = {o.strip() for l in out.splitlines() if l.strip().startswith("output:")
               for o in l.split("output:")[1].split(",")}
    assert "results/demo/fits/Conv1+FC6.h5" in outputs and "results/demo/fits/FC6.h5" in outputs
    assert not any(f"results/demo/fits/{m}.h5" in outputs for m in ("Conv1", "Conv1+Conv2", "Conv4+Conv5"))


def test_colour_range_change_reruns_only_maps(demo_run):
    counts, _ = dry(demo_run, {"maps": {"partition": {"cmap": "Reds", "vmin": 0, "vmax": 0.2}}})
    # the viewer draws the partition volumes in that range; the provenance page shows the config as run
    assert set(counts) == {f"map_pairs_{layer}" for layer in LAYERS[1:]} | {"viewer", "report_provenance", "all"}
    assert pair_maps(counts, LAYERS) == 10


def _h5_files(wd):
    return sorted(os.path.relpath(p, wd) for p in glob.glob(os.path.join(wd, "results", "demo", "**", "*.h5"), recursive=True))


def assert_same_results(wd_a, wd_b):
    files = _h5_files(wd_a)
    assert files == _h5_files(wd_b) and len(files) >= 15 + 10 + 5 + 2
    for rel in files:
        a, b = read_h5(os.path.join(wd_a, rel)), read_h5(os.path.join(wd_b, rel))
        assert a.keys() == b.keys()
        for key in a:
            assert np.asarray(a[key]).tobytes() == np.asarray(b[key]).tobytes(), f"{rel}:{key} differs"


def _exits(proc, seconds):
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_completes_with_identical_results(sig, demo_run, store, tmp_path):
    """Kill a run during the fits; the next run completes and matches an uninterrupted run bitwise."""
    write_config(tmp_path, small_config(store, maps=False))
    cmd = [SNAKEMAKE, "-s", os.path.join(ROOT, "Snakefile"), "-d", str(tmp_path), "-c2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    fits = os.path.join(tmp_path, "results", "demo", "fits")
    # a finished fit job: Snakemake writes its benchmark record when the job has ended (a fit
    # file alone may belong to a job still running, whose outputs an interruption removes)
    finished = os.path.join(tmp_path, "results", "demo", "benchmarks", "fit_layer_*.tsv")
    while time.time() < deadline and proc.poll() is None:
        if glob.glob(finished):
            time.sleep(1.0)     # Snakemake records the job as complete
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, sig)
    stuck = not _exits(proc, 60)
    if stuck:
        # Snakemake 9.27's own SIGTERM handler (JobScheduler.exit_gracefully) takes the
        # scheduler's non-reentrant lock; when the signal lands while the main thread holds
        # it (finishing a job, selecting the next), Snakemake waits for itself forever
        # (seen in about 1 of 8 tries with SIGTERM 50 ms after a job ended; never with
        # SIGINT). Then every job process is gone (they got the signal too): anything else
        # still running would be a job of ours that ignores SIGTERM.
        import psutil
        alive = []
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                alive.append(child.cmdline())
            except psutil.NoSuchProcess:
                pass
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert sig == signal.SIGTERM and not alive, f"the interrupted run hung; still running: {alive}"
    done = len(glob.glob(os.path.join(fits, "*.h5")))
    assert 0 < done < 15
    if sig == signal.SIGTERM:   # jobs clean up their temporary files
        assert not glob.glob(os.path.join(tmp_path, "results", "**", ".*partial*"), recursive=True)
    if sig == signal.SIGKILL or stuck:   # no chance to clean up: the lock stays until --unlock
        snakemake(tmp_path, "--unlock")
    snakemake(tmp_path, "-c2")
    assert not glob.glob(os.path.join(tmp_path, "results", "**", ".*partial*"), recursive=True)
    assert_same_results(demo_run, tmp_path)
