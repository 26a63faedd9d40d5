"""The report's pages (issue 15): overview tables, methods and provenance, the WebGL viewer."""
import importlib.metadata
import os
import re
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

import browser
from encoding_models import configuration, layout, palette, report_pages
from encoding_models.stages import report as report_stage
from workflow_helpers import ROOT, snakemake

LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]


def _tables(html_path):
    return pd.read_html(html_path, flavor="lxml")


def _number(cell):
    """The leading number of a table cell ('0.0123 (45% sig.)' -> 0.0123)."""
    return float(re.match(r"\s*(-?[0-9.]+(?:e-?\d+)?)", str(cell)).group(1))


# ----------------------------------------------------------------- without a workflow run
BOUNDS32 = report_stage.rounding_bounds("float32", 300)


def _fake_tables(significance, tiny=-0.026):
    layer_r2 = pd.DataFrame([{"roi": r, "layer": l, "n_voxels": 10, "n_undefined": 0, "min": -0.1,
                              "median": 0.01 * (i + 1) * (1 if r == "FFA-1" else -1), "max": 0.3}
                             for r in ("FFA-1", "V1", "V1v") for i, l in enumerate(["Conv1", "Conv5"])])
    counts = pd.DataFrame([{"roi": "FFA-1", "layer": "Conv1", "count": 3, "n_undefined": 1},
                           {"roi": "FFA-1", "layer": "Conv5", "count": 6, "n_undefined": 1},
                           {"roi": "V1", "layer": "Conv1", "count": 8, "n_undefined": 0},
                           {"roi": "V1", "layer": "Conv5", "count": 2, "n_undefined": 0},
                           {"roi": "V1v", "layer": "Conv1", "count": 4, "n_undefined": 0},
                           {"roi": "V1v", "layer": "Conv5", "count": 1, "n_undefined": 0}])
    part = pd.DataFrame([{"roi": r, "pair": "Conv1+Conv5", "layer_a": "Conv1", "layer_b": "Conv5", "n_voxels": 10,
                          "n_undefined": 0, **{f"{k}_{s}": (tiny if r == "FFA-1" else 0.01) if k == "unique_a" else
                                               (0.03 if k == "unique_b" and r == "V1" else 0.02)
                                               for k in layout.PARTITION_KINDS for s in ("median", "min", "max")}}
                         for r in ("FFA-1", "V1", "V1v")])
    if significance:      # the columns summaries write (stages/summaries.py)
        counts["n_significant"] = counts["count"] - 1
        layer_r2["n_significant"] = 4
        layer_r2["fraction_significant"] = 0.4
        for k, share in (("unique_a", 0.25), ("unique_b", 0.75)):
            part[f"n_significant_{k}"] = int(10 * share)
            part[f"fraction_significant_{k}"] = share
    return layer_r2, counts, part


