"""One colour per layer in every figure (flatmaps, bar charts, legends).

A layer's colour is fixed by its position in the configured layer list: the first
configured layer always gets LAYER_COLOURS[0], and so on, whatever figure draws it.
No pycortex or torch import (colours are hex strings; matplotlib only for the colormap),
so the rules, the report and the tests can all ask for the same colours.
"""
from __future__ import annotations

# Qualitative: tab10 without its grey, then the light tab20 partners (without light
# grey), then two dark tab20b colours: 20 colours, none of them grey or black (grey
# means 'shared', black is the ROI outline colour).
LAYER_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
    "#393b79", "#637939",
)
SHARED_COLOUR = "#8c8c8c"       # shared variance of a layer pair
UNDEFINED_COLOUR = "#bfbfbf"    # legend swatch of no best layer (best_layer == -1): such voxels are left blank,
                                # and the grey curvature shading shows through


def layer_colours(layers) -> dict:
    """{layer: hex colour} for the configured layer list, in its order.

    Raises ValueError for more layers than there are distinct colours, or for a layer
    named twice (its colour would be ambiguous).
    """
    layers = list(layers)
    if len(set(layers)) != len(layers):
        raise ValueError(f"layer names must be unique, got {layers}")
    if len(layers) > len(LAYER_COLOURS):
        raise ValueError(f"{len(layers)} layers but only {len(LAYER_COLOURS)} distinct layer colours")
    return dict(zip(layers, LAYER_COLOURS))


def layer_colour(layers, layer) -> str:
    """The colour of one layer of the configured list."""
    return layer_colours(layers)[layer]


def best_layer_cmap(layers):
    """(ListedColormap, vmin, vmax) for a best-layer volume holding layer indices 0..n-1.

    Index i is drawn in layer i's colour (vmin=-0.5, vmax=n-0.5, one bin per index).
    Undefined voxels (-1) must be set to NaN by the caller: NaN is drawn blank.
    """
    from matplotlib.colors import ListedColormap
    colours = list(layer_colours(layers).values())
    cmap = ListedColormap(colours, name="best_layer").with_extremes(bad=(0, 0, 0, 0))
    return cmap, -0.5, len(colours) - 0.5


def hex_to_rgb(colour) -> tuple:
    """'#rrggbb' -> (r, g, b) in 0..255."""
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))
