"""The embedded demo subject: a deterministic synthetic NSD-like subject on pycortex's S1.

Two steps. ``s1_anatomy`` asks pycortex for S1's cortical mask and ROI masks in the
``fullhead`` transform (slow, about a minute; the workflow caches it). ``make_subject``
turns that anatomy into a subject that follows the data contract exactly:
- the volume axes are laid out so that the reference's ``get_full_volume`` (C-order
  reshape to brain_nii_shape, then moveaxis [0,1,2] -> [2,1,0]) lands every voxel
  back in S1's fullhead volume (31 x 100 x 100): brain_nii_shape is (100, 100, 31);
- NSD ROI names come from S1's outlines (see ``nsd_rois`` for the derived ones);
- five layers of 100 features from a latent chain (each layer shares variance with
  its neighbours and has its own), voxel responses from a known layer mixture per ROI
  (early areas prefer early layers, category areas late ones) plus noise whose level
  sets ``noise_ceiling_avgreps``;
- ground truth for the statistics: a fraction ``null_fraction`` of the bigmask are null
  voxels (noise only, no signal, noise ceiling 0; ``null_voxel`` in ground_truth.h5),
  and an optional ``Noise`` layer (when listed in ``layers``) whose features are
  independent of every other layer and of every response.
"""
from __future__ import annotations

import numpy as np

from .layout import DEMO_ROIS, ROI_GROUPS, S1_OUTLINES

VOLUME_SHAPE = (31, 100, 100)           # pycortex S1 / fullhead, (z, y, x)
BRAIN_NII_SHAPE = VOLUME_SHAPE[::-1]    # what get_full_volume's moveaxis turns into VOLUME_SHAPE

# Which layer (index into the five layers) each ROI's voxels prefer.
NOISE_LAYER = "Noise"     # the optional feature space unrelated to everything

ROI_PREFERENCE = {"V1v": 0, "V1d": 0, "V2v": 1, "V2d": 1, "V3v": 2, "V3d": 1, "hV4": 2,
                  "OFA": 3, "OPA": 3, "EBA": 3, "FFA-1": 4, "FFA-2": 4, "PPA": 4, "RSC": 4}


def cortex_masks(cortex, subject, xfm) -> dict:
    """pycortex's ``thick`` and ``cortical`` masks of one transform, shape (z, y, x), bool.

    ``thick``: voxels closer than 8 mm to the fiducial surface; ``cortical``: voxels whose
    distance to the closest fiducial vertex is at most that vertex's cortical thickness.
    pycortex's ``utils.get_cortical_mask`` gives the same volumes, but for ``cortical`` it
    compares the whole volume once per vertex (about 40 s for S1 on 2 cores) and it
    computes the voxel distances once per mask; here both come from one distance query and
    are saved where pycortex looks for them, so ``get_roi_masks(gm_sampler="cortical")``
    reads the mask instead of generating it.
    """
    import os
    paths = {kind: cortex.db.get_paths(subject)["masks"].format(xfmname=xfm, type=kind)
             for kind in ("thick", "cortical")}
    if all(os.path.exists(p) for p in paths.values()):
        return {kind: cortex.db.get_mask(subject, xfm, kind) for kind in paths}
    pia, _ = cortex.db.get_surf(subject, "pia", merge=True, nudge=False)
    wm, _ = cortex.db.get_surf(subject, "wm", merge=True, nudge=False)
    thickness = np.sqrt(((pia - wm) ** 2).sum(1))
    dist, idx = cortex.utils.get_vox_dist(subject, xfm)
    masks = {"thick": dist < 8, "cortical": dist <= thickness[idx]}
    for kind, mask in masks.items():
        if not os.path.exists(paths[kind]):
            cortex.db.save_mask(subject, xfm, kind, mask)
    return masks


def s1_anatomy(cortex) -> dict:
    """Cortical mask and ROI masks of S1/fullhead as bool volumes (the slow step)."""
    cortical = cortex_masks(cortex, "S1", "fullhead")["thick"]
    rois = cortex.utils.get_roi_masks("S1", "fullhead", roi_list=S1_OUTLINES, gm_sampler="cortical",
                                      split_lr=False, threshold=None, return_dict=True)
    out = {"cortical": cortical}
    out.update({f"roi_{k}": np.asarray(v) > 0 for k, v in rois.items()})
    return out


def _split(mask, axis, coords_sign=1):
    """Split a mask at the median coordinate along axis: (low half, high half)."""
    idx = np.argwhere(mask)
    med = np.median(idx[:, axis] * coords_sign)
    low = np.zeros_like(mask)
    high = np.zeros_like(mask)
    sel = idx[:, axis] * coords_sign <= med
    low[tuple(idx[sel].T)] = True
    high[tuple(idx[~sel].T)] = True
    return low, high


