"""The images demo: synthetic stimulus images, and voxels driven by a network's full activations.

Arrays in, arrays out (``stages.features.write_demo_images_subject`` writes the files). The
subject reuses the embedded demo's anatomy, ROIs, preferred layers and noise conventions
(``demo.voxel_layout``, ``demo.add_noise``); only the signal differs: each voxel's response
is a random linear read-out of the FULL activation vector of its preferred layer (not of its
PCA), so that recovering the layer from PCA features is a real test.
"""
from __future__ import annotations

import numpy as np

from . import demo

STANDARDIZE_UNITS = False


def make_images(n, size, seed=0):
    """Synthetic RGB images with structure at several scales.

    Each image: a two-colour gradient background, 1-3 oriented gratings under Gaussian
    windows (1.5 to size/3 cycles per image), 1-4 flat-coloured ellipses, and a little pixel
    noise.

    Parameters
    ----------
    n : number of images.
    size : side in pixels.
    seed : seed of the draws.

    Returns
    -------
    np.ndarray uint8 [n x size x size x 3]
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        theta = rng.uniform(0, 2 * np.pi)
        t = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5) + 0.71) / 1.42
        c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        img = (1 - t)[..., None] * c0 + t[..., None] * c1
        for _ in range(rng.integers(1, 4)):
            freq = rng.uniform(1.5, size / 3)
            ori = rng.uniform(0, np.pi)
            phase = rng.uniform(0, 2 * np.pi)
            cy, cx = rng.uniform(0.2, 0.8, 2)
            width = rng.uniform(0.1, 0.4)
            window = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * width ** 2))
            grating = np.sin(2 * np.pi * freq * (np.cos(ori) * xx + np.sin(ori) * yy) + phase)
            colour = rng.uniform(-0.5, 0.5, 3)
            img = img + (window * grating)[..., None] * colour
        for _ in range(rng.integers(1, 5)):
            cy, cx = rng.uniform(0, 1, 2)
            ry, rx = rng.uniform(0.05, 0.3, 2)
            rot = rng.uniform(0, np.pi)
            u = np.cos(rot) * (xx - cx) + np.sin(rot) * (yy - cy)
            v = -np.sin(rot) * (xx - cx) + np.cos(rot) * (yy - cy)
            inside = (u / rx) ** 2 + (v / ry) ** 2 <= 1
            img[inside] = rng.uniform(0, 1, 3)
        img = img + rng.normal(0, 0.02, img.shape)
        out[i] = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return out


def stimulus_rows(n_images, n_stimuli, seed=0):
    """Which stimulus (0-based row of the stimulus file) each of the n_images image_info rows
    shows: distinct rows, in random order (so that a reader must follow image_info's column).

    Returns int [n_images]."""
    if n_stimuli < n_images:
        raise ValueError(f"n_stimuli ({n_stimuli}) must be >= the number of images ({n_images})")
    rng = np.random.default_rng([seed, 3])
    return rng.choice(n_stimuli, n_images, replace=False)


def make_subject(anat, activations, *, unique_ims, n_shared=120, n_zero_reps=6, n_voxels=3500,
                 null_fraction=0.1, seed=0):
    """A subject whose voxels are driven by the full activations of one layer each.

    Parameters
    ----------
    anat : the demo's anatomy (``demo.s1_anatomy`` or a stand-in).
    activations : list, per config layer (config order), of [n_images x d_layer] arrays: the
        full activations of the images of image_info's rows, in row order.
    unique_ims : int [n_images], the stimulus row of each image_info row (``stimulus_rows``).
    n_shared, n_zero_reps, n_voxels, null_fraction, seed : as for the embedded demo.

    Returns
    -------
    dict with betas [n_images x n_vox] float32, image_info (unique_ims: 0-based stimulus row,
    n_reps, shared1000), roi_info, preferred_layer [n_vox] (index into the layers), mixture
    [n_vox x n_layers] (one-hot), null_voxel [n_vox] bool.
    """
    if not 0 <= null_fraction < 1:
        raise ValueError(f"null_fraction must be in [0, 1), got {null_fraction}")
    rng = np.random.default_rng(seed)
    n_layers = len(activations)
    n_images = activations[0].shape[0]
    lay = demo.voxel_layout(anat, n_voxels, n_layers, rng)
    preferred = lay["preferred"]
    n_vox = preferred.size
    signal = np.zeros((n_images, n_vox))
    for k, act in enumerate(activations):
        vox = np.flatnonzero(preferred == k)
        if not vox.size:
            continue
        a = np.asarray(act, dtype=np.float64)
        a = a - a.mean(axis=0)
        if STANDARDIZE_UNITS:
            sd_u = a.std(axis=0)
            a = a[:, sd_u > 0] / sd_u[sd_u > 0]
        w = rng.standard_normal((a.shape[1], vox.size))
        s = a @ w
        sd = s.std(axis=0)
        sd[sd == 0] = 1.0
        signal[:, vox] = s / sd
    betas, nc, n_reps, shared, null = demo.add_noise(signal, rng, n_shared=n_shared, n_zero_reps=n_zero_reps,
                                                     null_fraction=null_fraction, seed=seed)
    mixture = np.zeros((n_vox, n_layers))
    mixture[np.arange(n_vox), preferred] = 1.0
    image_info = {"unique_ims": np.asarray(unique_ims), "n_reps": n_reps, "shared1000": shared}
    return {"betas": betas, "image_info": image_info, "roi_info": demo.make_roi_info(lay["voxel_mask"], lay["labels"], nc),
            "features": {}, "preferred_layer": preferred, "mixture": mixture, "null_voxel": null}
