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
from encoding_models import configuration, layout, palette
from encoding_models.stages import report as report_stage
from workflow_helpers import ROOT, snakemake

LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]


def _tables(html_path):
    return pd.read_html(html_path, flavor="lxml")


def _number(cell):
    """The leading number of a table cell ('0.0123 (45% sig.)' -> 0.0123)."""
    return float(re.match(r"\s*(-?[0-9.]+(?:e-?\d+)?)", str(cell)).group(1))


# ----------------------------------------------------------------- without a workflow run
def _write_tables(tmp_path, significance):
    layer_r2 = pd.DataFrame([{"roi": r, "layer": l, "n_voxels": 10, "n_undefined": 0, "min": -0.1,
                              "median": 0.01 * (i + 1) * (1 if r == "FFA-1" else -1), "max": 0.3}
                             for r in ("FFA-1", "V1") for i, l in enumerate(["Conv1", "Conv5"])])
    counts = pd.DataFrame([{"roi": "FFA-1", "layer": "Conv1", "count": 3, "n_undefined": 1},
                           {"roi": "FFA-1", "layer": "Conv5", "count": 6, "n_undefined": 1},
                           {"roi": "V1", "layer": "Conv1", "count": 8, "n_undefined": 0},
                           {"roi": "V1", "layer": "Conv5", "count": 2, "n_undefined": 0}])
    part = pd.DataFrame([{"roi": r, "pair": "Conv1+Conv5", "layer_a": "Conv1", "layer_b": "Conv5", "n_voxels": 10,
                          "n_undefined": 0, **{f"{k}_{s}": -0.026 if k == "unique_a" else 0.05
                                               for k in layout.PARTITION_KINDS for s in ("median", "min", "max")}}
                         for r in ("FFA-1", "V1")])
    if significance:
        layer_r2["n_significant"] = 4
        layer_r2["fraction_significant"] = 0.4
        for k in layout.PARTITION_KINDS:
            part[f"{k}_fraction_significant"] = 0.25
    paths = [str(tmp_path / f"{t}.tsv") for t in layout.SUMMARY_TABLES]
    for df, p in zip((layer_r2, counts, part), paths):
        df.to_csv(p, sep="\t", index=False)
    return paths


@pytest.mark.parametrize("significance", [False, True])
def test_overview_html_from_tables(tmp_path, significance):
    paths = _write_tables(tmp_path, significance)
    out = str(tmp_path / "overview.html")
    report_stage.overview_page("demo", ["Conv1", "Conv5"], *paths, out, viewer_href="results/demo/viewer/index.html")
    text = open(out, encoding="utf-8").read()
    rois, parts = _tables(out)
    ffa = rois[rois["ROI"] == "FFA-1"].iloc[0]
    assert ffa["voxels"].startswith("10") and "1 undefined" in ffa["voxels"]      # 3 + 6 + 1 undefined
    assert ffa["best layer (share of voxels)"].startswith("Conv5 (60%, 6 voxels)")
    assert _number(ffa["median R2 Conv5"]) == pytest.approx(0.02)
    assert rois[rois["ROI"] == "V1"].iloc[0]["best layer (share of voxels)"].startswith("Conv1 (80%")
    row = parts[parts["ROI"] == "FFA-1"].iloc[0]
    assert _number(row["median unique A"]) == pytest.approx(-0.026) and row["pair A+B"] == "Conv1+Conv5"
    assert ("sig." in text) == significance and ("(40% sig.)" in text) == significance
    assert ("(25% sig.)" in text) == significance
    for layer, colour in palette.layer_colours(["Conv1", "Conv5"]).items():   # layer names in their colours
        assert f'style="color:{colour}">{layer}</span>' in text
    assert "results/demo/viewer/index.html" in text and "http.server" in text
    assert 'id="filter"' in text


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
    rois, parts = _tables(page)
    layer_r2 = pd.read_csv(os.path.join(base, "summary", "layer_r2.tsv"), sep="\t")
    counts = pd.read_csv(os.path.join(base, "summary", "best_layer_counts.tsv"), sep="\t")
    part = pd.read_csv(os.path.join(base, "summary", "partition.tsv"), sep="\t")
    ffa = rois[rois["ROI"] == "FFA-1"].iloc[0]
    c = counts[counts.roi == "FFA-1"]
    n = int(c["count"].sum() + c["n_undefined"].iloc[0])
    assert _number(ffa["voxels"]) == n
    best = c.loc[c["count"].idxmax()]
    assert ffa["best layer (share of voxels)"].startswith(f"{best.layer} ({100 * best['count'] / n:.0f}%")
    for layer in LAYERS:
        expected = layer_r2[(layer_r2.roi == "FFA-1") & (layer_r2.layer == layer)]["median"].iloc[0]
        assert _number(ffa[f"median R2 {layer}"]) == pytest.approx(expected, abs=5e-5)
    row = parts[(parts["ROI"] == "FFA-1") & (parts["pair A+B"] == "Conv1+Conv5")].iloc[0]
    expected = part[(part.roi == "FFA-1") & (part.pair == "Conv1+Conv5")].iloc[0]
    for col, key in (("median unique A", "unique_a_median"), ("median shared", "shared_median"),
                     ("median unique B", "unique_b_median")):
        assert _number(row[col]) == pytest.approx(expected[key], abs=5e-5)
    assert len(parts) == len(part)


@pytest.mark.workflow
def test_provenance_page(demo_run):
    text = open(os.path.join(demo_run, layout.REPORT_PROVENANCE), encoding="utf-8").read()
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert head in text and "tree dirty" in text
    for pkg in ("numpy", "torch", "pycortex", "snakemake", "scipy"):
        assert f">{pkg}<" in text and importlib.metadata.version(pkg) in text
    grid = configuration.lambda_grid({"ridge": {"lambdas": "reference"}})
    assert f"{len(grid)} values: " + ", ".join(f"{x:g}" for x in grid) in text
    splits = pd.read_html(os.path.join(demo_run, layout.REPORT_PROVENANCE), attrs={"id": "splits"})[0]
    sizes = report_stage.split_sizes(os.path.join(demo_run, layout.path(layout.PREPARED, subject="demo")))
    row = splits.iloc[0]
    assert (row["train"], row["holdout"], row["validation"], row["split_seed"]) == (
        sizes["train"], sizes["holdout"], sizes["validation"], 171301)
    assert "pct_holdout: 0.1" in text and "subjects:" in text          # the config as run, YAML


@pytest.mark.workflow
def test_report_builds_with_overview_first(demo_run):
    snakemake(demo_run, "--report", "report_overview.html")
    html = open(os.path.join(demo_run, "report_overview.html"), encoding="utf-8", errors="replace").read()
    assert "0 Overview" in html and "overview.html" in html and "methods_provenance.html" in html
    assert "Start at" in html and "results/demo/viewer/index.html" in html


@pytest.mark.workflow
def test_viewer_renders_in_chromium(demo_run, tmp_path):
    why = browser.missing()
    if why:
        pytest.skip(why)
    viewer = os.path.join(demo_run, layout.path(layout.VIEWER, subject="demo"))
    assert os.path.isfile(os.path.join(viewer, layout.VIEWER_INDEX))
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
        errors = page.console_errors
    harmless = [e for e in errors if "127.0.0.1:6437" in e or "404" in e]
    assert [e for e in errors if e not in harmless] == [], errors
    assert sum("404" in e for e in errors) <= 1, errors