def posterior_sign(anat) -> int:
    """+1 if posterior is towards low y (the side where V1 lies relative to the cortex), else -1."""
    return 1 if np.argwhere(anat["roi_V1"])[:, 1].mean() < np.argwhere(anat["cortical"])[:, 1].mean() else -1


def nsd_rois(anat) -> dict:
    """NSD ROI names on S1's outlines.

    Direct: OFA, PPA, RSC, OPA, EBA. Derived: V1/V2/V3 split at their median z
    (superior half = dorsal 'd', inferior half = ventral 'v'); FFA split at its median
    y into posterior FFA-1 and anterior FFA-2; hV4 (S1 has no V4 outline) = cortical
    voxels within 2 voxels of the ventral V3 half, inferior to its median and outside
    every other ROI.
    """
    cortical = anat["cortical"]
    post_sign = posterior_sign(anat)
    rois = {}
    for area in ("V1", "V2", "V3"):
        ventral, dorsal = _split(anat[f"roi_{area}"], axis=0)
        rois[f"{area}v"], rois[f"{area}d"] = ventral, dorsal
    posterior, anterior = _split(anat["roi_FFA"], axis=1, coords_sign=post_sign)
    rois["FFA-1"], rois["FFA-2"] = posterior, anterior
    for name in ("OFA", "OPA", "PPA", "RSC", "EBA"):
        rois[name] = anat[f"roi_{name}"].copy()
    taken = np.logical_or.reduce(list(rois.values()))
    from scipy.ndimage import binary_dilation
    near = binary_dilation(rois["V3v"], iterations=2) & cortical & ~taken
    z_cut = np.median(np.argwhere(rois["V3v"])[:, 0])
    zz = np.arange(VOLUME_SHAPE[0])[:, None, None]
    rois["hV4"] = near & (zz <= z_cut)
    return rois


def _to_nsd_flat(volume):
    """pycortex (z, y, x) volume -> flat vector in the reference's brain_nii_shape C-order."""
    return np.ascontiguousarray(np.moveaxis(volume, [0, 1, 2], [2, 1, 0])).reshape(-1)


def voxel_layout(anat, n_voxels, n_layers, rng) -> dict:
    """The bigmask, ROI labels and each voxel's preferred layer (index < min(n_layers, 5)).

    bigmask: every ROI voxel, then the most posterior cortical voxels up to n_voxels; the
    preferred layer comes from the ROI (ROI_PREFERENCE), else from the posterior-anterior
    position, with 10 % of voxels moved to a neighbouring layer (draws from ``rng``).
    Returns dict voxel_mask [prod(BRAIN_NII_SHAPE)] bool, labels {group: int [prod]},
    preferred int [n_vox].
    """
    rois = nsd_rois(anat)
    in_roi = np.logical_or.reduce(list(rois.values()))
    cortical = anat["cortical"] | in_roi

    # bigmask: every ROI voxel, then the most posterior cortical voxels up to n_voxels
    coords = np.argwhere(cortical)
    post_sign = posterior_sign(anat)
    order = np.argsort(coords[:, 1] * post_sign, kind="stable")
    outside = coords[order][~in_roi[tuple(coords[order].T)]]   # posterior first, not in an ROI
    extra = outside[:max(0, n_voxels - int(in_roi.sum()))]
    bigmask = in_roi.copy()
    bigmask[tuple(extra.T)] = True
    voxel_mask = _to_nsd_flat(bigmask)
    n_vox = int(voxel_mask.sum())

    labels = {}
    for key, names in DEMO_ROIS.items():
        vol = np.zeros(VOLUME_SHAPE, dtype=np.int32)
        for name, code in names.items():
            vol[rois[name] & (vol == 0)] = code
        labels[key] = _to_nsd_flat(vol)

    # preferred layer: from the ROI, else from the posterior-anterior position
    yflat = _to_nsd_flat(np.broadcast_to(np.arange(VOLUME_SHAPE[1])[None, :, None], VOLUME_SHAPE))[voxel_mask]
    depth = (yflat - yflat.min()) if post_sign == 1 else (yflat.max() - yflat)
    # (preferences span the first five layers, Conv1..Conv5; extra layers such as FC6
    # only share variance with their neighbours)
    n_pref = min(n_layers, 5)
    preferred = np.minimum((depth / (depth.max() + 1) * n_pref).astype(int), n_pref - 1)
    for name, layer in ROI_PREFERENCE.items():
        preferred[_to_nsd_flat(rois[name])[voxel_mask]] = min(layer, n_pref - 1)
    jitter = rng.random(n_vox) < 0.1
    preferred[jitter] = np.clip(preferred[jitter] + rng.choice([-1, 1], jitter.sum()), 0, n_pref - 1)

    return {"voxel_mask": voxel_mask, "labels": labels, "preferred": preferred}


