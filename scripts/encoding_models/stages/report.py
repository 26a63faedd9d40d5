"""Stages of report.smk: the subject's overview page, the methods and provenance page, and the
static pycortex WebGL viewer. The HTML itself is built by ``report_pages`` from tables.
"""
from __future__ import annotations

import datetime
import functools
import importlib.metadata
import logging
import subprocess

import numpy as np

from .. import palette, report_pages
from ..io import atomic_path, read_h5

log = logging.getLogger("encoding_models")

# The packages whose versions change or compute the numbers, by distribution name.
VERSION_PACKAGES = ("numpy", "scipy", "torch", "pycortex", "snakemake", "h5py", "pandas", "matplotlib")


def _write(out_html, text):
    with atomic_path(out_html) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def overview_page(subject, layers, layer_r2_tsv, counts_tsv, partition_tsv, out_html, viewer_href=None):
    """The subject's answers page (``report_pages.overview_html``) from its summary tables."""
    import pandas as pd
    tables = (pd.read_csv(p, sep="\t") for p in (layer_r2_tsv, counts_tsv, partition_tsv))
    _write(out_html, report_pages.overview_html(subject, layers, *tables, viewer_href=viewer_href))


def provenance_page(config, ridge, git, prepared, out_html, versions=None, date=None):
    """The methods and provenance page (``report_pages.provenance_html``); prepared:
    {subject: prepared.h5}."""
    versions = versions or package_versions()
    date = date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    sizes = {subject: split_sizes(path) for subject, path in prepared.items()}
    _write(out_html, report_pages.provenance_html(config, ridge, git, sizes, versions, date))


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
    import h5py
    d = read_h5(prepared_path, ["trn", "holdout", "val", "good_rows", "voxel_index"])
    with h5py.File(prepared_path, "r") as f:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return {"train": int(np.sum(d["trn"])), "holdout": int(np.sum(d["holdout"])), "validation": int(np.sum(d["val"])),
            "images kept": int(np.size(d["good_rows"])), "voxels fitted": int(np.size(d["voxel_index"])),
            "split_seed": attrs.get("split_seed"), "pct_holdout": attrs.get("pct_holdout")}



def viewer(store, pycortex_subject, xfm, roi_info_path, layers, fit_paths, best_layer_path, partition_path,
           r2_colors, partition_colors, out_dir, title="Brain"):
    """A static pycortex WebGL viewer (``cortex.webgl.make_static``) of a subject's results:
    validation R2 of each layer, the best layer (in the palette's layer colours) and the
    unique A / shared / unique B volumes of one pair (``viewer_pair``). out_dir must be
    served over HTTP."""
    from .. import contract, cortex_store, maps
    cortex = cortex_store.import_cortex(store)
    rinfo = contract.load_roi_info(roi_info_path)
    data = {}
    for layer, path in zip(layers, fit_paths):
        res = read_h5(path, ["r2", "voxel_index"])
        data[f"R2 {layer}"] = cortex.Volume(maps.result_volume(res["r2"], res["voxel_index"], rinfo).astype(np.float32),
                                            pycortex_subject, xfm, cmap=r2_colors["cmap"], vmin=r2_colors["vmin"],
                                            vmax=r2_colors["vmax"])
    best = read_h5(best_layer_path, ["best_layer", "voxel_index"])
    idx = np.asarray(best["best_layer"], dtype=float)
    rgb = np.array([palette.hex_to_rgb(c) for c in palette.layer_colours(layers).values()], dtype=float)
    channels = []
    for ch in range(3):
        v = np.where(idx >= 0, rgb[np.clip(idx, 0, None).astype(int), ch], np.nan)
        vol = np.nan_to_num(maps.result_volume(v, best["voxel_index"], rinfo), nan=0).astype(np.uint8)
        channels.append(cortex.Volume(vol, pycortex_subject, xfm, vmin=0, vmax=255))
    defined = ~np.isnan(maps.result_volume(np.where(idx >= 0, 1.0, np.nan), best["voxel_index"], rinfo))
    alpha = cortex.Volume(defined.astype(np.uint8) * 255, pycortex_subject, xfm, vmin=0, vmax=255)
    data["best layer"] = cortex.VolumeRGB(
        *channels, alpha=alpha,
        description="best layer per voxel: " + ", ".join(f"{l} {c}" for l, c in palette.layer_colours(layers).items()))
    if partition_path is not None:
        a, b = report_pages.viewer_pair(layers)
        part = read_h5(partition_path)
        names = {"unique_a": f"unique {a} vs {b}", "shared": f"shared {a} and {b}", "unique_b": f"unique {b} vs {a}"}
        for kind, name in names.items():
            data[name] = cortex.Volume(
                maps.result_volume(part[kind], part["voxel_index"], rinfo).astype(np.float32), pycortex_subject, xfm,
                cmap=partition_colors["cmap"], vmin=partition_colors["vmin"], vmax=partition_colors["vmax"])
    with cortex_store.store_lock(store), atomic_path(out_dir) as tmp:
        cortex.webgl.make_static(tmp, data, title=title)
    log.info("%s: static viewer with %d volumes in %s", pycortex_subject, len(data), out_dir)