@pytest.mark.parametrize("significance", [False, True])
def test_overview_html_from_tables(tmp_path, significance):
    tables = _fake_tables(significance)
    out = tmp_path / "overview.html"
    out.write_text(report_pages.overview_html("demo", ["Conv1", "Conv5"], *tables, BOUNDS32,
                                              viewer_href="results/demo/viewer/index.html"), encoding="utf-8")
    text = out.read_text(encoding="utf-8")
    rois, matrix, pair = _tables(str(out))
    ffa = rois[rois["ROI"] == "FFA-1"].iloc[0]
    assert ffa["voxels"].startswith("10") and "1 undefined" in ffa["voxels"]      # 3 + 6 + 1 undefined
    assert ffa["best layer (share of voxels)"].startswith("Conv5 (60%, 6 voxels" + (", 5 significant)" if significance
                                                                                   else ")"))
    assert _number(ffa["median R2 Conv5"]) == pytest.approx(0.02)
    assert rois[rois["ROI"] == "V1"].iloc[0]["best layer (share of voxels)"].startswith("Conv1 (80%")
    # headers name the layers; the significant share of each unique part beside its median
    row = pair[pair["ROI"] == "FFA-1"].iloc[0]
    assert _number(row["median unique Conv1 beyond Conv5"]) == pytest.approx(-0.026)
    assert list(pair.columns[2:]) == ["median unique Conv1 beyond Conv5", "median shared by Conv1 and Conv5",
                                      "median unique Conv5 beyond Conv1", "median R2(Conv1+Conv5)"]
    assert ("25% sig." in str(row["median unique Conv1 beyond Conv5"])) == significance
    assert ("75% sig." in str(row["median unique Conv5 beyond Conv1"])) == significance
    assert "sig." not in str(row["median shared by Conv1 and Conv5"])
    assert ("(40% sig.)" in text) == significance
    # the largest part per ROI and pair: V1's unique Conv5 (0.03), FFA-1's shared (0.02)
    assert matrix.set_index("ROI").loc["V1", "Conv1 + Conv5"] == "Conv5 0.030"
    assert matrix.set_index("ROI").loc["FFA-1", "Conv1 + Conv5"] == "shared 0.020"
    # a median at rounding level counts as 0: larger than negative ones
    rec = {"unique_a_median": -2.6e-4, "shared_median": -1.6e-4, "unique_b_median": 2.4e-9}
    assert report_pages.largest_component(rec, BOUNDS32) == "unique_b"
    assert report_pages.largest_component({**rec, "unique_a_median": 1e-9, "shared_median": -1e-9}, BOUNDS32) is None
    for layer, colour in palette.layer_colours(["Conv1", "Conv5"]).items():   # layer names in their colours
        assert f'style="color:{colour}">{layer}</span>' in text
    assert "results/demo/viewer/index.html" in text and "http.server" in text
    assert "em-roi-filter" in text and "<script" not in text      # inline handlers only (the report's first page)


def test_rounding_level_values_print_as_zero():
    """Medians of 2.4e-09 and 1.4e-08 (pairs whose models agree to rounding) once printed as results."""
    b32, b64 = BOUNDS32, report_stage.rounding_bounds("float64", 300)
    assert b32["unique_a"] == pytest.approx(4 * 2.0 ** -24 * 2) and b32["shared"] == pytest.approx(4 * 2.0 ** -24 * 3)
    assert b64["unique_a"] == pytest.approx(4 * 300 * 2.0 ** -52 * 2)       # the bootstrap's bound (stats.py)
    from encoding_models import comparisons, stats
    assert comparisons.ROUNDING_FACTOR == stats.ROUNDING_FACTOR
    for tiny in (2.4e-09, -1.4e-08):
        html = report_pages.answers_html("demo", ["Conv1", "Conv5"], *_fake_tables(False, tiny=tiny), b32)
        cell = re.search(r'<tr data-roi="FFA-1"><td[^>]*>FFA-1</td><td data-v="10">10</td><td data-v="(.*?)">(.*?)</td>',
                         html.split("em-pair-table")[1])
        assert cell.group(1) == "0" and ">~0</span>" in cell.group(2) and f"{tiny:.2e}" in cell.group(2)
        assert f"{tiny:.1e}" not in html.replace(f"{tiny:.2e}", "")            # shown nowhere as a result
        # float64 inputs resolve it: printed as a number
        html64 = report_pages.answers_html("demo", ["Conv1", "Conv5"], *_fake_tables(False, tiny=tiny), b64)
        assert f"{tiny:.1e}" in html64
    assert report_pages._num(b32["unique_a"] * 1.01, bound=b32["unique_a"]) != "~0"
    assert comparisons.zero_rounding(np.array([2.4e-9, -1e-3, np.nan]), b32["unique_a"]).tolist()[:2] == [0.0, -1e-3]


def test_roi_bars_draw_rounding_level_medians_as_zero(tmp_path, monkeypatch):
    from encoding_models import roi_figure
    from encoding_models.io import write_h5
    from encoding_models.stages import maps as map_stage
    drawn = {}
    real = roi_figure.partition_bars
    monkeypatch.setattr(roi_figure, "partition_bars", lambda df, *a, **k: drawn.update(df=df.copy()) or real(df, *a, **k))
    layer_r2, counts, part = _fake_tables(False, tiny=2.4e-9)
    prepared = tmp_path / "prepared.h5"
    write_h5(str(prepared), {"val": np.ones(300, bool)})
    part.to_csv(tmp_path / "partition.tsv", sep="\t", index=False)
    counts.to_csv(tmp_path / "counts.tsv", sep="\t", index=False)
    map_stage.roi_figures(str(tmp_path / "partition.tsv"), str(tmp_path / "counts.tsv"), ["Conv1", "Conv5"], "demo",
                          str(tmp_path / "p.png"), str(tmp_path / "b.png"), prepared=str(prepared))
    assert drawn["df"]["unique_a_median"].tolist() == [0.0, 0.01, 0.01]     # FFA-1's 2.4e-9 drawn as 0
    assert drawn["df"]["unique_b_median"].tolist() == [0.02, 0.03, 0.02]


