"""Flatmaps of the results: a pycortex image drawn with matplotlib, with ROI outlines.

Layer colours come from ``palette``; flatmap scales are honest: values outside
[vmin, vmax] get their own colour and a colourbar arrow, NaN is blank (curvature shows).
"""
from __future__ import annotations

import copy
import functools
import logging
import shutil
import types

import numpy as np

log = logging.getLogger("encoding_models")

# Colours that a value outside [vmin, vmax] gets when the colormap does not say otherwise:
# below a vmin of 0 (negative R2, on a sequential map) a colour that no sequential map uses.
BELOW_ZERO_COLOUR = "#ff33cc"
OUTLINE_COLOUR = "black"
FIG_WIDTH_IN = 10.0          # at dpi 100: a 1000-pixel-wide PNG, shown 1:1 at the report's width
DPI = 100
# The report's copy of a figure (results/ keeps the full-resolution PNG): at most this many
# pixels wide (box filter: flat areas stay flat, so the curvature shading compresses), in an
# adaptive palette (fast octree: it keeps a colour map's steps, where median cut spends the
# palette on grey levels and bands the colour bar) of this many colours without dithering
# (dithering adds noise and bytes). On the default demo a 1000 x 920 map of 440 KB becomes
# about 63 KB, its colour bar in about 60 visible steps (report.html must stay under 10 MB
# with its 51 maps).
REPORT_WIDTH = 700
REPORT_COLOURS = 128
REPORT_FIGURE_WIDTH = 1100   # the per-ROI figures' copies (16 in wide, three panels of text)
COLORBAR_TICKS = 5          # at most this many labelled ticks on a flatmap's colour bar (4 in wide)