def add_noise(signal, rng, *, n_shared, n_zero_reps, null_fraction, seed, noise_scale=1.0):
    """The demo's noise-ceiling, repetition and null-voxel conventions applied to a unit-variance
    signal [n_images x n_vox] (modified in place: null voxels set to 0).

    Noise ceilings uniform in 0.05..0.75 (15 % of voxels 0.005..0.05); per-repetition noise sd
    sqrt(3 (1 / nc - 1)) averaged over 1-3 repetitions; n_shared shared1000 images; n_zero_reps
    images without data (NaN betas); a fraction null_fraction of voxels noise only (noise
    ceiling 0), drawn from a separate stream seeded [seed, 1]. noise_scale: the noise sd times
    this (1 / nc - 1 scales by its square, so the noise ceilings follow).
    Returns betas float32 [n_images x n_vox], nc [n_vox], n_reps [n_images], shared bool
    [n_images], null bool [n_vox].
    """
    n_images, n_vox = signal.shape
    # noise: per-repetition sd from a target noise ceiling (NSD: 3 repetitions)
    nc = rng.uniform(0.05, 0.75, n_vox)
    nc[rng.random(n_vox) < 0.15] = rng.uniform(0.005, 0.05)   # some voxels with little signal
    if noise_scale != 1.0:
        nc = 1 / (1 + noise_scale ** 2 * (1 / nc - 1))
    rep_sd = np.sqrt(3 * (1 / nc - 1))
    n_reps = rng.choice([3, 3, 3, 2, 1], size=n_images)
    shared = np.zeros(n_images, dtype=bool)
    shared[rng.choice(n_images, n_shared, replace=False)] = True
    zero = rng.choice(np.flatnonzero(~shared), n_zero_reps, replace=False)
    n_reps[zero] = 0
    noise = rng.standard_normal((n_images, n_vox)) * rep_sd[None, :] / np.sqrt(np.maximum(n_reps, 1))[:, None]
    # null voxels (a separate stream, so the other voxels are what they were without them):
    # noise only, unit single-trial sd, noise ceiling 0
    null_rng = np.random.default_rng([seed, 1])
    null = np.zeros(n_vox, dtype=bool)
    null[null_rng.choice(n_vox, int(round(null_fraction * n_vox)), replace=False)] = True
    signal[:, null] = 0.0
    nc[null] = 0.0
    noise[:, null] = null_rng.standard_normal((n_images, int(null.sum()))) / np.sqrt(np.maximum(n_reps, 1))[:, None]
    betas = (signal + noise).astype(np.float32)
    betas[n_reps == 0] = np.nan
    return betas, nc, n_reps, shared, null


def make_roi_info(voxel_mask, labels, nc) -> dict:
    """voxel_roi_info's dict: the bigmask, the demo's ROI labels and names, noise ceilings in percent."""
    return {
        "voxel_mask": voxel_mask,
        "brain_nii_shape": np.array(BRAIN_NII_SHAPE),
        "noise_ceiling_avgreps": nc * 100,
        **{labels_key: labels[group] for group, (_, labels_key) in ROI_GROUPS.items()},
        **{names_key: dict(DEMO_ROIS[group]) for group, (names_key, _) in ROI_GROUPS.items()},
    }