def test_git_state_and_versions_without_importing():
    import sys
    state = report_stage.git_state(ROOT)
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert state["commit"] == head and state["dirty"] in (True, False)
    before = "torch" in sys.modules, "cortex" in sys.modules
    versions = report_stage.package_versions()
    assert versions["numpy"] == np.__version__ and set(versions) >= {"torch", "pycortex", "snakemake", "scipy"}
    assert ("torch" in sys.modules, "cortex" in sys.modules) == before


# ----------------------------------------------------------------- on the demo run
@pytest.mark.workflow
def test_overview_page_matches_the_tables(demo_run):
    base = os.path.join(demo_run, "results", "demo")
    page = os.path.join(demo_run, layout.path(layout.REPORT_OVERVIEW, subject="demo"))
    rois, matrix, *pairs = _tables(page)
    layer_r2 = pd.read_csv(os.path.join(base, "summary", "layer_r2.tsv"), sep="\t")
    counts = pd.read_csv(os.path.join(base, "summary", "best_layer_counts.tsv"), sep="\t")
    part = pd.read_csv(os.path.join(base, "summary", "partition.tsv"), sep="\t")
    ffa = rois[rois["ROI"] == "FFA-1"].iloc[0]
    c = counts[counts.roi == "FFA-1"]
    n = int(c["count"].sum() + c["n_undefined"].iloc[0])
    assert _number(ffa["voxels"]) == n
    best = c.loc[c["count"].idxmax()]
    assert ffa["best layer (share of voxels)"].startswith(f"{best.layer} ({100 * best['count'] / n:.0f}%")
    assert f"{best['count']} voxels, {best['n_significant']} significant)" in ffa["best layer (share of voxels)"]
    # the page's link to the WebGL viewer resolves from the page's own folder
    hrefs = re.findall(r'href="([^"]*viewer[^"]*)"', open(page, encoding="utf-8").read())
    assert hrefs and all(os.path.isfile(os.path.join(os.path.dirname(page), h)) for h in hrefs), hrefs
    for layer in LAYERS:
        rec = layer_r2[(layer_r2.roi == "FFA-1") & (layer_r2.layer == layer)].iloc[0]
        assert _number(ffa[f"median R2 {layer}"]) == pytest.approx(rec["median"], abs=5e-5)
        assert f"({100 * rec['fraction_significant']:.0f}% sig.)" in ffa[f"median R2 {layer}"]
    # every pair's table: medians and the significant shares of unique A and B as partition.tsv has them
    assert len(pairs) == part["pair"].nunique() == 10
    bounds = report_stage.rounding_bounds("float32", report_stage.split_sizes(
        os.path.join(demo_run, layout.path(layout.PREPARED, subject="demo")))["validation"])
    checked = 0
    for table in pairs:
        cols = list(table.columns)
        a, b = re.match(r"median unique (\S+) beyond (\S+)", cols[2]).groups()
        assert cols[2:] == [f"median unique {a} beyond {b}", f"median shared by {a} and {b}",
                            f"median unique {b} beyond {a}", f"median R2({a}+{b})"]
        expected = part[part.pair == f"{a}+{b}"].set_index("roi")
        assert len(table) == len(expected)
        for _, row in table.iterrows():
            e = expected.loc[row["ROI"]]
            for col, key, sig in ((cols[2], "unique_a", "fraction_significant_unique_a"), (cols[3], "shared", None),
                                  (cols[4], "unique_b", "fraction_significant_unique_b")):
                cell = str(row[col])
                if abs(e[f"{key}_median"]) <= bounds[key]:
                    assert cell.startswith("~0"), (row["ROI"], col, cell)
                else:
                    assert _number(cell) == pytest.approx(e[f"{key}_median"], abs=5e-5, rel=0.06)
                if sig:
                    assert f"({100 * e[sig]:.0f}% sig.)" in cell, (row["ROI"], col, cell)
                    checked += 1
    assert checked == 2 * len(part)
    assert part.filter(like="fraction_significant_unique").to_numpy().max() > 0    # the shares are not all 0


