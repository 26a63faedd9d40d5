"""Features extracted from stimulus images: the streaming PCA, the networks, the stage's
checks, a straight port, leakage, and the images demo end to end."""
import copy
import os

import h5py
import numpy as np
import pandas as pd
import pytest

from encoding_models import configuration, contract, networks, pca, splits
from encoding_models.contract import DataContractError
from encoding_models.io import read_h5
from encoding_models.stages import features as F

torchvision = pytest.importorskip("torchvision")   # `make test` installs it; skip only outside that set-up

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALEXNET_NODES = {"Conv1": "features.1", "Conv2": "features.4", "Conv5": "features.11"}


def extractor(**over):
    ex = {"library": "torchvision", "model": "alexnet", "weights": None, "seed": 0,
          "preprocessing": {"resize": 64, "crop": None, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
          "pca": {"n_components": 8, "fit_on": "train", "oversamples": 40, "power_iterations": 1, "seed": 0},
          "batch_size": 16, "device": "cpu"}
    ex.update(over)
    return ex


STIMULI = {"dataset": "imgBrick", "column": "unique_ims", "base": 0}


def write_inputs(tmp_path, n_images=60, n_stimuli=70, size=48, seed=0, images=None, base=0):
    """A stimulus file and an image_info whose rows show n_images of its images, in random order."""
    from encoding_models import demo_images
    rng = np.random.default_rng(seed)
    if images is None:
        images = demo_images.make_images(n_stimuli, size, seed=seed)
    rows = demo_images.stimulus_rows(n_images, images.shape[0], seed=seed)
    shared = np.zeros(n_images, dtype=bool)
    shared[rng.choice(n_images, 12, replace=False)] = True
    n_reps = np.where(rng.random(n_images) < 0.05, 0, 3)
    n_reps[shared] = 3
    info = pd.DataFrame({"unique_ims": rows + base, "n_reps": n_reps, "shared1000": shared})
    paths = {"image_info": str(tmp_path / "image_info.csv"), "stimuli": str(tmp_path / "stimuli.hdf5")}
    info.to_csv(paths["image_info"], index=False)
    with h5py.File(paths["stimuli"], "w") as f:
        f.create_dataset("imgBrick", data=images)
    return paths, info, images


def run_extract(tmp_path, paths, ex, nodes=ALEXNET_NODES, stimuli=STIMULI, tag="a"):
    out = {layer: str(tmp_path / f"{tag}_{layer}.hdf5") for layer in nodes}
    F.extract("net", ex, nodes, stimuli, paths["image_info"], paths["stimuli"], 171301, 0.1, out, subject="s")
    return {layer: read_h5(p) for layer, p in out.items()}, out


# ----------------------------------------------------------------------------- streaming PCA
def _stream(p, x, block=23):
    for _ in range(p.n_passes):
        p.begin_pass()
        for s in range(0, x.shape[0], block):
            p.update(x[s:s + block])
        p.end_pass()


def test_streaming_pca_is_exact_when_the_sketch_covers_the_rows():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((50, 300)) * np.geomspace(10, 0.1, 300) + 5).astype(np.float32)
    for q in (0, 2):
        p = pca.StreamingPCA(300, 10, oversamples=45, power_iterations=q, seed=3)
        _stream(p, x)
        mean, comps, ev = pca.exact_pca(x, 10)
        np.testing.assert_allclose(p.components, comps, atol=1e-9)
        np.testing.assert_allclose(p.explained_variance, ev, rtol=1e-9)
        np.testing.assert_allclose(p.transform(x), (x - mean) @ comps.T, atol=1e-9)
        total = np.var(x.astype(np.float64), axis=0, ddof=1).sum()
        np.testing.assert_allclose(p.total_variance, total, rtol=1e-9)


