"""Stage of data.smk's prepare rule: check a subject's inputs, draw its split, select its voxels
and write the selected voxels' responses per split."""
from __future__ import annotations

import logging

import numpy as np

from .. import contract, responses, splits
from ..io import write_h5

log = logging.getLogger("encoding_models")


def prepare(inputs, rois, merged_rois, split_seed, pct_holdout, out_path, responses_out, precision="float32",
            validation_ids=None):
    """Validate a subject's betas, image_info and ROI info (``inputs``: paths keyed
    betas / image_info / roi_info); write its split, voxel selection and ROI membership,
    and the selected voxels' betas per split (``responses_out``: split -> .npy path),
    rounded to ``precision``, reading the betas once. (Each layer's features are checked
    where they are read, in ``crossprod``.)

    The split is drawn over every image_info row, as the reference does; rows with
    n_reps == 0 are dropped from each split afterwards. validation_ids (optional, 73k
    ids): only these shared1000 images validate, the others are in no split.
    """
    subj = contract.validate_subject(inputs, [], rois, merged_rois, scan=False)
    good = np.flatnonzero(subj.good_rows)
    allowed = None if validation_ids is None else np.isin(
        contract.load_image_info(inputs["image_info"])["unique_ims"].to_numpy(), validation_ids)
    trn, holdout, val = splits.split_kept_rows(subj.shared1000, subj.good_rows, split_seed, pct_holdout, allowed)
    contract.check_split_sizes(inputs["image_info"], trn.sum(), holdout.sum(), val.sum(), pct_holdout)
    union = np.logical_or.reduce([subj.roi_masks[r] for r in rois])
    voxel_index = np.flatnonzero(union)
    members = np.stack([subj.roi_masks[r][voxel_index] for r in rois])
    writer = responses.SplitWriter(responses_out, {"trn": trn, "holdout": holdout, "val": val}, voxel_index.size,
                                   splits.precision_dtype(precision))
    try:
        contract.scan_betas(inputs["betas"], subj.good_rows, voxel_index, precision, on_block=writer)
    except BaseException:
        writer.close(ok=False)
        raise
    undefined = writer.close()
    write_h5(out_path, {
        "good_rows": good, "trn": trn, "holdout": holdout, "val": val,
        "voxel_index": voxel_index, "roi_names": np.array(rois), "roi_members": members,
        "noise_ceiling": subj.noise_ceiling[voxel_index], "n_images": subj.n_images,
        "r2_undefined": undefined,
    }, attrs={"split_seed": split_seed, "pct_holdout": pct_holdout, "n_bigmask_voxels": subj.n_voxels,
              "precision": precision, "n_val_dropped": int((subj.shared1000 & subj.good_rows).sum() - val.sum())})
    log.info("%s: %d images kept of %d; trn %d, holdout %d, val %d; %d voxels in %d ROIs, "
             "%d of them constant over the validation images (R2 undefined there)",
             inputs["betas"], good.size, subj.n_images, trn.sum(), holdout.sum(), val.sum(),
             voxel_index.size, len(rois), undefined.sum())
