"""Flatmaps (pycortex) and per-ROI figures (matplotlib) of the results."""
from __future__ import annotations

import copy
import logging
import shutil

import numpy as np

log = logging.getLogger("encoding_models")


def get_full_volume(values, voxel_mask, shape):
    """The reference's get_full_volume: values of the bigmask voxels into the 3-D volume,
    NaN elsewhere, axes moved [0,1,2] -> [2,1,0] into pycortex's order."""
    voxel_mask_3d = np.reshape(voxel_mask, shape)
    full_vals = copy.deepcopy(voxel_mask_3d).astype("float64")
    full_vals[voxel_mask_3d == 0] = np.nan
    full_vals[voxel_mask_3d == 1] = values
    return np.moveaxis(full_vals, [0, 1, 2], [2, 1, 0])


def result_volume(values, voxel_index, roi_info):
    """A result over the fitted voxels (voxel_index into the bigmask) as a pycortex volume."""
    mask = np.asarray(roi_info["voxel_mask"], dtype=bool)
    bigmask_values = np.full(int(mask.sum()), np.nan)
    bigmask_values[voxel_index] = values
    return get_full_volume(bigmask_values, mask, tuple(int(s) for s in roi_info["brain_nii_shape"]))


def use_rois(setting: str) -> bool:
    """'yes', 'no', or 'auto' (outlines when inkscape is installed; one warning otherwise)."""
    if setting == "yes":
        return True
    if setting == "no":
        return False
    if shutil.which("inkscape"):
        return True
    log.warning("inkscape is not installed: flatmaps are drawn without ROI outlines and labels")
    return False


def flatmap(cortex, volume, subject, xfm, *, cmap, vmin, vmax, title, out_png, with_rois,
            height=1024, legend=None, roi_list=None):
    """Render one flatmap with curvature shading (and ROI outlines: roi_list, or every
    overlay ROI when None) to a PNG."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    vol = cortex.Volume(volume, subject, xfm, cmap=cmap, vmin=vmin, vmax=vmax)
    fig = cortex.quickflat.make_figure(vol, with_curvature=True, with_rois=with_rois,
                                       with_labels=with_rois, with_colorbar=legend is None,
                                       height=height, roi_list=list(roi_list) if roi_list else None)
    ax = fig.axes[0]
    ax.set_title(title, fontsize=14)
    if legend is not None:
        cm = plt.get_cmap(vol.cmap)
        handles = [Patch(color=cm((i - vmin) / (vmax - vmin)), label=name) for i, name in enumerate(legend)]
        ax.legend(handles=handles, loc="lower center", ncol=len(legend), fontsize=12,
                  bbox_to_anchor=(0.5, -0.08), frameon=False, title="best layer")
    meta = {"Title": title, "Description": f"cmap={vol.cmap} vmin={vmin} vmax={vmax} rois={with_rois}"}
    if legend is not None:
        meta["Legend"] = ",".join(legend)
    fig.savefig(out_png, dpi=100, bbox_inches="tight", facecolor="white", metadata=meta)
    plt.close(fig)


def partition_bars(df, layers_order, out_png, title):
    """Median unique A, shared and unique B per ROI for each pair, as stacked bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pairs = list(dict.fromkeys(df["pair"]))
    ncol = min(5, len(pairs))
    nrow = int(np.ceil(len(pairs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False, sharey=True)
    for ax, pair in zip(axes.flat, pairs):
        d = df[df["pair"] == pair]
        x = np.arange(len(d))
        ua, sh, ub = (np.clip(d[f"{k}_median"].to_numpy(), 0, None) for k in ("unique_a", "shared", "unique_b"))
        a, b = d["layer_a"].iloc[0], d["layer_b"].iloc[0]
        ax.bar(x, ua, color="tab:blue", label=f"unique {a}")
        ax.bar(x, sh, bottom=ua, color="tab:gray", label="shared")
        ax.bar(x, ub, bottom=ua + sh, color="tab:orange", label=f"unique {b}")
        ax.set_xticks(x, d["roi"], rotation=90, fontsize=8)
        ax.set_title(pair, fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("median variance explained (R2)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def best_layer_bars(df, layers, out_png, title):
    """Fraction of each ROI's voxels whose best layer is each layer, as stacked bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rois = list(dict.fromkeys(df["roi"]))
    counts = np.array([[df[(df["roi"] == r) & (df["layer"] == l)]["count"].sum() for l in layers] for r in rois], float)
    frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    cmap = plt.get_cmap("viridis", len(layers))
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(rois) + 2), 4))
    bottom = np.zeros(len(rois))
    for li, layer in enumerate(layers):
        ax.bar(rois, frac[:, li], bottom=bottom, color=cmap(li), label=layer)
        bottom += frac[:, li]
    ax.set_ylabel("fraction of voxels")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=90)
    ax.legend(title="best layer", bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