def test_streaming_pca_approximates_a_larger_fit():
    """More rows than the sketch: the randomised fit's leading components match the exact ones."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((600, 30)) * np.geomspace(20, 1, 30) @ rng.standard_normal((30, 400))
    x = x + 0.3 * rng.standard_normal((600, 400))
    p = pca.StreamingPCA(400, 10, oversamples=10, power_iterations=2, seed=0)
    _stream(p, x)
    _, comps, ev = pca.exact_pca(x, 10)
    np.testing.assert_allclose(p.explained_variance, ev, rtol=1e-3)
    np.testing.assert_allclose(np.abs(np.sum(p.components * comps, axis=1)), 1, atol=1e-3)
    np.testing.assert_allclose(p.components, comps, atol=0.05)     # signs: the same convention


def test_sign_convention():
    c = pca.flip_signs(np.array([[0.1, -0.9, 0.2], [0.5, 0.1, -0.2]]))
    assert c[0, 1] > 0 and c[1, 0] > 0 and np.allclose(np.abs(c[0]), [0.1, 0.9, 0.2])


def test_streaming_pca_refuses_too_many_components():
    p = pca.StreamingPCA(20, 6, oversamples=2)
    p.begin_pass()
    p.update(np.ones((4, 20)) * np.arange(4)[:, None])
    with pytest.raises(ValueError, match="exceeds the 4 fit rows"):
        p.end_pass()


# ----------------------------------------------------------------------------- straight port, leakage
def straight_port(info, images, nodes, k, fit_mask, size=64):
    """torchvision's own transforms and feature extractor, numpy's SVD on the same fit rows."""
    import torch
    from torchvision.models.feature_extraction import create_feature_extractor
    from torchvision.transforms.v2 import functional as TF
    torch.manual_seed(0)
    net = torchvision.models.alexnet(weights=None).eval()
    fx = create_feature_extractor(net, return_nodes=list(nodes.values()))
    x = torch.from_numpy(images[info["unique_ims"].to_numpy()]).permute(0, 3, 1, 2)
    x = TF.resize(x.to(torch.float32) / 255, [size], antialias=True)
    x = TF.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.no_grad():
        out = fx(x)
    result = {}
    for layer, node in nodes.items():
        a = out[node].reshape(len(info), -1).double().numpy()
        mean, comps, _ = pca.exact_pca(a[fit_mask], k)
        result[layer] = (a - mean) @ comps.T
    return result


def test_straight_port_equals_the_workflow(tmp_path):
    paths, info, images = write_inputs(tmp_path)
    ex = extractor()
    got, out = run_extract(tmp_path, paths, ex)
    kept = info["n_reps"].to_numpy() > 0
    trn = splits.split_kept_rows(info["shared1000"].to_numpy(), kept, 171301, 0.1)[0]
    fit_mask = np.zeros(len(info), dtype=bool)
    fit_mask[np.flatnonzero(kept)[trn]] = True
    assert fit_mask.sum() + 40 >= 48 >= fit_mask.sum()      # the sketch (8 + 40) covers the fit rows: exact
    port = straight_port(info, images, ALEXNET_NODES, 8, fit_mask)
    for layer in ALEXNET_NODES:
        f = got[layer]["features"]
        assert f.dtype == np.float32 and f.shape == (len(info), 8)
        scale = np.abs(port[layer]).max()
        np.testing.assert_allclose(f, port[layer], atol=2e-5 * scale, rtol=0)
        assert np.array_equal(got[layer]["pca_fit_rows"], np.flatnonzero(fit_mask))
        np.testing.assert_array_equal(contract.load_features(out[layer], n_rows=len(info)), f)
    with h5py.File(out["Conv1"]) as h:
        a = dict(h.attrs)
    assert a["node"] == "features.1" and a["model"] == "alexnet" and a["pca_fit_on"] == "train"
    assert a["pca_n_fit_rows"] == fit_mask.sum() and "torchvision" in a["versions"]
    assert len(a["pca_explained_variance"]) == 8 and 0 < a["pca_explained_variance_ratio_total"] <= 1


def test_changing_validation_and_holdout_pixels_changes_no_train_row(tmp_path):
    paths, info, images = write_inputs(tmp_path)
    base, out = run_extract(tmp_path, paths, extractor(), tag="base")
    fit_rows = base["Conv1"]["pca_fit_rows"]
    others = np.setdiff1d(np.arange(len(info)), fit_rows)
    changed = images.copy()
    rng = np.random.default_rng(5)
    stim = info["unique_ims"].to_numpy()[others]
    changed[stim] = rng.integers(0, 256, changed[stim].shape, dtype=np.uint8)
    with h5py.File(paths["stimuli"], "r+") as f:
        f["imgBrick"][...] = changed
    new, _ = run_extract(tmp_path, paths, extractor(), tag="new")
    for layer in ALEXNET_NODES:
        assert np.array_equal(new[layer]["features"][fit_rows], base[layer]["features"][fit_rows])
        assert not np.allclose(new[layer]["features"][others], base[layer]["features"][others])
    # the same change with pca.fit_on: all moves the train rows (the test can see leakage)
    ex_all = extractor(pca={**extractor()["pca"], "fit_on": "all", "oversamples": 60})
    with h5py.File(paths["stimuli"], "r+") as f:
        f["imgBrick"][...] = images
    one = {"Conv1": "features.1"}
    a, _ = run_extract(tmp_path, paths, ex_all, nodes=one, tag="all_a")
    with h5py.File(paths["stimuli"], "r+") as f:
        f["imgBrick"][...] = changed
    b, _ = run_extract(tmp_path, paths, ex_all, nodes=one, tag="all_b")
    assert not np.allclose(a["Conv1"]["features"][fit_rows], b["Conv1"]["features"][fit_rows])


# ----------------------------------------------------------------------------- model families
def test_timm_vision_transformer_and_a_torchvision_graph_node(tmp_path):
    pytest.importorskip("timm")
    paths, info, _ = write_inputs(tmp_path, n_images=16, n_stimuli=16, size=32)
    ex = extractor(library="timm", model="vit_tiny_patch16_224",
                   preprocessing={"resize": 224, "crop": None, "mean": [0.5] * 3, "std": [0.5] * 3},
                   pca={"n_components": 4, "fit_on": "all", "oversamples": 30, "power_iterations": 0, "seed": 0})
    got, out = run_extract(tmp_path, paths, ex, nodes={"vit_b0": "blocks.0", "vit_b11": "blocks.11"}, tag="vit")
    for layer in ("vit_b0", "vit_b11"):
        f = got[layer]["features"]
        assert f.shape == (16, 4) and np.isfinite(f).all() and f.std(axis=0).min() > 0
    with h5py.File(out["vit_b11"]) as h:
        assert h.attrs["values_per_image"] == 197 * 192 and "timm" in h.attrs["versions"]
    # a torchvision ResNet: a module (layer1) and an FX graph node (a residual addition)
    ex = extractor(model="resnet18", pca={"n_components": 4, "fit_on": "all", "oversamples": 30,
                                          "power_iterations": 0, "seed": 0})
    got, _ = run_extract(tmp_path, paths, ex, nodes={"r_l1": "layer1", "r_add": "layer2.0.add"}, tag="res")
    assert got["r_l1"]["features"].shape == (16, 4) and np.isfinite(got["r_add"]["features"]).all()


def test_random_weights_are_deterministic():
    import torch
    a = networks.build_model("torchvision", "alexnet", None, seed=4)
    b = networks.build_model("torchvision", "alexnet", None, seed=4)
    c = networks.build_model("torchvision", "alexnet", None, seed=5)
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    assert not a.training


# ----------------------------------------------------------------------------- clear errors
def test_bad_node_name_fails_before_reading_images_with_closest_names(tmp_path):
    paths = {"image_info": str(tmp_path / "missing.csv"), "stimuli": str(tmp_path / "missing.hdf5")}
    with pytest.raises(networks.NodeError, match=r"extractors\.net\.nodes.*'features\.13'.*features\.1"):
        run_extract(tmp_path, paths, extractor(), nodes={"Conv1": "features.13"})


@pytest.mark.parametrize("bad, match", [
    (np.zeros((70, 48, 48, 4), np.uint8), r"must be \[N x H x W x 3\]"),
    (np.zeros((70, 48, 48, 3), np.float32), "must hold uint8"),
    (np.zeros((70, 48, 48), np.uint8), "grayscale"),
    (np.zeros((70, 48, 48, 1), np.uint8), "grayscale"),
])
def test_stimulus_file_of_wrong_shape_or_dtype(tmp_path, bad, match):
    paths, _, _ = write_inputs(tmp_path)
    with h5py.File(paths["stimuli"], "w") as f:
        f.create_dataset("imgBrick", data=bad)
    with pytest.raises(DataContractError, match=match) as e:
        run_extract(tmp_path, paths, extractor())
    assert e.value.path == paths["stimuli"]


def test_stimulus_row_out_of_range_and_base(tmp_path):
    paths, info, images = write_inputs(tmp_path, n_images=60, n_stimuli=60)
    with pytest.raises(DataContractError, match=r"subjects\.s\.stimuli\.base.*outside 0\.\.59") as e:
        run_extract(tmp_path, paths, extractor(), stimuli={**STIMULI, "base": 1})  # row 0 - 1 = -1
    assert e.value.path == paths["image_info"]
    info.loc[3, "unique_ims"] = 60
    info.to_csv(paths["image_info"], index=False)
    with pytest.raises(DataContractError, match="first: row 3, value 60"):
        run_extract(tmp_path, paths, extractor())
    with pytest.raises(DataContractError, match=r"no column 'img_id' \(set by 'subjects\.s\.stimuli\.column'"):
        run_extract(tmp_path, paths, extractor(), stimuli={**STIMULI, "column": "img_id"})


def test_base_one_reads_the_same_images(tmp_path):
    """A 1-based column gives the same features as the 0-based one."""
    (tmp_path / "zero").mkdir()
    p0, _, images = write_inputs(tmp_path / "zero", n_images=30, n_stimuli=35)
    p1, _, _ = write_inputs(tmp_path, n_images=30, images=images, base=1)
    a, _ = run_extract(tmp_path, p0, extractor(), nodes={"Conv1": "features.1"}, tag="b0")
    b, _ = run_extract(tmp_path, p1, extractor(), nodes={"Conv1": "features.1"}, stimuli={**STIMULI, "base": 1},
                       tag="b1")
    assert np.array_equal(a["Conv1"]["features"], b["Conv1"]["features"])


# ----------------------------------------------------------------------------- config checks
def demo_images_config(**over):
    import yaml
    from snakemake.utils import validate
    with open(os.path.join(ROOT, "config", "demo_images.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    cfg.update(over)
    validate(cfg, os.path.join(ROOT, "workflow", "schemas", "config.schema.yaml"))
    return cfg


def test_config_checks_name_the_key(tmp_path):
    cfg = demo_images_config()
    configuration.check(cfg)
    assert configuration.extractors_used(cfg) == {"alexnet_random": {"Conv1": "features.1", "Conv2": "features.4",
                                                                       "Conv5": "features.11"}}
    bad = copy.deepcopy(cfg)
    bad["subjects"]["demo"]["demo_images"]["extractor"] = "vgg"
    with pytest.raises(configuration.ConfigError, match=r"subjects\.demo\.demo_images\.extractor"):
        configuration.check(bad)
    bad = copy.deepcopy(cfg)
    bad["extractors"]["other"] = copy.deepcopy(bad["extractors"]["alexnet_random"])
    with pytest.raises(configuration.ConfigError, match=r"extractors\.other\.nodes\.Conv1.*already"):
        configuration.check(bad)
    bad = copy.deepcopy(cfg)
    bad["extractors"]["alexnet_random"]["preprocessing"]["crop"] = 100
    with pytest.raises(configuration.ConfigError, match=r"extractors\.alexnet_random\.preprocessing\.crop"):
        configuration.check(bad)
    # a download subject with an extracted layer needs a stimulus file
    nsd = demo_images_config(subjects={"s1": {"source": "download", "split_seed": 1, "urls": {
        "betas": "https://x/b.hdf5", "image_info": "https://x/i.csv", "roi_info": "https://x/r.npy", "features": {},
        "pycortex_db": "https://x/db.zip"}}}, rois=["all"], merged_rois={})
    with pytest.raises(configuration.ConfigError, match=r"subjects\.s1\.stimuli"):
        configuration.check(nsd)
    nsd["subjects"]["s1"]["stimuli"] = {"path": str(tmp_path / "nope.hdf5"), "dataset": "imgBrick",
                                        "column": "unique_ims", "base": 0}
    with pytest.raises(configuration.ConfigError, match=r"subjects\.s1\.stimuli\.path.*not found"):
        configuration.check(nsd)
    nsd["subjects"]["s1"]["stimuli"].pop("path")
    nsd["subjects"]["s1"]["urls"]["stimuli"] = "https://x/nsd_stimuli.hdf5"
    configuration.check(nsd)


def test_nsd_networks_config_parses():
    import yaml
    from snakemake.utils import validate
    with open(os.path.join(ROOT, "config", "nsd_networks.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    validate(cfg, os.path.join(ROOT, "workflow", "schemas", "config.schema.yaml"))
    configuration.check(cfg)
    used = configuration.extractors_used(cfg)
    assert used["alexnet"] == {f"alexnet_Conv{k}": f"features.{n}" for k, n in zip(range(1, 6), (1, 4, 7, 9, 11))}
    assert "resnet50" in used