def make_subject(anat, *, layers, n_images=1500, n_shared=300, n_zero_reps=12, n_voxels=4000,
                 n_features=100, layer_correlation=0.6, null_fraction=0.1, seed=0, common_shared=False,
                 n_missing_shared=0, noise_scale=1.0) -> dict:
    """All arrays of a demo subject, ready to be written at the contract's paths.

    null_fraction: share of the bigmask's voxels that are pure noise (no signal; their
    noise_ceiling_avgreps is 0). A ``Noise`` entry of layers gets features independent
    of everything (drawn from a separate stream, so the other layers and the responses
    do not depend on whether it is listed).
    common_shared: the shared images get the same 73k ids in every subject with the same
    n_shared (NSD's shared1000), the other images ids outside them; n_missing_shared:
    shared images the subject did not see (n_reps 0, NaN betas); noise_scale: the noise
    sd times this (the noise ceilings follow). Each drawn from its own stream, so that the
    rest of the subject is what it is without them.
    """
    if not 0 <= null_fraction < 1:
        raise ValueError(f"null_fraction must be in [0, 1), got {null_fraction}")
    rng = np.random.default_rng(seed)
    all_layers = list(layers)
    layers = [layer for layer in all_layers if layer != NOISE_LAYER]
    n_layers = len(layers)
    layout_ = voxel_layout(anat, n_voxels, n_layers, rng)
    voxel_mask, labels, preferred = layout_["voxel_mask"], layout_["labels"], layout_["preferred"]
    n_vox = preferred.size

    # mixture over layers: 0.7 on the preferred one, the rest on its neighbours
    dist = np.abs(np.arange(n_layers)[:, None] - preferred[None, :])
    mix = np.where(dist == 0, 0.7, np.where(dist == 1, 0.15, 0.0))
    mix /= mix.sum(axis=0, keepdims=True)

    # features: a latent chain, each layer its own scale spectrum (PCA-like)
    latents = [rng.standard_normal((n_images, n_features))]
    for _ in range(n_layers - 1):
        latents.append(np.sqrt(layer_correlation) * latents[-1]
                       + np.sqrt(1 - layer_correlation) * rng.standard_normal((n_images, n_features)))
    spectrum = np.linspace(3.0, 0.3, n_features)
    features = {layer: (g * spectrum).astype(np.float32) for layer, g in zip(layers, latents)}

    signal = np.zeros((n_images, n_vox))
    for k, g in enumerate(latents):
        beta = rng.standard_normal((n_features, n_vox)) / np.sqrt(n_features)
        signal += np.sqrt(mix[k])[None, :] * (g @ beta)
    signal /= signal.std(axis=0, keepdims=True)

    betas, nc, n_reps, shared, null = add_noise(signal, rng, n_shared=n_shared, n_zero_reps=n_zero_reps,
                                                null_fraction=null_fraction, seed=seed, noise_scale=noise_scale)
    if NOISE_LAYER in all_layers:
        features[NOISE_LAYER] = (np.random.default_rng([seed, 2]).standard_normal((n_images, n_features))
                                 * spectrum).astype(np.float32)
        features = {layer: features[layer] for layer in all_layers}
        mix_out = np.zeros((n_vox, len(all_layers)))
        mix_out[:, [all_layers.index(layer) for layer in layers]] = mix.T
    else:
        mix_out = mix.T

    roi_info = make_roi_info(voxel_mask, labels, nc)
    image_info = {"unique_ims": rng.choice(73000, n_images, replace=False),
                  "n_reps": n_reps, "shared1000": shared}
    if n_missing_shared:
        if n_missing_shared >= n_shared:
            raise ValueError(f"n_missing_shared ({n_missing_shared}) must be below n_shared ({n_shared})")
        missing = np.random.default_rng([seed, 3]).choice(np.flatnonzero(shared), n_missing_shared, replace=False)
        n_reps[missing] = 0
        betas[missing] = np.nan
    if common_shared:
        common = np.random.default_rng([n_shared, 73000]).choice(73000, n_shared, replace=False)
        ids = np.empty(n_images, dtype=np.int64)
        ids[shared] = common
        ids[~shared] = np.random.default_rng([seed, 4]).choice(np.setdiff1d(np.arange(73000), common),
                                                               n_images - n_shared, replace=False)
        image_info["unique_ims"] = ids
    return {"betas": betas, "image_info": image_info, "roi_info": roi_info, "features": features,
            "preferred_layer": preferred, "mixture": mix_out, "null_voxel": null}


def write_subject(files, subject, ground_truth_path):
    """Write make_subject's output at the contract's paths (each file atomically)."""
    import h5py
    import pandas as pd
    from .contract import BETAS_DATASET, FEATURES_DATASET
    from .io import atomic_path
    with atomic_path(files["betas"]) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(BETAS_DATASET, data=subject["betas"])
    with atomic_path(files["image_info"]) as tmp:
        pd.DataFrame(subject["image_info"]).to_csv(tmp, index=False)
    with atomic_path(files["roi_info"]) as tmp, open(tmp, "wb") as fh:
        np.save(fh, subject["roi_info"], allow_pickle=True)
    for layer, path in files["features"].items():
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset(FEATURES_DATASET, data=subject["features"][layer])
    with atomic_path(ground_truth_path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("preferred_layer", data=subject["preferred_layer"])
        f.create_dataset("mixture", data=subject["mixture"])
        f.create_dataset("null_voxel", data=subject["null_voxel"])


def write_s1_anatomy(store, out_path):
    """Compute S1's masks through the workflow's pycortex store (under its lock) and cache them."""
    from . import cortex_store
    from .io import atomic_path
    cortex = cortex_store.import_cortex(store)
    with cortex_store.store_lock(store):
        anatomy = s1_anatomy(cortex)
    with atomic_path(out_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **anatomy)


def write_demo_subject(anatomy_path, settings, files, ground_truth_path):
    """The demo subject from cached anatomy and its config block; ``files`` holds the
    contract's paths (features in the order of settings['layers'])."""
    import logging
    settings = dict(settings)
    layers = settings.pop("layers")
    subject = make_subject(dict(np.load(anatomy_path)), layers=layers, **settings)
    write_subject({**files, "features": dict(zip(layers, files["features"]))}, subject, ground_truth_path)
    logging.getLogger("encoding_models").info("demo subject: %s images x %s voxels, layers %s",
                                              *subject["betas"].shape, layers)
