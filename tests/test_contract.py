"""The data contract: the demo subject passes; each corruption fails naming the file."""
import os

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import LAYERS
from encoding_models import contract
from encoding_models.stages import data as data_stage, fit as fit_stage

ROIS = ["all", "V1v", "FFA-1", "EBA"]


def test_demo_subject_passes_every_check(subject_files, small_subject):
    subj = contract.validate_subject(subject_files, LAYERS, ROIS + ["V1"], {"V1": ["V1v", "V1d"]})
    assert subj.n_images == 400 and subj.n_voxels == small_subject["betas"].shape[1]
    assert np.array_equal(subj.good_rows, small_subject["image_info"]["n_reps"] > 0)
    assert subj.roi_masks["V1"].sum() == subj.roi_masks["V1v"].sum() + contract.roi_voxels(subj.roi_info, "V1d").sum()
    # the reference's get_full_volume lands every bigmask voxel in S1's fullhead volume
    from encoding_models import maps
    vol = maps.result_volume(np.arange(subj.n_voxels, dtype=float), np.arange(subj.n_voxels), subj.roi_info)
    assert vol.shape == (31, 100, 100) and np.isfinite(vol).sum() == subj.n_voxels


def _h5(path, name, data):
    os.remove(path)
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data)


def _roi(path, change):
    d = np.load(path, allow_pickle=True).item()
    change(d)
    with open(path, "wb") as fh:
        np.save(fh, d, allow_pickle=True)


def _csv(path, change):
    df = pd.read_csv(path)
    df = change(df)
    df.to_csv(path, index=False)


def _betas(files):
    with h5py.File(files["betas"]) as f:
        return f["betas"][()]


CORRUPTIONS = {
    "missing betas": (lambda f: os.remove(f["betas"]), "betas", "file is missing"),
    "missing features": (lambda f: os.remove(f["features"]["Conv3"]), ("features", "Conv3"), "file is missing"),
    "truncated betas": (lambda f: open(f["betas"], "r+b").truncate(2048), "betas", "HDF5|truncated|corrupt"),
    "not hdf5 features": (lambda f: open(f["features"]["Conv2"], "wb").write(b"garbage" * 100), ("features", "Conv2"), "HDF5"),
    "wrong betas dataset": (lambda f: _h5(f["betas"], "data", _betas(f)), "betas", "dataset '/betas' is missing"),
    "wrong features dataset": (lambda f: _h5(f["features"]["Conv1"], "feats", np.zeros((400, 20))), ("features", "Conv1"), "dataset 'features' is missing"),
    "features fewer rows": (lambda f: _h5(f["features"]["Conv4"], "features", np.zeros((399, 20))), ("features", "Conv4"), "399 rows, image_info has 400"),
    "features more rows": (lambda f: _h5(f["features"]["Conv4"], "features", np.zeros((401, 20))), ("features", "Conv4"), "401 rows"),
    "NaN in features": (lambda f: _h5(f["features"]["Conv5"], "features", np.where(np.eye(400, 20) > 0, np.nan, 1.0)), ("features", "Conv5"), "NaN or inf"),
    "inf in features": (lambda f: _h5(f["features"]["Conv5"], "features", np.where(np.eye(400, 20) > 0, np.inf, 1.0)), ("features", "Conv5"), "NaN or inf"),
    "NaN betas on a good row": (lambda f: _h5(f["betas"], "betas", _nan_good(f)), "betas", "NaN betas in 1 rows with n_reps > 0"),
    "betas rows mismatch info": (lambda f: _h5(f["betas"], "betas", _betas(f)[:-3]), "betas", "397 rows"),
    "constant voxel column": (lambda f: _h5(f["betas"], "betas", _const_col(f)), "betas", "constant"),
    "all-NaN voxel column": (lambda f: _h5(f["betas"], "betas", _nan_col(f)), "betas", "NaN betas"),
    "image_info missing column": (lambda f: _csv(f["image_info"], lambda d: d.drop(columns="n_reps")), "image_info", r"missing column\(s\) \['n_reps'\]"),
    "shared1000 not boolean": (lambda f: _csv(f["image_info"], lambda d: d.assign(shared1000=d.shared1000.astype(int))), "image_info", "'shared1000' must be boolean"),
    "duplicate image ids": (lambda f: _csv(f["image_info"], _duplicate_ids), "image_info",
                            r"2 image id\(s\) of column 'unique_ims' appear in more than one row .*: \d+ in rows \[3, 17\]; \d+ in rows \[5, 6, 300\]"),
    "roi dict missing key": (lambda f: _roi(f["roi_info"], lambda d: d.pop("roi_labels_face")), "roi_info", r"missing key\(s\) \['roi_labels_face'\]"),
    "voxel_mask length": (lambda f: _roi(f["roi_info"], lambda d: d.update(voxel_mask=d["voxel_mask"][:-1])), "roi_info", "voxel_mask has"),
    "noise ceiling length": (lambda f: _roi(f["roi_info"], lambda d: d.update(noise_ceiling_avgreps=d["noise_ceiling_avgreps"][1:])), "roi_info", "noise_ceiling_avgreps"),
    "configured ROI absent": (lambda f: _roi(f["roi_info"], lambda d: d["floc_face_roi_names"].pop("FFA-1")), "roi_info", r"ROI\(s\) \['FFA-1'\] are not defined"),
    "roi info not a dict": (lambda f: np.save(f["roi_info"], np.arange(3)), "roi_info", "must hold a dict|pickled dict"),
}


