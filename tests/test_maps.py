"""Flatmaps and per-ROI figures: the reference's volume placement, one colour per layer,
honest colour scales, ROI outlines from the subject's own labels, and maps without inkscape.

The tests marked ``workflow`` draw with pycortex (on the demo run's subject and store);
the others are pure matplotlib/numpy and take a second or two.
"""
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from encoding_models import layout, maps, palette, roi_figure

LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_get_full_volume_is_the_references():
    mask = np.zeros(4 * 3 * 2, dtype=bool)
    mask[[1, 5, 22]] = True
    vol = maps.get_full_volume(np.array([10.0, 20.0, 30.0]), mask, (4, 3, 2))
    assert vol.shape == (2, 3, 4)                       # moveaxis [0,1,2] -> [2,1,0]
    ref = np.full((4, 3, 2), np.nan)
    ref.reshape(-1)[[1, 5, 22]] = [10, 20, 30]
    np.testing.assert_array_equal(vol, np.transpose(ref, (2, 1, 0)))


# --------------------------------------------------------------------------- palette
def test_palette_gives_each_layer_a_fixed_distinct_colour():
    twenty = [f"L{i}" for i in range(20)]
    colours = palette.layer_colours(twenty)
    assert len(set(colours.values())) == 20
    assert palette.SHARED_COLOUR not in colours.values() and palette.UNDEFINED_COLOUR not in colours.values()
    # a layer's colour depends on its position in the configured list only
    assert palette.layer_colours(LAYERS) == {l: palette.LAYER_COLOURS[i] for i, l in enumerate(LAYERS)}
    assert palette.layer_colours(LAYERS[:3]) == {l: palette.layer_colours(LAYERS)[l] for l in LAYERS[:3]}
    cmap, vmin, vmax = palette.best_layer_cmap(LAYERS)
    from matplotlib.colors import to_hex
    assert [to_hex(cmap((i - vmin) / (vmax - vmin))) for i in range(5)] == list(palette.layer_colours(LAYERS).values())
    with pytest.raises(ValueError):
        palette.layer_colours(twenty + ["L20"])
    with pytest.raises(ValueError):
        palette.layer_colours(["Conv1", "Conv1"])