@pytest.mark.workflow
def test_provenance_page(demo_run):
    import h5py
    path = os.path.join(demo_run, layout.REPORT_PROVENANCE)
    text = open(path, encoding="utf-8").read()
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert head in text and "tree dirty" in text
    for pkg in ("numpy", "torch", "pycortex", "snakemake", "scipy"):
        assert f">{pkg}<" in text and importlib.metadata.version(pkg) in text
    grid = configuration.lambda_grid({"ridge": {"lambdas": "reference"}})
    assert f"{len(grid)} values: " + ", ".join(f"{x:g}" for x in grid) in text
    splits = pd.read_html(path, attrs={"id": "splits"})[0]
    sizes = report_stage.split_sizes(os.path.join(demo_run, layout.path(layout.PREPARED, subject="demo")))
    row = splits.iloc[0]
    assert (row["train"], row["holdout"], row["validation"], row["split_seed"]) == (
        sizes["train"], sizes["holdout"], sizes["validation"], 171301)
    assert "pct_holdout: 0.1" in text and "subjects:" in text          # the config as run, YAML
    # every setting that changes a number: statistics, joint models, the maps' mask
    settings = dict(pd.read_html(path, attrs={"class": "settings"})[0].itertuples(index=False))
    for key in ("stats.enabled", "stats.permutations", "stats.bootstrap", "stats.fdr_q", "stats.seed", "ridge.joint",
                "maps.mask"):
        assert key in settings, key
    assert settings["ridge.joint"].startswith("concatenated") and settings["maps.mask"].startswith("fdr")
    # the permutations used where more were asked for (the cyclic shifts of the validation images)
    with h5py.File(os.path.join(demo_run, layout.path(layout.STATS_MODEL, subject="demo", model="Conv1")), "r") as f:
        used, asked = int(f.attrs["n_permutations"]), int(f.attrs["n_permutations_requested"])
    assert used == sizes["validation"] - 1 < asked == 1000
    perm = pd.read_html(path, attrs={"id": "permutations"})[0].iloc[0]
    assert (perm["permutations requested"], perm["permutations used"]) == (asked, used)
    assert f"{asked} asked, {used} used" in perm["note"]
    # why the grid starts below 0
    assert 'id="negative-lambdas"' in text and "1e-4 - 0.01 = -0.0099" in text
    # the chosen lambdas per model: counts per grid value summing to the fitted voxels
    lam = pd.read_html(path, attrs={"class": "lambdas"})[0]
    assert list(lam.columns[2:]) == layout.models(LAYERS)
    counts = lam.iloc[:-1]
    assert len(counts) == len(grid)
    for model in layout.models(LAYERS):
        with h5py.File(os.path.join(demo_run, layout.path(layout.FIT, subject="demo", model=model)), "r") as f:
            idx = f["best_lambda_index"][()]
        expected = np.bincount(idx, minlength=len(grid))
        assert counts[model].fillna(0).astype(int).tolist() == expected.tolist(), model
        assert int(lam.iloc[-1][model]) == sizes["voxels fitted"]


@pytest.mark.workflow
def test_report_builds_with_the_answers_first(demo_run):
    snakemake(demo_run, "--report", "report_overview.html")
    html = open(os.path.join(demo_run, "report_overview.html"), encoding="utf-8", errors="replace").read()
    assert "0 Overview" in html and "overview.html" in html and "methods_provenance.html" in html
    desc = re.search(r'var workflow_desc = (".*?");\n', html, re.S).group(1)
    assert "em-answers" in desc and "FFA-1" in desc and "results/demo/viewer/index.html" in desc


