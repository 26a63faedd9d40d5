"""Stages of report.smk: the subject's overview page, the methods and provenance page, and the
static pycortex WebGL viewer. The HTML itself is built by ``report_pages`` from tables.
"""
from __future__ import annotations

import datetime
import functools
import importlib.metadata
import logging
import os
import subprocess

import numpy as np

from .. import comparisons, palette, report_pages
from ..io import atomic_path, read_h5

log = logging.getLogger("encoding_models")

# The packages whose versions change or compute the numbers, by distribution name.
VERSION_PACKAGES = ("numpy", "scipy", "torch", "pycortex", "snakemake", "h5py", "pandas", "matplotlib")


def _write(out_html, text):
    with atomic_path(out_html) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def rounding_bounds(precision, n_val) -> dict:
    """The rounding bound (``comparisons.rounding_bound``) of each summarised value: a
    layer's R2, a joint R2, unique and shared variance."""
    return {k: comparisons.rounding_bound(precision, n_val, c) for k, c in comparisons.COEF_ABS_SUM.items()}


def overview_page(subject, layers, layer_r2_tsv, counts_tsv, partition_tsv, prepared, precision, out_html,
                  out_answers, viewer_href=None):
    """The subject's answers: a page of its own (``report_pages.overview_html``) and the
    HTML fragment that the report's first page includes (``report_pages.answers_html``),
    from its summary tables; values within the rounding bound of ``precision`` (the
    inputs' precision) and the validation images of prepared.h5 are shown as ~0.
    viewer_href: the viewer's page relative to the workflow folder (where report.html is);
    the page of its own links to it relative to its own folder."""
    import pandas as pd
    tables = [pd.read_csv(p, sep="\t") for p in (layer_r2_tsv, counts_tsv, partition_tsv)]
    bounds = rounding_bounds(precision, split_sizes(prepared)["validation"])
    link = None if viewer_href is None else os.path.relpath(viewer_href, os.path.dirname(os.path.abspath(out_html)))
    _write(out_html, report_pages.overview_html(subject, layers, *tables, bounds, viewer_href=viewer_href,
                                                viewer_link=link))
    _write(out_answers, report_pages.answers_html(subject, layers, *tables, bounds, viewer_href=viewer_href))


def provenance_page(config, ridge, git, prepared, out_html, versions=None, date=None, fits=None, stats=None,
                    features=None):
    """The methods and provenance page (``report_pages.provenance_html``); prepared:
    {subject: prepared.h5}; fits: {subject: {model: fit.h5}} (the chosen lambdas per model);
    stats: {subject: [statistics files]} whose attrs say the permutations and bootstrap
    samples used (a model's and, with pairs, a pair's), or None with statistics off;
    features: {(subject, layer): features file} of the layers extracted from images (how
    each was made is read from its attributes)."""
    from .features import feature_attrs
    versions = versions or package_versions()
    date = date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    sizes = {subject: split_sizes(path) for subject, path in prepared.items()}
    n_grid = len(ridge["lambdas"])
    counts = {subject: {model: lambda_counts(path, n_grid) for model, path in by_model.items()}
              for subject, by_model in (fits or {}).items()}
    attrs = None
    if stats:
        attrs = {}
        for subject, paths in stats.items():
            attrs[subject] = {}
            for path in paths:
                attrs[subject].update(h5_attrs(path))
    # the tables' rounding bounds, at the first subject's validation images (stated per bound)
    bounds = rounding_bounds(ridge["precision"], next(iter(sizes.values()))["validation"]) if sizes else None
    features = {key: feature_attrs(path) for key, path in (features or {}).items()}
    _write(out_html, report_pages.provenance_html(config, ridge, git, sizes, versions, date, stats_attrs=attrs,
                                                  lambda_counts=counts, bounds=bounds, features=features))


def lambda_counts(fit_path, n_grid) -> np.ndarray:
    """Voxels per lambda index of the grid (a fit's best_lambda_index)."""
    idx = np.asarray(read_h5(fit_path, ["best_lambda_index"])["best_lambda_index"]).astype(int).ravel()
    return np.bincount(idx[idx >= 0], minlength=n_grid)[:n_grid]


def h5_attrs(path) -> dict:
    import h5py
    with h5py.File(path, "r") as f:
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}