@pytest.fixture
def kept_figures(monkeypatch):
    """Figures the code under test closes, kept open for inspection."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    kept = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    monkeypatch.undo()
    plt.close("all")


def _bar_colours(ax):
    from matplotlib.colors import to_hex
    return [(to_hex(p.get_facecolor()), p.get_height()) for p in ax.patches]


def test_roi_bar_charts_use_the_palette_and_draw_negative_medians(tmp_path, kept_figures):
    from matplotlib.colors import to_hex
    colours = palette.layer_colours(LAYERS)
    rois = ["V1v", "FFA-1"]
    part = pd.DataFrame([{"roi": r, "pair": f"{a}+{b}", "layer_a": a, "layer_b": b, "unique_a_median": -0.03,
                          "shared_median": 0.05, "unique_b_median": 0.02}
                         for a, b in (("Conv1", "Conv5"), ("Conv2", "Conv5")) for r in rois])
    roi_figure.partition_bars(part, LAYERS, tmp_path / "p.png", "t")
    fig = kept_figures[-1]
    for ax, (a, b) in zip(fig.axes, (("Conv1", "Conv5"), ("Conv2", "Conv5"))):
        bars = _bar_colours(ax)
        assert [c for c, h in bars if h < 0] == [colours[a]] * 2          # unique A: A's colour, below zero
        assert [c for c, _ in bars].count(colours[b]) == 2                # unique B: B's colour in both panels
        assert [c for c, _ in bars].count(palette.SHARED_COLOUR) == 2
        assert min(h for _, h in bars) == pytest.approx(-0.03)           # not clipped at 0
    legend = {t.get_text(): to_hex(h.get_facecolor()) for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}
    assert legend == {**colours, "shared": palette.SHARED_COLOUR}

    counts = pd.DataFrame([{"roi": r, "layer": l, "count": 3} for r in rois for l in LAYERS])
    roi_figure.best_layer_bars(counts, LAYERS, tmp_path / "b.png", "t")
    ax = kept_figures[-1].axes[0]
    assert [c for c, _ in _bar_colours(ax)] == [colours[l] for l in LAYERS for _ in rois]
    # with statistics: each layer's voxels solid where the best layer's R2 is significant, pale elsewhere
    counts["n_significant"] = [2 if r == "V1v" else 0 for r in rois for l in LAYERS]
    roi_figure.best_layer_bars(counts, LAYERS, tmp_path / "b2.png", "t")
    bars = [(to_hex(p.get_facecolor()), p.get_facecolor()[3], p.get_height()) for p in kept_figures[-1].axes[0].patches]
    for li, layer in enumerate(LAYERS):     # per layer: solid V1v, FFA-1, then pale V1v, FFA-1
        (c, alpha, h), (_, _, h_ffa), (c_pale, alpha_pale, h_pale), (_, _, h_ffa_pale) = bars[4 * li:4 * li + 4]
        assert c == c_pale == colours[layer] and alpha == 1 and alpha_pale == roi_figure.PALE_ALPHA
        assert (h, h_pale) == pytest.approx((2 / 15, 1 / 15)) and (h_ffa, h_ffa_pale) == pytest.approx((0, 3 / 15))


# --------------------------------------------------------------------------- scales and outlines (pure)
def test_out_of_range_values_get_their_own_colour_and_an_arrow():
    assert maps.value_extend([0.1, np.nan], 0, 0.4) == "neither"
    assert maps.value_extend([-0.1, 0.5], 0, 0.4) == "both"
    assert maps.value_extend([0.5], -0.4, 0.4) == "max"
    seq = maps.value_cmap("viridis", 0)
    assert tuple(seq.get_under()) != tuple(seq(0.0))   # R2 < 0 is not drawn like R2 = 0
    div = maps.value_cmap("RdBu_r", -0.4)
    assert tuple(div.get_bad()) == (0, 0, 0, 0)        # NaN: blank, curvature shows


def test_outline_from_image_finds_each_piece_and_labels_it_inside():
    img = np.full((60, 100), np.nan)
    img[5:55, 2:98] = 0.0
    img[10:30, 10:30] = 1.0          # left hemisphere piece
    img[35:50, 70:90] = 0.8          # right hemisphere piece
    out = maps.outline_from_image(img, [0, 100, 0, 60], midline=50)
    assert len(out["paths"]) == 2
    (lx, ly), (rx, ry) = out["labels"]
    assert 10 < lx < 30 and 30 < ly < 50         # y counts up from the bottom (row 0 is y=60)
    assert 70 < rx < 90 and 10 < ry < 25
    assert json.loads(json.dumps(out)) == out
    # a second ROI over the same place (a merged ROI over its parts) gets its label elsewhere
    moved = maps.outline_from_image(img, [0, 100, 0, 60], midline=50, avoid=out["labels"])
    for (x0, y0), (x1, y1) in zip(out["labels"], moved["labels"]):
        assert abs(x1 - x0) >= 6 or abs(y1 - y0) >= 1.2


def test_label_positions_equal_a_whole_image_distance_transform():
    """outline_from_image measures depth within each piece's bounding box (plus a border):
    the labels must be where the whole image's distance transform puts them, pieces at
    the image's edges included."""
    from scipy import ndimage
    rng = np.random.default_rng(3)
    for trial in range(6):
        img = np.where(ndimage.gaussian_filter(rng.normal(size=(48, 80)), 4) > 0.02 * trial, 1.0, 0.0)
        extents, midline = [0, 80, 0, 48], 40
        out = maps.outline_from_image(img, extents, midline)
        x = (np.arange(80) + 0.5)
        y = 48 - (np.arange(48) + 0.5)
        expected = []
        for side in (x < midline, x >= midline):
            pieces, n = ndimage.label((img >= 0.5) & side[None, :])
            if n == 0:
                continue
            sizes = ndimage.sum(img >= 0.5, pieces, index=np.arange(1, n + 1))
            k = int(np.argmax(sizes)) + 1
            if sizes[k - 1] < 4:
                continue
            depth = ndimage.distance_transform_edt(pieces == k)
            r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
            expected.append([round(float(x[c]), 3), round(float(y[r]), 3)])
        assert out["labels"] == expected, trial