@pytest.mark.workflow
def test_report_first_page_shows_the_answers_in_chromium(demo_run, tmp_path):
    """The report opens on the answers: the ROI table with FFA-1's row as text, no click needed;
    the filter is exact (V1 shows V1, not V1v or V1d); a click on a header sorts."""
    why = browser.missing()
    if why:
        pytest.skip(why)
    snakemake(demo_run, "--report", "report.html")
    layer_r2 = pd.read_csv(os.path.join(demo_run, "results", "demo", "summary", "layer_r2.tsv"), sep="\t")
    shot = os.environ.get("REPORT_FIRST_PAGE_PNG") or str(tmp_path / "first_page.png")
    with browser.serve(demo_run) as url, browser.browser_page(1400, 1000) as page:
        page.goto(url + "report.html")
        section = page.locator("section.em-answers")
        section.wait_for(state="visible", timeout=30000)
        row = section.locator("table.em-roi-table tr[data-roi='FFA-1']")
        assert row.is_visible()
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == "FFA-1"
        for k, layer in enumerate(LAYERS):
            median = layer_r2[(layer_r2.roi == "FFA-1") & (layer_r2.layer == layer)]["median"].iloc[0]
            assert _number(cells[3 + k]) == pytest.approx(median, abs=5e-5), (layer, cells[3 + k])
        page.screenshot(path=shot)
        box = row.bounding_box()
        assert box and box["y"] + box["height"] <= 1000         # in the first screen: no click, no scroll
        visible = lambda: [r.get_attribute("data-roi") for r in section.locator("table.em-roi-table tbody tr").all()  # noqa: E731
                           if r.is_visible()]
        section.locator("input.em-roi-filter").fill("V1")
        page.wait_for_timeout(300)
        assert visible() == ["V1"]
        section.locator("input.em-roi-filter").fill("")
        page.wait_for_timeout(300)
        section.locator("table.em-roi-table th", has_text="median R2 Conv5").click()
        page.wait_for_timeout(300)
        values = [float(v) for v in section.locator("table.em-roi-table tbody tr td:nth-child(8)").evaluate_all(
            "cells => cells.map(c => c.getAttribute('data-v'))") if v]
        assert values == sorted(values, reverse=True) and len(values) > 5
        section.locator("select.em-pair-select").select_option("Conv2+Conv4")
        page.wait_for_timeout(300)
        shown = [d.get_attribute("data-pair") for d in section.locator("div.em-pair").all() if d.is_visible()]
        assert shown == ["Conv2+Conv4"]
        errors = page.console_errors
    # the page asks for a favicon the report does not have: one 404, nothing else
    assert [e for e in errors if "404" not in e] == [] and len(errors) <= 1, errors


@pytest.mark.workflow
def test_viewer_renders_in_chromium(demo_run, tmp_path):
    why = browser.missing()
    if why:
        pytest.skip(why)
    viewer = os.path.join(demo_run, layout.path(layout.VIEWER, subject="demo"))
    assert os.path.isfile(os.path.join(viewer, layout.VIEWER_INDEX))
    index = open(os.path.join(viewer, layout.VIEWER_INDEX), encoding="utf-8").read()
    # every pair's volumes (once only Conv1+Conv5), named with what they show, unit and range
    for a, b in layout.pairs(LAYERS):
        for name in (f"unique {a} beyond {b} (R2, ", f"shared by {a} and {b} (R2, ", f"unique {b} beyond {a} (R2, "):
            assert name in index, name
    for layer in LAYERS:
        assert f"R2 {layer} (fraction of variance, " in index
    shot = str(tmp_path / "viewer.png")
    with browser.serve(viewer) as url, browser.browser_page() as page:
        page.goto(url + layout.VIEWER_INDEX)
        deadline, fraction = time.time() + 150, 0.0
        while time.time() < deadline:
            page.wait_for_timeout(5000)
            canvas = page.locator("canvas").first
            if canvas.count():
                canvas.screenshot(path=shot)
                ok, fraction = browser.canvas_pixels_nonblank(shot)
                if ok:
                    break
        assert fraction >= 0.02, f"the brain did not render: {fraction:.3%} non-background canvas pixels ({shot})"
        page.wait_for_timeout(2000)
        legend = page.locator("#em-legend")
        assert legend.is_visible()
        text = legend.inner_text()
        for layer in LAYERS:                                          # the best layer's colours by name
            assert layer in text
        assert "fraction of variance" in text and "R2 units" in text  # the colour bars' units
        errors = page.console_errors
    harmless = [e for e in errors if "127.0.0.1:6437" in e or "404" in e]
    assert [e for e in errors if e not in harmless] == [], errors
    assert sum("404" in e for e in errors) <= 1, errors
