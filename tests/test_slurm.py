"""The demo through a real single-node SLURM cluster (slurm-wlm + munge, started by the test)."""
import glob
import os
import re
import subprocess

import numpy as np
import pytest

from encoding_models.io import read_h5
from workflow_helpers import ROOT, small_config, snakemake, write_config

# the jobs that fit (small_config's five layers): no GPU on the test node, 3 GB each
FIT_RULES = ["fit_layer"] + [f"fit_pairs_Conv{i}" for i in range(2, 6)]

pytestmark = pytest.mark.slurm
CLUSTER = os.path.join(ROOT, "tests", "slurm", "cluster.sh")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    res = subprocess.run(["bash", CLUSTER, "start", str(state)], capture_output=True, text=True, timeout=600)
    if res.returncode == 3:
        pytest.skip(res.stderr.strip())
    assert res.returncode == 0, f"SLURM did not start:\n{res.stdout}\n{res.stderr}"
    yield dict(os.environ)
    subprocess.run(["bash", CLUSTER, "stop", str(state)], capture_output=True, timeout=60)


def test_slurm_profile_dry_run_is_valid(tmp_path, store):
    write_config(tmp_path, small_config(store))
    res = snakemake(tmp_path, "-n", "--workflow-profile", os.path.join(ROOT, "profiles", "slurm"))
    assert "fit_layer" in res.stdout and "fit_pairs_Conv5" in res.stdout


def test_demo_on_slurm_matches_local_run(cluster, demo_run, store, tmp_path):
    write_config(tmp_path, small_config(store, maps=False))
    res = snakemake(tmp_path, "--workflow-profile", os.path.join(ROOT, "profiles", "slurm"),
                    "--jobs", "3", "--slurm-status-command", "squeue",
                    "--slurm-init-seconds-before-status-checks", "2", "--max-status-checks-per-second", "5",
                    "--default-resources", "slurm_partition=debug", "mem_mb=2000", "runtime=30",
                    # the test node has no GPU: a gpu=1 request would wait forever
                    "--set-resources", *(f"{rule}:{res}" for rule in FIT_RULES for res in ("gpu=0", "mem_mb=3000")),
                    env=cluster, timeout=1500)
    out = res.stdout + res.stderr
    job_ids = set(re.findall(r"SLURM jobid (\d+)", out))
    assert len(job_ids) >= 10, out[-3000:]   # prepare, 5 fit_layer and 4 fit_pairs jobs ran as SLURM jobs
    for rel in ["best_layer.h5"] + [os.path.relpath(p, os.path.join(demo_run, "results", "demo"))
                                     for p in glob.glob(os.path.join(demo_run, "results", "demo", "fits", "*.h5"))
                                     + glob.glob(os.path.join(demo_run, "results", "demo", "partition", "*.h5"))]:
        local = read_h5(os.path.join(demo_run, "results", "demo", rel))
        remote = read_h5(os.path.join(tmp_path, "results", "demo", rel))
        for key, value in local.items():
            assert np.array_equal(value, remote[key]), f"{rel}:{key} differs between local and SLURM runs"
    for table in ("layer_r2", "best_layer_counts", "partition"):
        with open(os.path.join(demo_run, "results", "demo", "summary", f"{table}.tsv")) as a, \
                open(os.path.join(tmp_path, "results", "demo", "summary", f"{table}.tsv")) as b:
            assert a.read() == b.read()
