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


def test_a_stimulus_file_replaced_with_an_earlier_mtime_reruns_the_extraction(images_run, tmp_path):
    """stimuli.path is read in place, and its path is not a param (moving the file reruns
    nothing); a file replaced by another with an earlier mtime (mv, cp -p, rsync -a) reran
    nothing either, and the features stayed the old images'. Its size and mtime are now."""
    import shutil
    from encoding_models import layout
    src, images_cfg = images_run
    res = os.path.join(src, layout.path(layout.SUBJECT_DIR, subject="demo"))
    stimuli = tmp_path / "shared" / "stimuli.hdf5"           # a lab's copy, read in place
    os.makedirs(stimuli.parent)
    shutil.copy(os.path.join(res, layout.INPUT_NAMES["stimuli"]), stimuli)
    demo_cfg = images_cfg["subjects"]["demo"]
    url = lambda key: f"file://{os.path.join(res, layout.INPUT_NAMES[key])}"
    cfg = copy.deepcopy(images_cfg)
    cfg["subjects"] = {"lab": {"source": "download", "split_seed": demo_cfg["split_seed"],
                               "urls": {**{k: url(k) for k in ("betas", "image_info", "roi_info")}, "features": {}},
                               "stimuli": {**demo_cfg["stimuli"], "path": str(stimuli)}}}
    wd = tmp_path / "wd"
    write_config(wd, cfg)
    target = layout.path(layout.FEATURES, subject="lab", layer=cfg["layers"][0])
    snakemake(wd, "-c2", target)
    assert not job_counts(snakemake(wd, "-n", target).stdout)
    moved = tmp_path / "moved" / "stimuli.hdf5"               # moved, unchanged: nothing reruns
    os.makedirs(moved.parent)
    os.replace(stimuli, moved)
    os.replace(moved, stimuli)
    assert not job_counts(snakemake(wd, "-n", target).stdout)
    old = os.stat(stimuli)
    new = tmp_path / "other.hdf5"                             # the same images in another order
    with h5py.File(stimuli, "r") as f, h5py.File(new, "w") as g:
        images = f[demo_cfg["stimuli"]["dataset"]][()]
        g.create_dataset(demo_cfg["stimuli"]["dataset"], data=images[::-1])
    os.utime(new, ns=(old.st_atime_ns, old.st_mtime_ns - 10 ** 9))
    os.replace(new, stimuli)
    counts = job_counts(snakemake(wd, "-n", target).stdout)
    assert counts.get("extract_alexnet_random") == 1, counts
