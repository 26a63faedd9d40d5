"""The NSD data contract: where a subject's files live, how they are read, what they must hold.

Every file of a subject is read here and nowhere else. Each inconsistency raises one
DataContractError whose message starts with the offending file's path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .layout import ALL_VOXELS, CHECKSUM_SUFFIX, ROI_GROUPS
from . import safe_npy
ROI_INFO_KEYS = ("voxel_mask", "brain_nii_shape", "noise_ceiling_avgreps",
                 *[k for pair in ROI_GROUPS.values() for k in pair])
IMAGE_INFO_COLUMNS = ("unique_ims", "n_reps", "shared1000")
IMAGE_ID_COLUMN = "unique_ims"   # the image's NSD id: one row per image, never twice
BETAS_DATASET = "/betas"
FEATURES_DATASET = "features"


class DataContractError(ValueError):
    """An input file breaks the data contract. str() names the file and the problem."""

    def __init__(self, path, problem):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def _exists(path):
    """The file exists and, if it was downloaded, still has the sha256 recorded beside it."""
    from .download import ChangedInput, check_recorded
    if not os.path.isfile(path):
        raise DataContractError(path, "file is missing")
    try:
        check_recorded(str(path), CHECKSUM_SUFFIX)
    except ChangedInput as e:
        raise DataContractError(path, e.problem) from None


def open_h5_dataset(path, name, hint=""):
    """(h5py.File, dataset) of an input file that exists, still matches its recorded
    sha256 where it was downloaded, opens as HDF5 and holds the dataset; the caller closes
    the file. hint: appended to the missing-dataset error (e.g. the config key to check)."""
    import h5py
    _exists(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataContractError(path, f"not a readable HDF5 file ({e})") from None
    if name not in f:
        keys = list(f.keys())
        f.close()
        raise DataContractError(path, f"dataset '{name}' is missing (datasets: {keys}){hint}")
    return f, f[name]


def _h5_dataset(path, name):
    f, ds = open_h5_dataset(path, name)
    if ds.ndim != 2:
        f.close()
        raise DataContractError(path, f"dataset '{name}' must be 2-D, has shape {ds.shape}")
    return f, ds


def _read(path, ds, key=()):
    """ds[key] (the whole dataset by default), a truncated file reported as such."""
    try:
        return ds[key]
    except OSError as e:  # truncated file: the header opens, the data does not read
        raise DataContractError(path, f"data cannot be read, file truncated or corrupt ({e})") from None


def check_design(path, layer, x_fit, n_trn):
    """A layer's features on the images the fit uses (train+holdout, after rounding) must
    carry information, and the train split must have at least as many images as the
    design has columns (features + intercept)."""
    if np.all(np.ptp(x_fit, axis=0) == 0):
        raise DataContractError(path, f"features of layer {layer} are identical on every train/holdout image: "
                                      "the model would be intercept-only")
    if n_trn < x_fit.shape[1] + 1:
        raise DataContractError(path, f"layer {layer} has {x_fit.shape[1]} features but the train split only "
                                      f"{n_trn} images (need at least features + 1; lower split.pct_holdout "
                                      "or use more images)")


def nonfinite_rows(x) -> np.ndarray:
    """Indices of the rows of a 2-D array holding NaN or inf."""
    return np.unique(np.nonzero(~np.isfinite(x))[0])


def check_normalized(path, precision, xs, image_rows):
    """The z-scored features of each split (``splits.split_normalize``, rounded to
    ``precision``) must be finite: a finite float64 beyond float32's range would blank the
    layer's R2 everywhere. xs: split -> [n x p]; image_rows: split -> image_info row of each."""
    for split, x in xs.items():
        bad = nonfinite_rows(x)
        if bad.size:
            raise DataContractError(path, f"{bad.size} {split} row(s) are not finite after z-scoring and rounding to "
                                          f"{precision} (image_info rows {image_rows[split][bad][:5].tolist()}): "
                                          f"values too large for {precision}")


def load_features(path, n_rows=None) -> np.ndarray:
    """Features [images x features], checked finite, non-empty and (optionally) row count.

    Integer and boolean features are read as float64 (the reference's in-place z-scoring
    would fail on them); float32 and float64 stay as they are.
    """
    f, ds = _h5_dataset(path, FEATURES_DATASET)
    with f:
        data = _read(path, ds)
    if data.dtype.kind in "biu":
        data = data.astype(np.float64)
    elif data.dtype.kind != "f":
        raise DataContractError(path, f"features must be numbers, dataset has dtype {data.dtype}")
    if n_rows is not None and data.shape[0] != n_rows:
        raise DataContractError(path, f"has {data.shape[0]} rows, image_info has {n_rows}")
    if data.shape[1] == 0:
        raise DataContractError(path, "features have 0 columns: the model would be intercept-only")
    rows = nonfinite_rows(data)
    if rows.size:
        raise DataContractError(path, f"features hold NaN or inf in {len(rows)} rows (first: {rows[:5].tolist()})")
    return data