def _duplicate_ids(d):
    d.loc[17, "unique_ims"] = d.loc[3, "unique_ims"]
    d.loc[[6, 300], "unique_ims"] = d.loc[5, "unique_ims"]
    return d


def _nan_good(f):
    b = _betas(f)
    good = np.flatnonzero(~np.isnan(b[:, 0]))
    b[good[3], 7] = np.nan
    return b


def _const_col(f):
    b = _betas(f)
    b[~np.isnan(b[:, 0]), 5] = 1.0
    return b


def _nan_col(f):
    b = _betas(f)
    b[:, 9] = np.nan
    return b


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_input_fails_naming_the_file(case, subject_files, tmp_path):
    corrupt, which, message = CORRUPTIONS[case]
    corrupt(subject_files)
    path = subject_files[which] if isinstance(which, str) else subject_files[which[0]][which[1]]
    results = tmp_path / "results"
    with pytest.raises(contract.DataContractError, match=message) as err:
        run_stages(subject_files, results)
    assert str(err.value).startswith(path)
    written = sorted(p.name for p in results.rglob("*") if p.is_file())
    assert not [n for n in written if n.startswith(".")]          # no temporary file left
    # the stage that read the bad file wrote nothing: prepare for the tables, crossprod for features
    failed_output = f"{which[1]}.h5" if isinstance(which, tuple) else "prepared.h5"
    assert failed_output not in written


def run_stages(files, results):
    """The workflow's two reading stages: prepare, then each layer's crossprod."""
    prepared = str(results / "prepared.h5")
    splits = {s: str(results / f"{s}.npy") for s in ("trn", "holdout", "val")}
    data_stage.prepare(files, ROIS, {}, 171301, 0.1, prepared, splits)
    for layer in LAYERS:
        fit_stage.crossprod(files["features"][layer], splits, prepared, layer, "float32", "cpu", 256,
                           str(results / f"{layer}.h5"))


class _CreatesFile:
    """Unpickling this calls open(path, 'w'): the file appears if the loader runs code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


class _RunsShell:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


@pytest.mark.parametrize("payload, refused", [(_CreatesFile, ".open"), (_RunsShell, ".system")])
def test_roi_info_that_would_run_code_is_refused(payload, refused, subject_files, tmp_path):
    marker = tmp_path / "created_by_unpickling"
    _roi(subject_files["roi_info"], lambda d: d.update(extra=payload(str(marker))))
    results = tmp_path / "results"
    with pytest.raises(contract.DataContractError, match=rf"refused to unpickle '[\w.]*{refused}'") as err:
        run_stages(subject_files, results)
    assert str(err.value).startswith(subject_files["roi_info"])
    assert not marker.exists()
    assert not (results / "prepared.h5").exists()


def test_roi_info_loads_as_numpy_wrote_it(subject_files):
    trusted = np.load(subject_files["roi_info"], allow_pickle=True).item()   # the demo's own file
    got = contract.load_roi_info(subject_files["roi_info"])
    assert list(got) == list(trusted)
    for key, value in trusted.items():
        if isinstance(value, dict):
            assert got[key] == value
        else:
            assert np.array_equal(got[key], value) and np.asarray(got[key]).shape == np.asarray(value).shape