def report_png(src, dst, width=REPORT_WIDTH, colours=REPORT_COLOURS) -> dict:
    """A lighter copy of a PNG figure for the HTML report: scaled to at most ``width``
    pixels wide (box filter), quantised to an adaptive palette of ``colours`` colours (fast
    octree, no dithering); the text chunks
    (title, colour map, legend) are kept. Returns {"size": [w, h], "bytes": file size}."""
    import os
    from PIL import Image, PngImagePlugin
    with Image.open(src) as im:
        text = dict(getattr(im, "text", {}) or {})
        img = im.convert("RGB")
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.Resampling.BOX)
    q = img.quantize(colors=colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    q.save(dst, format="PNG", pnginfo=info)   # optimize=True: 6 % smaller, 10 times slower to write
    return {"size": [q.width, q.height], "bytes": os.path.getsize(dst)}


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


def value_extend(values, vmin, vmax) -> str:
    """matplotlib's colourbar ``extend`` for finite values outside [vmin, vmax]:
    'neither', 'min', 'max' or 'both'."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    below, above = bool((v < vmin).any()), bool((v > vmax).any())
    return {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[(below, above)]


def value_cmap(cmap, vmin, under=None, over=None):
    """A copy of ``cmap`` (name or Colormap) whose NaN is transparent (curvature shows)
    and whose out-of-range colours are explicit: ``over`` defaults to the top colour;
    ``under`` to the bottom colour on a map that reaches below 0 (diverging, vmin < 0)
    and to BELOW_ZERO_COLOUR when vmin >= 0, so negative values never look like 0."""
    import matplotlib
    cm = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    if under is None:
        under = cm(0.0) if vmin < 0 else BELOW_ZERO_COLOUR
    return cm.with_extremes(bad=(0, 0, 0, 0), under=under, over=over if over is not None else cm(1.0))


def flat_geometry(cortex, subject, height) -> dict:
    """Extents of the subject's flatmap image ([xmin, xmax, ymin, ymax], flat units)
    and the x of the gap between the hemispheres (left hemisphere left of it)."""
    mask, extents = cortex.quickflat.utils.get_flatmask(subject, height=height)
    (lpts, lpolys), (rpts, rpolys) = cortex.db.get_surf(subject, "flat", merge=False, nudge=True)
    lx = lpts[np.unique(lpolys), 0]
    rx = rpts[np.unique(rpolys), 0]
    return {"extents": [float(e) for e in extents], "midline": float((lx.max() + rx.min()) / 2),
            "left": [float(lx.min()), float(lx.max())], "right": [float(rx.min()), float(rx.max())],
            "shape": [int(height), int(mask.shape[0])]}


def _pixel_centres(extents, shape):
    """x (columns) and y (rows, top row first) of the pixel centres of a flat image."""
    xmin, xmax, ymin, ymax = extents
    h, w = shape
    x = xmin + (np.arange(w) + 0.5) * (xmax - xmin) / w
    y = ymax - (np.arange(h) + 0.5) * (ymax - ymin) / h
    return x, y


def outline_from_image(frac, extents, midline, min_pixels=4, avoid=(), label_box=(0.05, 0.02)) -> dict:
    """Outline of one ROI from its flat image (pure; no pycortex).

    frac: the ROI's share of each pixel's samples through cortical depth (NaN off the
    cortex). Returns {"paths": [[[x, y], ...], ...], "labels": [[x, y], ...]} in flat
    units: the contour at 0.5, and one label position per hemisphere, at the point
    deepest inside the ROI's largest piece there (a piece under min_pixels is ignored)
    that keeps clear of the labels in ``avoid`` (by label_box: half-width and height of
    a label as fractions of the flatmap's height); where no such point exists, the
    deepest point.
    """
    import contourpy
    from scipy import ndimage
    z = np.nan_to_num(np.asarray(frac, dtype=float), nan=0.0)
    x, y = _pixel_centres(extents, z.shape)
    paths = [np.round(line, 3).tolist() for line in contourpy.contour_generator(x, y, z).lines(0.5) if len(line) > 1]
    inside = z >= 0.5
    size = extents[3] - extents[2]
    clear = np.ones(z.shape, dtype=bool)
    for ax_, ay_ in avoid:
        clear &= ~((np.abs(x - ax_)[None, :] < 2 * label_box[0] * size) & (np.abs(y - ay_)[:, None] < label_box[1] * size))
    labels = []
    for side in (x < midline, x >= midline):
        pieces, n = ndimage.label(inside & side[None, :])
        if n == 0:
            continue
        sizes = ndimage.sum(inside, pieces, index=np.arange(1, n + 1))
        k = int(np.argmax(sizes)) + 1
        if sizes[k - 1] < min_pixels:
            continue
        # the piece's distance transform within its bounding box plus a 1-pixel border of
        # background (the same values as over the whole image, at a fraction of the cost)
        box = tuple(slice(max(sl.start - 1, 0), sl.stop + 1) for sl in ndimage.find_objects(pieces, max_label=k)[k - 1])
        depth = np.zeros(z.shape)
        depth[box] = ndimage.distance_transform_edt(pieces[box] == k)
        best = np.where(clear, depth, 0)
        r, c = np.unravel_index(int(np.argmax(best if best.max() > 0 else depth)), depth.shape)
        labels.append([round(float(x[c]), 3), round(float(y[r]), 3)])
    return {"paths": paths, "labels": labels}


def roi_outlines(cortex, roi_volumes, subject, xfm, height) -> dict:
    """ROI outlines on the flatmap, from the subject's own ROI masks (no inkscape).

    roi_volumes: {name: volume} in pycortex's (z, y, x) order, 1 inside the ROI and
    0 or NaN elsewhere, e.g. ``result_volume(contract.roi_voxels(rinfo, name, merged),
    ...)`` over all bigmask voxels. Each is projected with pycortex's own pixel map
    (the one the data images use: nearest sampling through cortical depth), then
    outlined by ``outline_from_image``. JSON-serialisable, so one job can compute it
    per subject (under the store lock: pycortex may write its flat caches) and every
    map job can reuse it (``save_roi_outlines`` / ``load_roi_outlines``).
    """
    geo = flat_geometry(cortex, subject, height)
    images = {}
    for name, vol in roi_volumes.items():
        inside = np.nan_to_num(np.asarray(vol, dtype=float), nan=0.0)
        images[name], extents = cortex.quickflat.utils.make_flatmap_image(cortex.Volume(inside, subject, xfm),
                                                                         height=height)
    # label the smallest ROIs first: they have the fewest places for a label
    placed, rois = [], {}
    for name in sorted(images, key=lambda n: float(np.nansum(images[n] >= 0.5))):
        rois[name] = outline_from_image(images[name], [float(e) for e in extents], geo["midline"], avoid=placed)
        placed += rois[name]["labels"]
    return {"subject": subject, "xfm": xfm, "height": int(height), **geo,
            "rois": {name: rois[name] for name in images}}


def roi_volumes_from_info(rinfo, rois, merged=None) -> dict:
    """{name: volume} of each configured ROI (1 inside, 0 elsewhere in the bigmask), as
    ``roi_outlines`` takes them; merged ROIs (e.g. V1 = V1v + V1d) are one outline of
    their union. 'all' (every bigmask voxel) is not an ROI and gets no outline."""
    from . import contract
    n = int(np.asarray(rinfo["voxel_mask"]).sum())
    return {name: result_volume(contract.roi_voxels(rinfo, name, merged).astype(float), np.arange(n), rinfo)
            for name in rois if name != "all"}


def save_roi_outlines(outlines, path):
    """Write ``roi_outlines``' result as JSON (atomically)."""
    import json
    from .io import atomic_path
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(outlines, fh)


def load_roi_outlines(path) -> dict:
    """``save_roi_outlines``' JSON, parsed once per process and file version (a map job
    draws many maps with one outlines file: parsing it took ~50 ms a map). Read-only: the
    same dict is returned to every caller."""
    import os
    st = os.stat(path)
    return _parsed_outlines(os.path.realpath(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _parsed_outlines(path, mtime_ns, size) -> dict:
    import json
    with open(path) as fh:
        return json.load(fh)


def draw_roi_outlines(ax, outlines, *, color=OUTLINE_COLOUR, linewidth=1.0, fontsize=12) -> list:
    """Draw each ROI's contour and name on a flatmap axes (flat units). Returns the names
    of the ROIs drawn (those with at least one contour), in the outlines' order."""
    import matplotlib.patheffects as pe
    from matplotlib.collections import LineCollection
    drawn = []
    halo = [pe.withStroke(linewidth=3, foreground="white")]
    # every contour in one artist (one Line2D per contour costs about a second per map)
    lines = [np.asarray(path) for roi in outlines["rois"].values() for path in roi["paths"]]
    if lines:
        ax.add_collection(LineCollection(lines, colors=color, linewidths=linewidth, zorder=4, joinstyle="round",
                                         path_effects=[pe.Stroke(linewidth=linewidth + 1.5, foreground="white",
                                                                 alpha=0.8), pe.Normal()]), autolim=False)
    for name, roi in outlines["rois"].items():
        for x, y in roi["labels"]:
            ax.text(x, y, name, fontsize=fontsize, ha="center", va="center", color=color, zorder=5,
                    path_effects=halo, clip_on=True)
        if roi["paths"]:
            drawn.append(name)
    return drawn


def crop_box(img, extents, outlines=None, margin=0.06) -> list:
    """[xmin, xmax, ymin, ymax] around the image's finite pixels and the ROI labels,
    widened by ``margin`` of the flatmap's width on each side, within the extents."""
    x, y = _pixel_centres(extents, np.shape(img)[:2])
    finite = np.isfinite(img) if np.ndim(img) == 2 else np.asarray(img)[..., 3] > 0
    # the extremes of the columns and rows that hold a finite pixel, then the labels (Python's
    # min/max over them as over every pixel's coordinates, types included: the extents are
    # float32 and the map's layout is computed from this box), ~0.1 s a map faster
    px, py = x[finite.any(axis=0)], y[finite.any(axis=1)]
    labels = [p for roi in (outlines or {}).get("rois", {}).values() for p in roi["labels"]]
    xs = ([px.min(), px.max()] if px.size else []) + [p[0] for p in labels]
    ys = ([py.min(), py.max()] if py.size else []) + [p[1] for p in labels]
    if not xs:
        return [float(e) for e in extents]
    pad = margin * (extents[1] - extents[0])
    return [max(extents[0], min(xs) - pad), min(extents[1], max(xs) + pad),
            max(extents[2], min(ys) - pad), min(extents[3], max(ys) + pad)]


@functools.lru_cache(maxsize=4)
def curvature_image(cortex, subject, height):
    """The curvature shading under every flatmap: the image that
    ``cortex.quickflat.composite.add_curvature`` (threshold from pycortex's config, limits
    +-0.5, not legacy mode) makes, computed once per process: a map job draws several maps
    of one subject at one height, and the image (a flatmap of the surface's curvature,
    about 0.2 s) is the same for all of them. [height x width] float in [0, 1], NaN off
    the cortex."""
    import matplotlib.pyplot as plt
    fig = plt.figure()
    try:
        # add_curvature reads only the view's subject; the extents only place the image
        im = cortex.quickflat.composite.add_curvature(fig.add_subplot(), types.SimpleNamespace(subject=subject),
                                                      (0, 1, 0, 1), height=height, threshold=None,
                                                      curvature_lims=0.5, legacy_mode=False)
        return np.ma.getdata(im.get_array()).copy()
    finally:
        plt.close(fig)


@functools.lru_cache(maxsize=4)
def roi_overlay_texture(cortex, subject, height, roi_list=()):
    """pycortex's ROI overlay (overlay.svg's outlines and labels) as the image that
    ``cortex.quickflat.composite.add_rois`` draws, rendered once per process: rendering
    runs inkscape (several seconds) and gives the same image for every map of a subject
    at one height. roi_list: ROI names to draw (empty: all)."""
    svg = cortex.db.get_overlay(subject)
    layer_kws = cortex.quickflat.composite._parse_defaults("rois_paths")   # add_rois' own defaults (pycortex 1.4.0)
    return svg.get_texture("rois", height, labels=True, shape_list=list(roi_list) or None, shadow=None, **layer_kws)


def save_overlay(image, path):
    """An overlay texture (RGBA in [0, 1], from 8-bit PNG values: exact in uint8), or None
    for no overlay, as a compressed .npz (atomically)."""
    from .io import atomic_path
    rgba = np.zeros((0, 0, 4), np.uint8) if image is None else np.round(np.asarray(image) * 255).astype(np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, rgba=rgba)


def load_overlay(path):
    """``save_overlay``'s image as float32 RGBA in [0, 1] (bitwise the rendered texture), or
    None where no overlay is drawn."""
    with np.load(path, allow_pickle=False) as z:
        rgba = z["rgba"]
    return rgba.astype(np.float32) / np.float32(255) if rgba.size else None


def render_flatmap(cortex, volume, subject, xfm, *, cmap, vmin, vmax, title, out_png, colorbar_label=None,
                   categories=None, roi_outlines=None, overlay_rois=False, overlay_roi_list=None,
                   height=800, under=None, over=None, crop=True, metadata=None, blank_note=None,
                   overlay_image=None) -> dict:
    """One flatmap with curvature shading, drawn with matplotlib so that its scale is honest.

    volume: pycortex-ordered values; NaN voxels are blank (curvature shows): put NaN for
      voxels outside the analysis or masked as not significant.
    cmap, vmin, vmax: a diverging map should get vmin = -vmax (e.g. RdBu_r) so 0 is its
      centre colour; values beyond the range get the ``value_cmap`` under/over colours
      and the colourbar gets arrows (extend) on that side.
    colorbar_label: what the colour means and its unit, drawn under the colourbar, which
      sits below the flatmap (never over cortex).
    categories: [(name, colour), ...] draws a legend instead of a colourbar (best layer:
      ``cmap`` a ListedColormap of those colours, vmin=-0.5, vmax=n-0.5).
    roi_outlines: ``roi_outlines``' result (outlines and labels of the configured ROIs);
      overlay_rois: also pycortex's overlay.svg outlines (needs inkscape), overlay_roi_list;
      overlay_image: that overlay already rendered (``roi_overlay_texture``, [height x w x 4]
      RGBA in [0, 1]; empty: none), drawn instead of rendering it here.
    blank_note: what an uncoloured voxel inside the analysis means (e.g. "not significant"),
      printed under the colourbar with the arrow note.
    crop: show only the part of the flatmap that holds data or ROI labels (with a margin),
      so that ROI names stay readable; False shows both whole hemispheres.
    Returns {"rois": names outlined, "extend": ..., "n_below"/"n_above": voxels beyond the
    range, "map_px": [left, top, right, bottom] of the flatmap in the PNG's pixels,
    "extents": the whole flatmap's, "view": [xmin, xmax, ymin, ymax] shown, "midline": ...,
    "colorbar_ticks": [[label, left, right] in pixels, ...] of the colour bar}.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    volume = np.asarray(volume, dtype=float)
    finite = volume[np.isfinite(volume)]
    extend = "neither" if categories is not None else value_extend(finite, vmin, vmax)
    cm = value_cmap(cmap, vmin, under, over)
    vol = cortex.Volume(volume, subject, xfm)
    img, extents = cortex.quickflat.utils.make_flatmap_image(vol, height=height)
    geo = roi_outlines if roi_outlines and "midline" in roi_outlines else flat_geometry(cortex, subject, height)
    xmin, xmax, ymin, ymax = view = crop_box(img, extents, roi_outlines) if crop else [float(e) for e in extents]

    # layout in inches: title, hemisphere labels, flatmap, colourbar or legend below
    map_w = min(FIG_WIDTH_IN - 0.3, 7.0 * (xmax - xmin) / (ymax - ymin))
    map_h = map_w * (ymax - ymin) / (xmax - xmin)
    top, hemi, below = 0.55, 0.35, (1.3 if categories is None else 0.9)
    fig_h = top + hemi + map_h + below
    fig = plt.figure(figsize=(FIG_WIDTH_IN, fig_h), dpi=DPI)
    ax = fig.add_axes(((FIG_WIDTH_IN - map_w) / 2 / FIG_WIDTH_IN, below / fig_h, map_w / FIG_WIDTH_IN, map_h / fig_h))
    # pycortex's curvature layer, made once per process (the same for every map of a subject)
    ax.imshow(curvature_image(cortex, subject, height), aspect="equal", extent=extents, cmap="gray",
              vmin=0, vmax=1, label="curvature", zorder=0)      # as add_curvature draws it
    data_im = ax.imshow(img, aspect="equal", extent=extents, zorder=1, interpolation="nearest",
                        cmap=cm, norm=Normalize(vmin=vmin, vmax=vmax))
    drawn = []
    if overlay_rois and overlay_image is None:
        overlay_image = roi_overlay_texture(cortex, subject, height, tuple(overlay_roi_list or ()))
    if overlay_image is not None and np.size(overlay_image):   # as cortex.quickflat.composite.add_rois draws it
        ax.imshow(overlay_image, aspect="equal", interpolation="bicubic", extent=extents, label="rois", zorder=1000)
    if roi_outlines:
        drawn = draw_roi_outlines(ax, roi_outlines)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.axis("off")

    # hemisphere labels: pycortex flatmaps put the left hemisphere on the left
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    for name, (lo, hi) in (("left hemisphere", geo["left"]), ("right hemisphere", geo["right"])):
        lo, hi = max(lo, xmin), min(hi, xmax)
        if hi <= lo:
            continue
        ax.text((lo + hi) / 2, 1.0 + 0.05 / map_h, name, transform=tr, ha="center", va="bottom", fontsize=13)
    fig.text(0.5, 1 - 0.1 / fig_h, title, ha="center", va="top", fontsize=16)

    if categories is None:
        cax = fig.add_axes((0.3, 0.8 / fig_h, 0.4, 0.2 / fig_h))
        cb = fig.colorbar(data_im, cax=cax, orientation="horizontal", extend=extend, extendfrac=0.06)
        cb.set_label(colorbar_label or "", fontsize=12)
        # at most COLORBAR_TICKS ticks on round values: labels such as "-0.15" never touch
        cb.ax.xaxis.set_major_locator(MaxNLocator(nbins=COLORBAR_TICKS - 1, min_n_ticks=3))
        cb.ax.tick_params(labelsize=11)
        notes = []
        if extend != "neither":
            # the under colour named where it is not the scale's own end (vmin >= 0: magenta)
            low = f"below {vmin:g}" + (" (magenta)" if under is None and vmin >= 0 else "")
            beyond = {"min": low, "max": f"above {vmax:g}", "both": f"{low} / above {vmax:g}"}[extend]
            notes.append(f"arrow colours: values {beyond}")
        if blank_note:
            notes.append(f"no colour: {blank_note}")
        if notes:
            cax.text(0.5 if blank_note else 1.0, -2.6, ";  ".join(notes), transform=cax.transAxes,
                     ha="center" if blank_note else "right", va="top", fontsize=10, color="0.3")
    else:
        handles = [Patch(facecolor=c, edgecolor="0.3", label=n) for n, c in categories]
        title_text = colorbar_label if not blank_note else f"{colorbar_label}\nno colour: {blank_note}"
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=12,
                   bbox_to_anchor=(0.5, 0.05 / fig_h), frameon=False, title=title_text,
                   title_fontsize=12, handlelength=1.5)
    meta = {"Title": title, "Description": f"cmap={cm.name} vmin={vmin} vmax={vmax} extend={extend} "
                                           f"rois={','.join(drawn)} overlay_rois={bool(overlay_rois)}"}
    meta.update(metadata or {})
    # zlib level 3: half the encoding time of matplotlib's default 6, and no larger on these maps
    fig.savefig(out_png, dpi=DPI, facecolor="white", metadata=meta, pil_kwargs={"compress_level": 3})
    ticks = []
    if categories is None:    # the colour bar's labelled ticks: [text, left, right] in pixels
        renderer = fig.canvas.get_renderer()
        lo, hi = cb.ax.get_xlim()
        for tick, label in zip(cb.ax.get_xticks(), cb.ax.get_xticklabels()):
            if lo - 1e-9 <= tick <= hi + 1e-9 and label.get_text():
                e = label.get_window_extent(renderer)
                ticks.append([label.get_text(), float(e.x0), float(e.x1)])
    bb = ax.get_window_extent()
    height_px = fig.get_figheight() * DPI
    map_px = [int(np.ceil(bb.x0)), int(np.ceil(height_px - bb.y1)), int(bb.x1), int(height_px - bb.y0)]
    plt.close(fig)
    return {"rois": drawn, "extend": extend, "n_below": int((finite < vmin).sum()),
            "map_px": map_px,
            "n_above": int((finite > vmax).sum()), "extents": [float(e) for e in extents], "view": [float(v) for v in view],
            "midline": geo["midline"], "colorbar_ticks": ticks}