# --------------------------------------------------------------------------- pycortex (demo run)
RENDER = r"""
import json, sys
import numpy as np
from encoding_models import contract, io, maps, palette
from encoding_models.stages import maps as map_stage
a = json.loads(sys.argv[1])
rinfo = contract.load_roi_info(a["roi_info"])
n = int(rinfo["voxel_mask"].sum())
vals = np.zeros(n)
vals[contract.roi_voxels(rinfo, "V1v")] = -0.3
vals[contract.roi_voxels(rinfo, "EBA")] = 0.3
vals[contract.roi_voxels(rinfo, "PPA")] = 0.9
best = np.arange(n) % 6 - 1                       # -1 (undefined) and every layer index
io.write_h5(a["tmp"] + "/result.h5", {"unique_a": vals, "best_layer": best, "voxel_index": np.arange(n)})
map_stage.warm_pycortex_cache(a["store"], "S1", "fullhead", a["roi_info"], a["height"], "no", a["tmp"] + "/cache.ok",
                             rois=a["rois"], merged_rois=a["merged"], outlines_path=a["tmp"] + "/outlines.json")
from encoding_models import cortex_store
cortex = cortex_store.import_cortex(a["store"])
outlines = maps.load_roi_outlines(a["tmp"] + "/outlines.json")
info = maps.render_flatmap(cortex, maps.result_volume(vals, np.arange(n), rinfo), "S1", "fullhead", cmap="RdBu_r",
                           vmin=-0.5, vmax=0.5, title="test", out_png=a["tmp"] + "/values.png",
                           colorbar_label="unique variance (R2)", roi_outlines=outlines, height=a["height"])
map_stage.result_flatmap(a["store"], "S1", "fullhead", a["roi_info"], a["tmp"] + "/result.h5", "best_layer",
                        cmap="BPROG", vmin=-0.5, vmax=4.5, title="best", out_png=a["tmp"] + "/best.png",
                        with_rois="no", height=a["height"], legend=a["layers"],
                        roi_outlines_path=a["tmp"] + "/outlines.json")
blank = maps.render_flatmap(cortex, maps.result_volume(vals, np.arange(n), rinfo), "S1", "fullhead", cmap="RdBu_r",
                            vmin=-0.5, vmax=0.5, title="no outlines", out_png=a["tmp"] + "/plain.png",
                            roi_outlines=None, height=a["height"])
narrow = maps.render_flatmap(cortex, maps.result_volume(vals, np.arange(n), rinfo), "S1", "fullhead", cmap="RdBu_r",
                             vmin=-0.2, vmax=0.2, title="partition range", out_png=a["tmp"] + "/narrow.png",
                             colorbar_label="unique variance (R2)", roi_outlines=None, height=a["height"])
json.dump({"values": info, "plain": blank, "narrow": narrow}, open(a["tmp"] + "/info.json", "w"))
"""


def _pixels(path, box):
    from PIL import Image
    left, top, right, bottom = box
    return np.asarray(Image.open(path).convert("RGB"), dtype=int)[top:bottom, left:right].reshape(-1, 3)


def _count(pixels, colour, tol=3):
    return int((np.abs(pixels - np.asarray(colour)).max(axis=1) <= tol).sum())


