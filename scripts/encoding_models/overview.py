"""One figure per ROI: what each layer explains there, which layer wins, what each pair shares.

Pure plotting: tables and arrays in, a PNG out. Colours come from the caller (one colour
per layer everywhere).
"""
from __future__ import annotations

import numpy as np


def roi_overview(roi, n_voxels, r2_by_layer: dict, counts: dict, partitions, colors: dict,
                 shared_color, out_png, title):
    """Three panels for one ROI.

    r2_by_layer: layer -> R2 of the ROI's voxels; counts: layer -> number of voxels whose
    best layer it is; partitions: rows (pair, layer_a, layer_b, unique_a, shared, unique_b)
    of medians; colors: layer -> colour.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    layers = list(r2_by_layer)
    n_pairs = len(partitions)
    fig, axes = plt.subplots(1, 3, figsize=(16, max(4.8, 0.45 * n_pairs + 1.5)),
                             gridspec_kw={"width_ratios": [1.2, 1.0, 1.6]})
    ax = axes[0]
    data = [np.asarray(r2_by_layer[l], float) for l in layers]
    data = [d[np.isfinite(d)] for d in data]
    parts = ax.boxplot(data, tick_labels=layers, patch_artist=True, showfliers=False, widths=0.6)
    for patch, layer in zip(parts["boxes"], layers):
        patch.set_facecolor(colors[layer])
        patch.set_alpha(0.85)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("validation R2 per voxel (fraction of variance)")
    ax.set_title("R2 per layer (box: quartiles, whiskers: 1.5 IQR)")
    ax.tick_params(axis="x", rotation=45)

    ax = axes[1]
    values = [counts.get(l, 0) for l in layers]
    ax.bar(layers, values, color=[colors[l] for l in layers])
    total = max(sum(values), 1)
    for x, v in enumerate(values):
        ax.text(x, v, f"{v / total:.0%}", ha="center", va="bottom", fontsize=10)
    ax.set_ylabel("number of voxels")
    ax.set_title("best layer (highest validation R2)")
    ax.tick_params(axis="x", rotation=45)

    ax = axes[2]
    if n_pairs:
        y = np.arange(n_pairs)[::-1]
        h = 0.27
        for row, yy in zip(partitions, y):
            pair, a, b, ua, sh, ub = row
            ax.barh(yy + h, ua, h, color=colors[a])
            ax.barh(yy, sh, h, color=shared_color)
            ax.barh(yy - h, ub, h, color=colors[b])
        ax.set_yticks(y, [row[0] for row in partitions])
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("median over the ROI's voxels (R2, fraction of variance)")
        ax.set_title("per pair A+B: unique A (A's colour), shared (grey), unique B (B's colour)", fontsize=10)
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "no layer pairs configured", ha="center", va="center")
    fig.suptitle(f"{title} ({n_voxels} voxels)", fontsize=14)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
