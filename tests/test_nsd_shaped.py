"""NSD's own path: config/nsd.yaml with only its URLs replaced, served over HTTP on
127.0.0.1, with an NSD-shaped subject: NSD's file names, a `subj01` pycortex database made
from pycortex's S1 with its transform named like NSD's, zipped in both layouts NSD's zip
may have; and the same subject read in place (`source: local`)."""
import functools
import http.server
import os
import shutil
import threading
import urllib.parse
import zipfile

import pytest
import yaml

from encoding_models import layout
from workflow_helpers import ROOT, fitted_models, job_counts, snakemake, stats_jobs

pytestmark = pytest.mark.workflow

XFM = "func1pt8_to_anat0pt8_autoFSbbr"
LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
NSD_NAMES = {"betas": "S1_betas_avg_bigmask.hdf5", "image_info": "S1_image_info.csv",
             "roi_info": "S1_voxel_roi_info.npy", "pycortex_config": "pycortex_config.cfg"}


def nsd_feature_name(layer):
    return f"NSD_S1_ims224pix_{layer}_ReLU_pca100.hdf5"


def _zip(folder, out, prefix):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for root, _, names in os.walk(folder):
            for name in names:
                full = os.path.join(root, name)
                zf.write(full, os.path.join(prefix, os.path.relpath(full, folder)))


@pytest.fixture(scope="module")
def nsd_files(demo_run, tmp_path_factory):
    """NSD-named files of demo subject 1 (the contract's dtypes) and two zips of a `subj01`
    pycortex database: the subject folder at the zip's top, and one level down."""
    import configparser
    import importlib.util
    root = tmp_path_factory.mktemp("nsd_served")
    src = os.path.join(demo_run, "resources", "demo")
    for key, name in NSD_NAMES.items():
        if key != "pycortex_config":
            shutil.copy2(os.path.join(src, layout.INPUT_NAMES[key]), root / name)
    (root / NSD_NAMES["pycortex_config"]).write_text("[basic]\nfilestore = /nowhere/NSD/pycortex_db\n")
    for layer in ("Conv1", "Conv2", "Conv3", "Conv4", "Conv5"):
        shutil.copy2(os.path.join(src, "features", f"{layer}.hdf5"), root / nsd_feature_name(layer))
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(importlib.util.find_spec("cortex").submodule_search_locations[0], "defaults.cfg"))
    subject = tmp_path_factory.mktemp("db") / "subj01"
    shutil.copytree(os.path.join(cfg.get("basic", "filestore"), "S1"), subject,
                    ignore=shutil.ignore_patterns("cache", "retinotopy"))
    os.rename(subject / "transforms" / "fullhead", subject / "transforms" / XFM)
    _zip(subject, root / "pycortex_subj01.zip", "subj01")
    _zip(subject, root / "pycortex_subj01_nested.zip", os.path.join("pycortex_subj01", "subj01"))
    return root