def load_image_info(path):
    import pandas as pd
    _exists(path)
    try:
        info = pd.read_csv(path)
    except Exception as e:  # pandas raises several types for unparsable files
        raise DataContractError(path, f"not a readable CSV file ({e})") from None
    missing = [c for c in IMAGE_INFO_COLUMNS if c not in info.columns]
    if missing:
        raise DataContractError(path, f"missing column(s) {missing}")
    if info["shared1000"].dtype != bool:
        raise DataContractError(path, f"column 'shared1000' must be boolean (True/False), has dtype {info['shared1000'].dtype}")
    reps = info["n_reps"]
    if not np.issubdtype(reps.dtype, np.integer) or (reps < 0).any():
        raise DataContractError(path, "column 'n_reps' must hold non-negative integers")
    ids = info[IMAGE_ID_COLUMN]
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        groups = [(v, rows.tolist()) for v, rows in dup.groupby(dup, sort=False).groups.items()]
        shown = "; ".join(f"{v} in rows {rows}" for v, rows in groups[:5])
        raise DataContractError(path, f"{len(groups)} image id(s) of column '{IMAGE_ID_COLUMN}' appear in more than "
                                      f"one row (rows counted from 0 after the header): {shown}"
                                      + (" ..." if len(groups) > 5 else "") + "; each image must have one row")
    return info


def load_roi_info(path) -> dict:
    """The ROI dictionaries of voxel_roi_info.npy, unpickled without running code from the file."""
    _exists(path)
    try:
        rinfo = safe_npy.load_npy(path).item()
    except safe_npy.RefusedGlobal as e:
        raise DataContractError(path, f"refused to unpickle '{e.qualname}': this file may only hold "
                                      "dicts, lists, strings, numbers and numpy arrays (a crafted file could run code)") from None
    except Exception as e:  # a malformed file can fail in many ways
        raise DataContractError(path, f"not a readable pickled dict ({e})") from None
    if not isinstance(rinfo, dict):
        raise DataContractError(path, f"must hold a dict, holds {type(rinfo).__name__}")
    missing = [k for k in ROI_INFO_KEYS if k not in rinfo]
    if missing:
        raise DataContractError(path, f"missing key(s) {missing}")
    mask = np.asarray(rinfo["voxel_mask"])
    shape = tuple(int(s) for s in rinfo["brain_nii_shape"])
    if mask.ndim != 1 or mask.size != int(np.prod(shape)):
        raise DataContractError(path, f"voxel_mask has {mask.size} entries, brain_nii_shape {shape} needs {int(np.prod(shape))}")
    rinfo["voxel_mask"] = mask.astype(bool)
    n_vox = int(rinfo["voxel_mask"].sum())
    if len(rinfo["noise_ceiling_avgreps"]) != n_vox:
        raise DataContractError(path, f"noise_ceiling_avgreps has {len(rinfo['noise_ceiling_avgreps'])} entries, voxel_mask selects {n_vox}")
    for _, labels_key in ROI_GROUPS.values():
        if np.asarray(rinfo[labels_key]).size != mask.size:
            raise DataContractError(path, f"{labels_key} has {np.asarray(rinfo[labels_key]).size} entries, voxel_mask has {mask.size}")
    return rinfo


def roi_names(rinfo) -> list:
    """All ROI names the dictionaries define, in dictionary order, plus 'all'."""
    names = [n for names_key, _ in ROI_GROUPS.values() for n in rinfo[names_key]]
    return names + [ALL_VOXELS]


def roi_voxels(rinfo, name, merged=None) -> np.ndarray:
    """Bool over the bigmask voxels: the reference's get_roi_vox, plus merged ROIs."""
    merged = merged or {}
    mask = rinfo["voxel_mask"]
    if name == ALL_VOXELS:
        return np.ones(int(mask.sum()), dtype=bool)
    for names_key, labels_key in ROI_GROUPS.values():
        if name in rinfo[names_key]:
            return np.asarray(rinfo[labels_key])[mask] == rinfo[names_key][name]
    if name in merged:
        return np.logical_or.reduce([roi_voxels(rinfo, part) for part in merged[name]])
    raise KeyError(name)


@dataclass
class SubjectData:
    """What a validated subject provides to the analysis."""
    n_images: int
    n_voxels: int
    good_rows: np.ndarray      # bool over image rows: n_reps > 0
    shared1000: np.ndarray     # bool over image rows
    roi_masks: dict            # name -> bool over bigmask voxels
    noise_ceiling: np.ndarray  # fraction (reference divides by 100), per bigmask voxel
    roi_info: dict