@functools.lru_cache(maxsize=None)
def git_state(repo_dir) -> dict:
    """{'commit': hash or 'unknown', 'dirty': True/False/None} of the workflow's checkout
    (dirty: tracked files differ from the commit; untracked files are not counted)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": "unknown (not a git checkout)", "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown (git not available)", "dirty": None}


def package_versions(packages=VERSION_PACKAGES) -> dict:
    """{distribution: version or 'not installed'}, without importing the packages."""
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def split_sizes(prepared_path) -> dict:
    """Images in each split and fitted voxels of one subject, from its prepared.h5."""
    d = read_h5(prepared_path, ["trn", "holdout", "val", "good_rows", "voxel_index"])
    attrs = h5_attrs(prepared_path)
    return {"train": int(np.sum(d["trn"])), "holdout": int(np.sum(d["holdout"])), "validation": int(np.sum(d["val"])),
            "images kept": int(np.size(d["good_rows"])), "voxels fitted": int(np.size(d["voxel_index"])),
            "split_seed": attrs.get("split_seed"), "pct_holdout": attrs.get("pct_holdout")}



def viewer(store, pycortex_subject, xfm, roi_info_path, layers, fit_paths, best_layer_path, partition_paths,
           r2_colors, partition_colors, out_dir, title="Brain"):
    """A static pycortex WebGL viewer (``cortex.webgl.make_static``) of a subject's results:
    validation R2 of each layer, the best layer (in the palette's layer colours) and the
    unique / shared volumes of every pair (partition_paths: {(a, b): partition.h5}). Each
    volume's name says what it shows, its unit and its colour range; index.html gets a
    legend (``report_pages.viewer_legend_html``): the layer colours by name, and per kind
    of volume its colour map, range and unit. out_dir must be served over HTTP."""
    from .. import contract, cortex_store, maps
    cortex = cortex_store.import_cortex(store)
    rinfo = contract.load_roi_info(roi_info_path)
    data = {}
    r2_range = f"{r2_colors['vmin']:g} to {r2_colors['vmax']:g}"
    for layer, path in zip(layers, fit_paths):
        res = read_h5(path, ["r2", "voxel_index"])
        data[f"R2 {layer} (fraction of variance, {r2_range})"] = cortex.Volume(
            maps.result_volume(res["r2"], res["voxel_index"], rinfo).astype(np.float32), pycortex_subject, xfm,
            cmap=r2_colors["cmap"], vmin=r2_colors["vmin"], vmax=r2_colors["vmax"],
            description=f"validation R2 of {layer} (fraction of variance), colour scale {r2_range}")
    best = read_h5(best_layer_path, ["best_layer", "voxel_index"])
    idx = np.asarray(best["best_layer"], dtype=float)
    colours = palette.layer_colours(layers)
    rgb = np.array([palette.hex_to_rgb(c) for c in colours.values()], dtype=float)
    channels = []
    for ch in range(3):
        v = np.where(idx >= 0, rgb[np.clip(idx, 0, None).astype(int), ch], np.nan)
        vol = np.nan_to_num(maps.result_volume(v, best["voxel_index"], rinfo), nan=0).astype(np.uint8)
        channels.append(cortex.Volume(vol, pycortex_subject, xfm, vmin=0, vmax=255))
    defined = ~np.isnan(maps.result_volume(np.where(idx >= 0, 1.0, np.nan), best["voxel_index"], rinfo))
    alpha = cortex.Volume(defined.astype(np.uint8) * 255, pycortex_subject, xfm, vmin=0, vmax=255)
    data["best layer (colours: see the legend)"] = cortex.VolumeRGB(
        *channels, alpha=alpha,
        description="best layer per voxel: " + ", ".join(f"{l} {c}" for l, c in colours.items()))
    p_range = f"{partition_colors['vmin']:g} to {partition_colors['vmax']:g}"
    for (a, b), path in partition_paths.items():
        part = read_h5(path)
        names = {"unique_a": f"unique {a} beyond {b}", "shared": f"shared by {a} and {b}",
                 "unique_b": f"unique {b} beyond {a}"}
        for kind, name in names.items():
            data[f"{name} (R2, {p_range})"] = cortex.Volume(
                maps.result_volume(part[kind], part["voxel_index"], rinfo).astype(np.float32), pycortex_subject, xfm,
                cmap=partition_colors["cmap"], vmin=partition_colors["vmin"], vmax=partition_colors["vmax"],
                description=f"{name} (R2 units, fraction of variance), colour scale {p_range}")
    legend = report_pages.viewer_legend_html(layers, r2_colors, partition_colors, [tuple(p) for p in partition_paths])
    with cortex_store.store_lock(store), atomic_path(out_dir) as tmp:
        cortex.webgl.make_static(tmp, data, title=title)
        add_viewer_legend(os.path.join(tmp, "index.html"), legend)
    log.info("%s: static viewer with %d volumes in %s", pycortex_subject, len(data), out_dir)


def add_viewer_legend(index_html, legend_html):
    """Insert the legend (an HTML fragment) into the viewer's index page: before </body>,
    else before </html>, else at the end (pycortex's static page may end without them)."""
    import re
    with open(index_html, encoding="utf-8") as fh:
        text = fh.read()
    for tag in (r"</body\s*>", r"</html\s*>"):
        found = list(re.finditer(tag, text, flags=re.IGNORECASE))
        if found:
            k = found[-1].start()
            text = text[:k] + legend_html + text[k:]
            break
    else:
        text += legend_html
    with open(index_html, "w", encoding="utf-8") as fh:
        fh.write(text)