@pytest.fixture(scope="module")
def served(nsd_files):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(nsd_files)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def nsd_config(base, zip_name="pycortex_subj01.zip"):
    """config/nsd.yaml with every URL replaced by the served file of the same name."""
    with open(os.path.join(ROOT, "config", "nsd.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    urls = cfg["subjects"]["subj01"]["urls"]

    def local(url):
        name = os.path.basename(urllib.parse.urlparse(url).path)
        return f"{base}/{zip_name if name == 'pycortex_subj01.zip' else name}"

    for key, url in list(urls.items()):
        urls[key] = {k: local(v) for k, v in url.items()} if key == "features" else local(url)
    return cfg


@pytest.fixture(scope="module")
def nsd_run(served, tmp_path_factory):
    """config/nsd.yaml, URLs replaced, run in full (fits, statistics, every map, the viewer,
    the report pages) and its Snakemake report built, in a folder whose config/config.yaml
    is the demo's (a --configfile must keep the demo out)."""
    tmp = tmp_path_factory.mktemp("nsd_run")
    (tmp / "nsd.yaml").write_text(yaml.safe_dump(nsd_config(served)))
    wd = tmp / "wd"
    os.makedirs(wd / "config")
    shutil.copy(os.path.join(ROOT, "config", "config.yaml"), wd / "config" / "config.yaml")
    dry = snakemake(wd, "-n", "--configfile", str(tmp / "nsd.yaml"))
    snakemake(wd, "-c2", "--configfile", str(tmp / "nsd.yaml"))
    snakemake(wd, "--report", "report.html", "--configfile", str(tmp / "nsd.yaml"))
    return wd, dry.stdout


def test_nsd_yaml_runs_an_nsd_shaped_subject(nsd_run):
    wd, dry = nsd_run
    counts = job_counts(dry)
    assert "demo_subject" not in counts and "demo_anatomy" not in counts and "subject=demo" not in dry
    assert fitted_models(counts, LAYERS) == 15 and counts["download_file"] == 9   # pycortex_config: no rule reads it
    assert stats_jobs(counts) == {layer: 1 for layer in ("Conv1", "Conv2", "Conv3", "Conv4", "Conv5")}
    assert os.path.isdir(wd / "resources" / "pycortex" / "db" / "subj01" / "transforms" / XFM)
    # every map drawn through the NSD-named transform (the maps' cache records which one)
    assert XFM in (wd / layout.path(layout.MAP_CACHE_OK, subject="subj01")).read_text()
    for layer in ("Conv1", "Conv5"):
        assert (wd / layout.path(layout.MAP_R2, subject="subj01", layer=layer)).stat().st_size > 50_000
    assert (wd / layout.path(layout.MAP_BEST_LAYER, subject="subj01")).stat().st_size > 50_000
    answers = (wd / layout.path(layout.REPORT_ANSWERS, subject="subj01")).read_text()
    assert "subj01" in answers and "subj01" in (wd / layout.REPORT_PROVENANCE).read_text()
    report = (wd / "report.html").read_text(errors="replace")
    assert "subj01" in report
    assert not (wd / "resources" / "demo").exists() and not (wd / "results" / "demo").exists()


def test_nsd_zip_with_the_subject_one_level_down(served, tmp_path):
    (tmp_path / "nsd.yaml").write_text(yaml.safe_dump(nsd_config(served, "pycortex_subj01_nested.zip")))
    wd = tmp_path / "wd"
    os.makedirs(wd)
    ready = layout.path(layout.STORE_READY, store="resources/pycortex", subject="subj01")
    snakemake(wd, "-c1", ready, "--configfile", str(tmp_path / "nsd.yaml"))
    db = wd / "resources" / "pycortex" / "db" / "subj01"
    assert (db / "transforms" / XFM / "matrices.xfm").is_file() and (db / "surfaces" / "flat_lh.gii").is_file()


def test_the_nsd_shaped_subject_as_local(nsd_files, tmp_path):
    cfg = nsd_config("unused")
    s = cfg["subjects"]["subj01"]
    s.pop("urls")
    s["source"] = "local"
    s["files"] = {key: str(nsd_files / name) for key, name in NSD_NAMES.items()}
    s["files"]["pycortex_db"] = str(nsd_files / "pycortex_subj01.zip")
    s["files"]["features"] = {layer: str(nsd_files / nsd_feature_name(layer)) for layer in cfg["layers"]}
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(cfg))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in nsd_files.iterdir()}
    wd = tmp_path / "wd"
    os.makedirs(wd)
    dry = snakemake(wd, "-n", "--configfile", str(tmp_path / "local.yaml"))
    assert "download_file" not in job_counts(dry.stdout) and "demo_subject" not in dry.stdout
    # read in place up to its prepared data, its pycortex database installed from the local
    # zip, and a report page; the maps drawn from such a database are nsd_run's (same files;
    # drawing them again here would add a minute to CI)
    prepared = layout.path(layout.PREPARED, subject="subj01")
    ready = layout.path(layout.STORE_READY, store="resources/pycortex", subject="subj01")
    snakemake(wd, "-c2", prepared, ready, layout.REPORT_PROVENANCE, "--configfile", str(tmp_path / "local.yaml"))
    assert (wd / prepared).is_file() and "subj01" in (wd / layout.REPORT_PROVENANCE).read_text()
    db = wd / "resources" / "pycortex" / "db" / "subj01"
    assert (db / "transforms" / XFM / "matrices.xfm").is_file() and (db / "surfaces" / "flat_lh.gii").is_file()
    assert not (wd / "resources" / "subj01").exists()
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in nsd_files.iterdir()} == before