@pytest.fixture(scope="module")
def rendered(demo_run, store, tmp_path_factory):
    """Outlines, a value map, a best-layer map and a map without outlines of the demo
    subject, drawn in a fresh process (pycortex binds to one store per process)."""
    tmp = tmp_path_factory.mktemp("maps")
    import yaml
    with open(os.path.join(demo_run, "config", "config.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    args = {"store": str(store), "roi_info": os.path.join(demo_run, "resources", "demo", "voxel_roi_info.npy"),
            "rois": cfg["rois"], "merged": cfg["merged_rois"], "height": 600, "layers": LAYERS, "tmp": str(tmp)}
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "scripts")}
    res = subprocess.run([sys.executable, "-c", RENDER, json.dumps(args)], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp, cfg, json.load(open(tmp / "info.json"))


@pytest.mark.workflow
def test_negative_and_above_range_values_are_drawn_distinctly(rendered):
    import matplotlib
    tmp, _, info = rendered
    cm = maps.value_cmap("RdBu_r", -0.5)
    rgb = lambda c: np.round(np.asarray(c[:3]) * 255)             # noqa: E731
    zero, negative, positive, above = rgb(cm(0.5)), rgb(cm(0.2)), rgb(cm(0.8)), rgb(cm.get_over())
    colours = [zero, negative, positive, above]
    assert min(np.abs(a - b).max() for i, a in enumerate(colours) for b in colours[i + 1:]) > 20
    assert info["values"]["extend"] == "max" and info["values"]["n_above"] > 0
    px = _pixels(tmp / "values.png", info["values"]["map_px"])    # the flatmap only, not its colourbar
    n_neg, n_pos, n_above = (_count(px, c) for c in (negative, positive, above))
    assert n_neg > 50 and n_pos > 50 and n_above > 50, (n_neg, n_pos, n_above)
    assert _count(px, zero) > 50                                  # the other bigmask voxels: 0


@pytest.mark.workflow
def test_colour_bar_tick_labels_do_not_touch(rendered):
    """The partition maps' range (-0.2..0.2) once labelled every 0.05: "-0.20-0.15-0.10..." ran together."""
    _, _, info = rendered
    for key in ("values", "narrow"):
        ticks = info[key]["colorbar_ticks"]
        assert 3 <= len(ticks) <= maps.COLORBAR_TICKS, ticks
        gaps = [b[1] - a[2] for a, b in zip(ticks, ticks[1:])]
        assert min(gaps) >= 10, (key, ticks)                      # at least 10 pixels between labels
    assert [t[0] for t in info["narrow"]["colorbar_ticks"]] == ["\u22120.2", "\u22120.1", "0.0", "0.1", "0.2"]


@pytest.mark.workflow
def test_every_configured_roi_is_outlined_and_labelled(rendered):
    tmp, cfg, info = rendered
    configured = [r for r in cfg["rois"] if r != "all"]
    assert info["values"]["rois"] == configured
    outlines = json.load(open(tmp / "outlines.json"))
    for name in configured:
        assert outlines["rois"][name]["paths"] and outlines["rois"][name]["labels"], name
    dark = lambda p: int((p.max(axis=1) < 40).sum())              # noqa: E731  outline pixels (black)
    with_outlines = dark(_pixels(tmp / "values.png", info["values"]["map_px"]))
    without = dark(_pixels(tmp / "plain.png", info["plain"]["map_px"]))
    assert without == 0 and with_outlines > 500


@pytest.mark.workflow
def test_best_layer_map_uses_the_palette(rendered):
    from matplotlib.colors import to_rgb
    tmp, _, info = rendered
    from PIL import Image
    img = np.asarray(Image.open(tmp / "best.png").convert("RGB"), dtype=int).reshape(-1, 3)
    for layer, colour in palette.layer_colours(LAYERS).items():
        assert _count(img, np.round(np.asarray(to_rgb(colour)) * 255), tol=1) > 200, layer
    assert "Legend" in Image.open(tmp / "best.png").text


@pytest.mark.workflow
def test_maps_render_without_inkscape_with_one_warning(demo_run, tmp_path, monkeypatch, caplog):
    from encoding_models.stages import maps as map_stage
    monkeypatch.setattr(maps.shutil, "which", lambda name: None)   # as if inkscape were not installed
    out = tmp_path / "r2_Conv1.png"
    store = tmp_path / "store"             # its own store: this one's options.cfg says no inkscape
    with caplog.at_level(logging.WARNING, logger="encoding_models"):
        map_stage.result_flatmap(str(store), "S1", "fullhead",
                                os.path.join(demo_run, "resources", "demo", "voxel_roi_info.npy"),
                                os.path.join(demo_run, "results", "demo", "fits", "Conv1.h5"), "r2",
                                cmap="Blues", vmin=0, vmax=0.4, title="no inkscape", out_png=str(out),
                                with_rois="auto", height=512)
    from PIL import Image
    img = Image.open(out)
    assert "overlay_rois=False" in img.text["Description"]
    assert np.asarray(img.convert("RGB"), float).std() > 10
    assert [r.message for r in caplog.records].count(
        "inkscape is not installed: flatmaps are drawn without ROI outlines and labels") == 1


def test_overlay_cache_round_trips_bitwise(tmp_path):
    """pycortex's overlay texture (8-bit PNG values as float32) survives the cache exactly;
    no overlay is stored as an empty image and read back as None."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(30, 50, 4)).astype(np.float32) / np.float32(255)
    maps.save_overlay(texture, tmp_path / "o.npz")
    back = maps.load_overlay(tmp_path / "o.npz")
    assert back.dtype == np.float32 and np.array_equal(back, texture)
    maps.save_overlay(None, tmp_path / "none.npz")
    assert maps.load_overlay(tmp_path / "none.npz") is None


@pytest.mark.workflow
def test_report_gets_lighter_copies_of_the_full_resolution_maps(demo_run):
    """results/ keeps every map at full resolution; the report embeds a lighter copy of each
    (report.html was 35.8 MB on the default demo, 95 PNGs of 420-610 KB)."""
    import glob
    from PIL import Image
    base = os.path.join(demo_run, "results", "demo")
    full = sorted(p for p in glob.glob(os.path.join(base, "maps", "**", "*.png"), recursive=True))
    assert len(full) >= 1 + 2 * len(LAYERS) + 4 * 10
    total_full = total_light = 0
    for path in full:
        rel = os.path.relpath(path, demo_run)
        light = os.path.join(demo_run, layout.report_copy(rel.replace("results/demo/", "results/{subject}/", 1))
                             .format(subject="demo"))
        with Image.open(path) as a, Image.open(light) as b:
            assert b.mode == "P" and b.width == min(a.width, maps.REPORT_WIDTH), rel
            assert abs(b.height / b.width - a.height / a.width) < 0.01, rel
            assert b.text.get("Title") == a.text.get("Title"), rel
        total_full += os.path.getsize(path)
        total_light += os.path.getsize(light)
    assert total_light < total_full / 3, (total_light, total_full)
