"""Per-ROI figures: one figure per ROI (what each layer explains there, which layer wins,
what each pair shares), and the subject's bars of partitions and best layers across ROIs.

Pure plotting: tables and arrays in, a PNG out. Colours come from the caller (one colour
per layer everywhere).
"""
from __future__ import annotations

import numpy as np

from .maps import DPI, FIG_WIDTH_IN

# the pale part of a best-layer bar (voxels whose best layer's R2 is not significant)
PALE_ALPHA = 0.35


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
    parts = ax.boxplot(data, tick_labels=layers, patch_artist=True, showfliers=False, widths=0.6,
                       medianprops={"color": "black", "linewidth": 1.6})
    for patch, layer in zip(parts["boxes"], layers):
        patch.set_facecolor(colors[layer])
        patch.set_alpha(0.85)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("validation R2 per voxel (fraction of variance)")
    ax.set_title("R2 per layer (line: median, box: quartiles,\nwhiskers: 1.5 IQR)")
    ax.tick_params(axis="x", rotation=45)

    ax = axes[1]
    values = [counts.get(l, 0) for l in layers]
    ax.bar(layers, values, color=[colors[l] for l in layers])
    total = max(sum(values), 1)
    for x, v in enumerate(values):
        ax.text(x, v, f"{v / total:.0%}", ha="center", va="bottom", fontsize=10)
    ax.set_ylabel("number of voxels")
    ax.set_title("best layer (highest validation R2;\nall voxels, significant or not)")
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


def partition_bars(df, layers_order, out_png, title):
    """Median unique A, shared and unique B per ROI, one panel per pair, as grouped bars.

    Colours from the palette: unique A in layer A's colour, unique B in layer B's,
    shared in grey, the same in every panel and in the flatmaps' best-layer legend.
    Negative medians are drawn as bars below the zero line (not clipped). Returns
    {pair: {"unique_a": colour, "shared": colour, "unique_b": colour}}.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from . import palette
    colours = palette.layer_colours(layers_order)
    pairs = list(dict.fromkeys(df["pair"]))
    if not pairs:                      # a single configured layer: nothing to partition
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no layer pairs configured (one layer)", ha="center", va="center", fontsize=12)
        fig.suptitle(title)
        fig.savefig(out_png, dpi=100)
        plt.close(fig)
        return {}
    ncol = min(2, len(pairs))
    nrow = int(np.ceil(len(pairs) / ncol))
    n_roi = df.groupby("pair")["roi"].count().max()
    panel_w = (FIG_WIDTH_IN - 0.8) / ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(FIG_WIDTH_IN, 1.2 + 3.6 * nrow), squeeze=False, sharey=True)
    used = {}
    width = 0.27
    for ax, pair in zip(axes.flat, pairs):
        d = df[df["pair"] == pair]
        x = np.arange(len(d))
        a, b = d["layer_a"].iloc[0], d["layer_b"].iloc[0]
        used[pair] = {"unique_a": colours[a], "shared": palette.SHARED_COLOUR, "unique_b": colours[b]}
        for k, (key, label) in enumerate((("unique_a", f"unique {a}"), ("shared", "shared"),
                                          ("unique_b", f"unique {b}"))):
            ax.bar(x + (k - 1) * width, d[f"{key}_median"].to_numpy(), width=width, color=used[pair][key],
                   label=label, edgecolor="0.2", linewidth=0.4)
        pair_panel(ax, a, b, d["roi"], fontsize=11 if panel_w / max(n_roi, 1) > 0.25 else 9, title_size=12)
        ax.tick_params(axis="y", labelsize=11)
    handles = finish_pair_panels(axes, len(pairs), colours, "median over voxels (R2)", 11)
    ncol_leg = min(len(handles), 8)
    fig_h = fig.get_figheight()
    fig.suptitle(title, fontsize=15, y=1 - 0.1 / fig_h, va="top")
    fig.legend(handles=handles, loc="upper center", ncol=ncol_leg, fontsize=11, frameon=False,
               title="per ROI, left to right: unique variance of the first layer | shared | unique of the second",
               title_fontsize=11, bbox_to_anchor=(0.5, 1 - 0.5 / fig_h), handlelength=1.4, columnspacing=1.2)
    head = 0.85 + 0.3 * np.ceil(len(handles) / ncol_leg)
    fig.tight_layout(rect=(0, 0, 1, 1 - head / fig_h))
    fig.savefig(out_png, dpi=DPI)
    plt.close(fig)
    return used


def best_layer_bars(df, layers, out_png, title):
    """Fraction of each ROI's voxels whose best layer is each layer, as stacked bars in
    the palette's layer colours; every voxel counts, significant or not. With an
    ``n_significant`` column (statistics on), each layer's bar is solid for the voxels
    whose best layer's R2 is significant and pale for the others. Returns {layer: colour}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from . import palette
    colours = palette.layer_colours(layers)
    rois = list(dict.fromkeys(df["roi"]))

    def table(column):
        return np.array([[df[(df["roi"] == r) & (df["layer"] == l)][column].sum() for l in layers] for r in rois], float)

    counts = table("count")
    total = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    frac = counts / total
    with_sig = "n_significant" in df
    frac_sig = table("n_significant") / total if with_sig else frac
    fig, ax = plt.subplots(figsize=(FIG_WIDTH_IN, 5))
    bottom = np.zeros(len(rois))
    for li, layer in enumerate(layers):
        ax.bar(rois, frac_sig[:, li], bottom=bottom, color=colours[layer], edgecolor="0.2", linewidth=0.4)
        if with_sig:
            ax.bar(rois, frac[:, li] - frac_sig[:, li], bottom=bottom + frac_sig[:, li], color=colours[layer],
                   alpha=PALE_ALPHA, edgecolor="0.2", linewidth=0.4)
        bottom += frac[:, li]
    ax.set_ylabel("fraction of the ROI's voxels\n(all, significant or not)", fontsize=12)
    ax.set_title(title, fontsize=15)
    ax.tick_params(axis="x", rotation=90, labelsize=12)
    ax.tick_params(axis="y", labelsize=11)
    ax.set_ylim(0, 1)
    handles = [Patch(facecolor=colours[layer], edgecolor="0.2", label=layer) for layer in layers]
    if with_sig:
        handles += [Patch(facecolor="0.45", edgecolor="0.2", label="solid: best layer's\nR2 significant"),
                    Patch(facecolor="0.45", alpha=PALE_ALPHA, edgecolor="0.2", label="pale: not significant")]
    ax.legend(handles=handles, title="best layer", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=12,
              title_fontsize=12)
    fig.tight_layout()
    fig.savefig(out_png, dpi=DPI)
    plt.close(fig)
    return colours


# --------------------------------------------------------------------------- honest flatmaps


def pair_panel(ax, a, b, rois, fontsize, title_size):
    """The frame of one pair's panel of bars per ROI: zero line, ROI names, title, grid."""
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(rois)), rois, rotation=90, fontsize=fontsize)
    ax.set_title(f"{a} + {b}", fontsize=title_size)
    ax.grid(axis="y", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)


def finish_pair_panels(axes, n_pairs, colours, ylabel, fontsize) -> list:
    """Hide the unused panels, label each row's y axis, and return the legend's handles:
    one per layer in its colour, and shared in the palette's grey."""
    from matplotlib.patches import Patch
    from . import palette
    for ax in axes.flat[n_pairs:]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel(ylabel, fontsize=fontsize)
    handles = [Patch(facecolor=c, edgecolor="0.2", label=l) for l, c in colours.items()]
    return handles + [Patch(facecolor=palette.SHARED_COLOUR, edgecolor="0.2", label="shared")]