def validate_subject(files, layers, rois, merged=None, scan=True) -> SubjectData:
    """Read and check a subject's whole input set. Raises DataContractError on the first problem.

    scan=False checks the betas' shape only; the caller then passes their content through
    ``scan_betas`` (prepare does, to read them once).
    """
    info = load_image_info(files["image_info"])
    rinfo = load_roi_info(files["roi_info"])
    n_images = len(info)
    n_reps = info["n_reps"].to_numpy()
    n_bigmask = int(rinfo["voxel_mask"].sum())
    good = n_reps > 0

    betas_path = files["betas"]
    f, ds = _h5_dataset(betas_path, BETAS_DATASET)
    with f:
        if ds.shape[0] != n_images:
            raise DataContractError(betas_path, f"has {ds.shape[0]} rows, image_info {files['image_info']} has {n_images}")
        if ds.shape[1] != n_bigmask:
            raise DataContractError(betas_path, f"has {ds.shape[1]} voxels, voxel_mask in {files['roi_info']} selects {n_bigmask}")
    if scan:
        scan_betas(betas_path, good)

    for layer in layers:
        load_features(files["features"][layer], n_rows=n_images)

    known = set(roi_names(rinfo)) | set(merged or {})
    absent = [r for r in rois if r not in known]
    if absent:
        raise DataContractError(files["roi_info"], f"configured ROI(s) {absent} are not defined (known: {sorted(known)})")
    masks = {r: roi_voxels(rinfo, r, merged) for r in rois}
    empty = [r for r, m in masks.items() if not m.any()]
    if empty:
        raise DataContractError(files["roi_info"], f"configured ROI(s) {empty} contain no voxel of the bigmask")
    return SubjectData(n_images=n_images, n_voxels=n_bigmask, good_rows=good,
                       shared1000=info["shared1000"].to_numpy(), roi_masks=masks,
                       noise_ceiling=np.asarray(rinfo["noise_ceiling_avgreps"], dtype=np.float64) / 100,
                       roi_info=rinfo)


def check_split_sizes(image_info_path, n_trn, n_holdout, n_val, pct_holdout):
    """Train, holdout and validation must each hold images (validation at least 3, so
    that R2 has a variance to explain)."""
    if n_val < 3:
        raise DataContractError(image_info_path, f"only {n_val} image(s) with data are marked shared1000: the "
                                                 "validation split needs at least 3")
    for name, n in (("train", n_trn), ("holdout", n_holdout)):
        if n < 1:
            raise DataContractError(image_info_path, f"split.pct_holdout={pct_holdout} leaves the {name} split "
                                                     "without images; choose a fraction that leaves both")


def scan_betas(path, good, voxel_index=None, precision="float32", on_block=None, block_rows=512):
    """One pass over the betas in row blocks (their natural layout), with every check of
    the contract: NaN exactly on the rows with n_reps == 0, no inf, no voxel constant over
    the kept images. Where voxel_index is given, the kept rows' betas of those voxels,
    rounded to ``precision``, must be finite (a value beyond float32's range is refused),
    and each block of them goes to on_block(first_kept_row, block [rows x voxels])."""
    from .splits import quantize
    f, ds = _h5_dataset(path, BETAS_DATASET)
    lo = np.full(ds.shape[1], np.inf)
    hi = np.full(ds.shape[1], -np.inf)
    kept_before = 0
    with f:
        for start in range(0, ds.shape[0], block_rows):
            block = _read(path, ds, slice(start, start + block_rows))
            g = good[start:start + block.shape[0]]
            nan = np.isnan(block)
            bad_rows = np.flatnonzero(nan.any(axis=1) & g)
            if bad_rows.size:
                raise DataContractError(path, f"NaN betas in {bad_rows.size} rows with n_reps > 0 (first rows: {(bad_rows + start)[:5].tolist()})")
            missing = np.flatnonzero(~nan.all(axis=1) & ~g)
            if missing.size:
                raise DataContractError(path, f"rows with n_reps == 0 must be all NaN; rows {(missing + start)[:5].tolist()} are not")
            kept = block[g]
            inf_cols = np.flatnonzero(np.isinf(kept).any(axis=0))
            if inf_cols.size:
                raise DataContractError(path, f"infinite betas in voxel columns {inf_cols[:5].tolist()}")
            if kept.size:
                lo = np.minimum(lo, kept.min(axis=0))
                hi = np.maximum(hi, kept.max(axis=0))
            if voxel_index is not None and kept.shape[0]:
                sel = quantize(kept[:, voxel_index], precision)
                bad = np.flatnonzero(~np.isfinite(sel).all(axis=0))
                if bad.size:
                    raise DataContractError(path, f"betas of voxel columns {voxel_index[bad][:5].tolist()} are not finite "
                                                  f"after rounding to {precision} (a value beyond float32's range?)")
                if on_block is not None:
                    on_block(kept_before, sel)
            kept_before += kept.shape[0]
    flat = np.flatnonzero(hi - lo == 0)
    if flat.size:
        raise DataContractError(path, f"{flat.size} voxel columns are constant over the images (first: {flat[:5].tolist()}); R2 is undefined there")
