"""The images demo end to end: synthetic images, a random AlexNet, voxels driven by its full
activations, features extracted by the workflow, and the best layer recovered."""
import copy
import os

import h5py
import numpy as np
import pytest
import yaml

from encoding_models.io import read_h5
from workflow_helpers import ROOT, job_counts, layer_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


def images_config(store):
    with open(os.path.join(ROOT, "config", "demo_images.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    cfg.update({"rois": ["all", "V1", "V2v", "hV4", "FFA-1", "PPA"], "merged_rois": {"V1": ["V1v", "V1d"]},
                "maps": {"enabled": False}, "stats": {"enabled": False}, "pycortex_store": str(store)})
    return cfg


@pytest.fixture(scope="module")
def images_run(tmp_path_factory, store):
    wd = tmp_path_factory.mktemp("images_run")
    cfg = images_config(store)
    write_config(wd, cfg)
    snakemake(wd, "-c2")
    return wd, cfg


def test_best_layer_recovers_the_generating_layer(images_run):
    wd, cfg = images_run
    best = read_h5(os.path.join(wd, "results", "demo", "best_layer.h5"))
    prep = read_h5(os.path.join(wd, "results", "demo", "prepared.h5"))
    with h5py.File(os.path.join(wd, "resources", "demo", "ground_truth.h5")) as f:
        truth = f["preferred_layer"][()][best["voxel_index"]]
        null = f["null_voxel"][()][best["voxel_index"]]
    good = prep["noise_ceiling"] >= 0.3
    assert not (good & null).any() and good.sum() > 300
    agree = best["best_layer"][good] == truth[good]
    for k, layer in enumerate(cfg["layers"]):
        sel = truth[good] == k
        print(f"{layer}: {agree[sel].mean():.1%} of {sel.sum()} voxels (noise ceiling >= 0.3)")
        assert sel.sum() > 20
    print(f"all layers: {agree.mean():.1%} of {good.sum()} voxels")
    assert agree.mean() >= 0.8
    with h5py.File(os.path.join(wd, "resources", "demo", "features", "Conv1.hdf5")) as f:
        assert f.attrs["pca_fit_on"] == "train" and f.attrs["node"] == "features.1"
    page = open(os.path.join(wd, "results", "report", "methods_provenance.html")).read()
    assert "Features extracted from the stimulus images" in page and "features.11" in page


def test_pca_fit_rows_are_the_prepared_train_split(images_run):
    wd, _ = images_run
    prep = read_h5(os.path.join(wd, "results", "demo", "prepared.h5"))
    with h5py.File(os.path.join(wd, "resources", "demo", "features", "Conv5.hdf5")) as f:
        rows = f["pca_fit_rows"][()]
    assert np.array_equal(rows, prep["good_rows"][prep["trn"]])


def test_changing_an_extractor_reruns_only_its_features_and_downstream(images_run, tmp_path):
    wd, cfg = images_run
    new = copy.deepcopy(cfg)
    new["extractors"]["alexnet_random"]["pca"]["n_components"] = 60
    conf = tmp_path / "changed.yaml"
    conf.write_text(yaml.safe_dump(new))
    counts = job_counts(snakemake(wd, "-n", "--configfile", str(conf)).stdout)
    assert counts.get("extract_alexnet_random") == 1 and counts.get("fit_layer") == 3
    assert "demo_images_subject" not in counts and "prepare" not in counts
    # a change that does not touch the extractor reruns no extraction
    new = copy.deepcopy(cfg)
    new["ridge"] = {"lambdas": [1.0, 10.0, 100.0]}
    conf.write_text(yaml.safe_dump(new))
    counts = job_counts(snakemake(wd, "-n", "--configfile", str(conf)).stdout)
    assert "extract_alexnet_random" not in counts and counts.get("fit_layer") == 3 and len(layer_jobs(counts, "fit_pairs")) == 2
