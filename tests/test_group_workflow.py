"""End-to-end: the group demo (best layer vs the generator, the Noise layer, rerun scope,
common validation images), a config file naming its subjects, and local subjects read
in place (never touched by runs, --forceall, code updates, --delete-all-output)."""
import hashlib
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from encoding_models import demo, group, layout
from encoding_models.io import read_h5
from workflow_helpers import ROOT, fitted_models, job_counts, snakemake

pytestmark = pytest.mark.workflow

# Layers whose ROIs the generator prefers (demo.ROI_PREFERENCE indexes Conv1..Conv5),
# and the ROIs that prefer one of them.
LAYERS = ["Conv1", "Conv2", "Conv5", "Noise"]
GENERATED = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
ROIS = ["V1", "V1v", "V1d", "V2v", "V2d", "V3d", "FFA-1", "FFA-2", "PPA", "RSC"]
# Six subjects: the exact test's smallest p is 1/64, so that a table of 40 tests can reach
# q <= 0.05 (with five, 1/32 needs 20 of 32 rows at that p).
SUBJECTS = ["demo1", "demo2", "demo3", "demo4", "demo5", "demo6"]


def group_config(store, subjects=SUBJECTS, **extra):
    """config/demo_group.yaml, smaller: four layers, ten ROIs, fewer images and features."""
    with open(os.path.join(ROOT, "config", "demo_group.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    every = dict(cfg["subjects"])
    every["demo7"] = {**every["demo6"], "split_seed": 552211, "demo": {**every["demo6"]["demo"], "seed": 17}}
    cfg["subjects"] = {s: every[s] for s in subjects}
    for s in cfg["subjects"].values():
        s["demo"].update(n_images=500, n_shared=100, n_features=20, n_voxels=3500)
    cfg.update(layers=LAYERS, rois=ROIS, merged_rois={"V1": ["V1v", "V1d"]}, pycortex_store=str(store))
    cfg["split"] = {"validation": "shared1000"}
    cfg.update(extra)
    return cfg


def write_yaml(path, cfg):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)


def run_subjects(output):
    """The subjects named by the wildcards of the jobs a (dry) run lists."""
    return set(re.findall(r"wildcards: (?:.*?, )?subject=([A-Za-z0-9_-]+)", output))


@pytest.fixture(scope="session")
def group_run(tmp_path_factory, store):
    wd = tmp_path_factory.mktemp("group_run")
    write_yaml(os.path.join(wd, "config", "config.yaml"), group_config(store))
    snakemake(wd, "-c2", timeout=3600)      # about 200 small jobs
    return wd


def tsv(wd, table):
    return pd.read_csv(os.path.join(wd, layout.path(layout.GROUP_SUMMARY, table=table)), sep="\t")


# ----------------------------------------------------------------- the group demo
def test_group_best_layer_is_the_generators_preference(group_run):
    best = tsv(group_run, "best_layer").set_index("roi")
    expected = {roi: GENERATED[demo.ROI_PREFERENCE["V1v" if roi == "V1" else roi]] for roi in ROIS}
    assert {roi: best.loc[roi, "group"] for roi in ROIS} == expected
    assert (best["fraction_agreeing"] >= 0.6).all()


def test_noise_unique_variance_is_significant_nowhere_and_signal_is(group_run):
    part = tsv(group_run, "partition")
    noise = part[((part["layer_b"] == "Noise") & (part["component"] == "unique_b"))
                 | ((part["layer_a"] == "Noise") & (part["component"] == "unique_a"))]
    assert len(noise) == len(ROIS) * 3 and (noise["q"] > 0.05).all()
    assert (noise["p"] > 0.5).all()
    r2 = tsv(group_run, "layer_r2").set_index(["roi", "layer"])
    preferred = [(roi, GENERATED[demo.ROI_PREFERENCE["V1v" if roi == "V1" else roi]]) for roi in ROIS]
    assert (r2.loc[preferred, "p"] == 1 / 2 ** len(SUBJECTS)).all()       # every subject's median R2 > 0
    assert (r2.loc[preferred, "q"] <= 0.05).all(), r2.loc[preferred, ["mean", "p", "q"]]


def test_group_tables_are_the_subjects_numbers(group_run):
    r2 = tsv(group_run, "layer_r2")
    values = []
    for s in SUBJECTS:
        own = pd.read_csv(os.path.join(group_run, "results", s, "summary", "layer_r2.tsv"), sep="\t")
        merged = r2.merge(own, on=["roi", "layer"])
        assert len(merged) == len(r2) == len(ROIS) * len(LAYERS)
        assert np.array_equal(merged[s].to_numpy(), merged["median"].to_numpy())
        values.append(merged[s].to_numpy())
    values = np.array(values)
    np.testing.assert_allclose(r2["mean"], values.mean(0), rtol=1e-9)
    np.testing.assert_allclose(r2["sem"], values.std(0, ddof=1) / np.sqrt(len(SUBJECTS)), rtol=1e-9)
    p, _ = group.sign_flip_p(values)
    np.testing.assert_allclose(r2["p"], p, rtol=1e-9)
    assert (r2["n_subjects"] == len(SUBJECTS)).all() and (r2["n_flips"] == 2 ** len(SUBJECTS)).all()
    assert "mean_r2_over_nc" in r2.columns           # summary.noise_ceiling_threshold is set
    val = tsv(group_run, "validation").set_index("subject")
    for s in SUBJECTS:
        prep = read_h5(os.path.join(group_run, "results", s, "prepared.h5"), ["val"])
        assert val.loc[s, "n_val"] == prep["val"].sum() and val.loc[s, "n_val_dropped"] == 0
    page = open(os.path.join(group_run, layout.GROUP_REPORT)).read()
    assert "Validation images per subject" in page and all(s in page for s in SUBJECTS)
    for png in layout.GROUP_FIGURES.values():
        assert os.path.getsize(os.path.join(group_run, png)) > 10_000


def test_adding_a_subject_reruns_its_jobs_and_the_group_only(group_run, tmp_path):
    with open(os.path.join(group_run, "config", "config.yaml")) as fh:
        cfg = group_config(yaml.safe_load(fh)["pycortex_store"], subjects=SUBJECTS + ["demo7"])
    extra = tmp_path / "six.yaml"
    write_yaml(str(extra), cfg)
    res = snakemake(group_run, "-n", "--configfile", str(extra))
    out = res.stdout + res.stderr
    assert run_subjects(out) == {"demo7"}
    counts = job_counts(res.stdout)
    assert counts["group"] == 1 and counts["prepare"] == 1 and fitted_models(counts, LAYERS) == len(LAYERS) + 6
    without_subject = {rule for rule, subject, _, _ in dry_run_jobs(res.stdout) if not subject}
    assert without_subject == {"group", "report_provenance", "all"}, without_subject


def test_a_config_file_names_exactly_its_subjects(group_run, tmp_path):
    """The work folder's config/config.yaml lists five subjects; a --configfile with two runs two."""
    cfg = group_config(tmp_path, subjects=["demo1", "demo2"])
    write_yaml(str(tmp_path / "two.yaml"), cfg)
    res = snakemake(group_run, "-n", "--configfile", str(tmp_path / "two.yaml"), "--forceall")
    assert run_subjects(res.stdout + res.stderr) == {"demo1", "demo2"}


def test_a_group_of_demo_and_real_subjects_is_refused(tmp_path):
    cfg = group_config(tmp_path, subjects=["demo1"])
    cfg["subjects"]["lab1"] = {"source": "download", "split_seed": 1, "urls": {
        "betas": "http://127.0.0.1:9/b.hdf5", "image_info": "http://127.0.0.1:9/i.csv",
        "roi_info": "http://127.0.0.1:9/r.npy",
        "features": {layer: f"http://127.0.0.1:9/{layer}.hdf5" for layer in LAYERS}}}
    write_yaml(str(tmp_path / "config" / "config.yaml"), cfg)
    res = snakemake(tmp_path, "-n", check=False)
    assert res.returncode != 0 and "would pool demo (synthetic) subjects ['demo1']" in res.stderr + res.stdout


# ----------------------------------------------------------------- local subjects, read in place
def fingerprint(paths):
    return {p: (hashlib.sha256(open(p, "rb").read()).hexdigest(), os.stat(p).st_mtime_ns) for p in paths}


@pytest.fixture(scope="module")
def lab_storage(small_subject, tmp_path_factory):
    """A small synthetic subject (conftest's, no pycortex needed) written to 'shared storage'
    under other names, as a lab would hold NSD's files."""
    root = tmp_path_factory.mktemp("storage")
    names = {"betas": "S1_betas_avg_bigmask.hdf5", "image_info": "S1_image_info.csv",
             "roi_info": "S1_voxel_roi_info.npy"}
    files = {key: str(root / name) for key, name in names.items()}
    files["features"] = {layer: str(root / f"S1_{layer}.hdf5") for layer in ("Conv1", "Conv2")}
    demo.write_subject(files, small_subject, str(tmp_path_factory.mktemp("truth") / "gt.h5"))
    return root, files


def local_config(cfg_dir, files, store, **subject_extra):
    """A config with one local subject whose paths are relative to the config file's folder."""
    rel = {k: os.path.relpath(v, cfg_dir) for k, v in files.items() if k != "features"}
    rel["features"] = {layer: os.path.relpath(v, cfg_dir) for layer, v in files["features"].items()}
    return {"subjects": {"lab1": {"source": "local", "split_seed": 171301, "files": rel, **subject_extra}},
            "layers": ["Conv1", "Conv2"], "rois": ["V1v", "FFA-1"], "pycortex_store": str(store),
            "maps": {"enabled": False}, "stats": {"enabled": False}}


def test_local_files_are_read_in_place_and_never_touched(lab_storage, store, tmp_path):
    root, files = lab_storage
    paths = [files["betas"], files["image_info"], files["roi_info"], *files["features"].values()]
    before = fingerprint(paths)
    cfg_dir = tmp_path / "cfg"
    pin = hashlib.sha256(open(files["betas"], "rb").read()).hexdigest()
    write_yaml(str(cfg_dir / "lab.yaml"), local_config(str(cfg_dir), files, store, sha256={"betas": pin}))
    wd = tmp_path / "wd"
    os.makedirs(wd)
    repo = tmp_path / "repo"                   # a copy of the workflow whose code we can change
    for name in ("workflow", "scripts", "envs"):
        shutil.copytree(os.path.join(ROOT, name), repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "Snakefile"), repo / "Snakefile")

    def run(*args):
        return snakemake(wd, "-c2", "--configfile", str(cfg_dir / "lab.yaml"), *args, snakefile=repo / "Snakefile")

    res = run()
    assert "local_check" in res.stdout + res.stderr
    assert not (wd / "resources" / "lab1").exists()          # nothing copied or linked
    record = (wd / "results" / "lab1" / "inputs" / "betas_avg_bigmask.hdf5.sha256").read_text()
    assert record.split()[0] == pin and files["betas"] in record
    assert fingerprint(paths) == before
    run("--forceall")
    assert fingerprint(paths) == before
    for script in ("local_check.py", "prepare.py", "fit_layer.py"):
        with open(repo / "scripts" / script, "a") as fh:
            fh.write("# changed by an update\n")
    res = run()
    assert "Code has changed" in res.stdout + res.stderr
    assert fingerprint(paths) == before
    snakemake(wd, "--delete-all-output", "--configfile", str(cfg_dir / "lab.yaml"), snakefile=repo / "Snakefile")
    assert not (wd / "results" / "lab1" / "prepared.h5").exists()
    assert fingerprint(paths) == before


def test_a_local_file_replaced_with_an_earlier_mtime_reruns_what_reads_it(lab_storage, store, tmp_path):
    """A local file replaced by one with an earlier mtime (mv of a file made before, cp -p,
    rsync -a, tar x) was used silently: "Nothing to be done", and jobs rerun for another
    reason read the new file while its sha256 record stayed the old one's."""
    import h5py
    from encoding_models.contract import FEATURES_DATASET
    root, files = lab_storage
    mine = tmp_path / "storage"                 # a copy of the lab's files that this test may replace
    shutil.copytree(root, mine)
    files = {k: ({layer: str(mine / os.path.basename(p)) for layer, p in v.items()} if k == "features"
                 else str(mine / os.path.basename(v))) for k, v in files.items()}
    cfg_dir = tmp_path / "cfg"
    write_yaml(str(cfg_dir / "lab.yaml"), local_config(str(cfg_dir), files, store))
    wd = tmp_path / "wd"
    os.makedirs(wd)

    def run(*args):
        return snakemake(wd, "-c2", "--configfile", str(cfg_dir / "lab.yaml"), *args)

    run()
    target = files["features"]["Conv2"]
    record = wd / layout.path(layout.LOCAL_CHECK, subject="lab1", name=layout.path(layout.FEATURES_NAME, layer="Conv2"))
    old = os.stat(target)
    assert record.read_text().split()[0] == hashlib.sha256(open(target, "rb").read()).hexdigest()
    fit = read_h5(str(wd / layout.path(layout.FIT, subject="lab1", model="Conv2")), ["r2"])["r2"]
    with h5py.File(target, "r") as f:            # the same features, rows shuffled: another file
        features = f[FEATURES_DATASET][()]
    new = tmp_path / "elsewhere" / "Conv2.hdf5"
    os.makedirs(new.parent)
    with h5py.File(new, "w") as f:
        f.create_dataset(FEATURES_DATASET, data=features[np.random.default_rng(0).permutation(len(features))])
    os.utime(new, ns=(old.st_atime_ns, old.st_mtime_ns - 10 ** 9))    # a second older than the file it replaces
    os.replace(new, target)
    counts = job_counts(run("-n").stdout)
    assert counts.get("local_check") == 1, counts                    # the replaced file's check only
    assert counts.get("fit_layer") == 1 and "prepare" not in counts, counts   # its layer's fit, not the split
    run()
    digest = hashlib.sha256(open(target, "rb").read()).hexdigest()
    assert record.read_text().split()[0] == digest                   # the record is the file the fits read
    refit = read_h5(str(wd / layout.path(layout.FIT, subject="lab1", model="Conv2")), ["r2"])["r2"]
    assert not np.allclose(fit, refit, equal_nan=True)
    assert "Nothing to be done" in run("-n").stdout + run("-n").stderr    # and then it is settled


def test_one_file_as_two_layers_or_two_subjects_is_refused_at_parse_time(lab_storage, store, tmp_path):
    """Found by an attack review: one features file given for two layers made the first
    layer best in every voxel; one betas file for two subjects pooled a data set as two
    independent subjects; both exited 0."""
    from encoding_models import configuration
    root, files = lab_storage
    cfg_dir = tmp_path / "cfg"
    os.makedirs(cfg_dir)
    twice = {**files, "features": {"Conv1": files["features"]["Conv1"], "Conv2": files["features"]["Conv1"]}}
    path = str(cfg_dir / "lab.yaml")
    cfg = local_config(str(cfg_dir), twice, store)
    write_yaml(path, cfg)
    with pytest.raises(configuration.ConfigError, match=r"subjects\.lab1\.files\.features\.Conv2.*layer 'Conv1'"):
        configuration.resolve_local(cfg, [path])
    os.link(files["betas"], tmp_path / "hardlink.hdf5")        # a hard link is the same file too
    cfg = local_config(str(cfg_dir), files, store)
    cfg["subjects"]["lab2"] = {**cfg["subjects"]["lab1"], "split_seed": 1,
                               "files": {**cfg["subjects"]["lab1"]["files"],
                                         "betas": os.path.relpath(tmp_path / "hardlink.hdf5", cfg_dir)}}
    write_yaml(path, cfg)
    with pytest.raises(configuration.ConfigError, match=r"subjects\.lab2\.files\.betas.*subject 'lab1'"):
        configuration.resolve_local(cfg, [path])


@pytest.mark.parametrize("problem", ["missing", "html", "pin"])
def test_bad_local_file_fails_naming_key_and_path(lab_storage, store, tmp_path, problem):
    root, files = lab_storage
    files = {**files, "features": dict(files["features"])}
    extra = {}
    if problem == "missing":
        files["features"]["Conv2"] = str(tmp_path / "nowhere" / "Conv2.hdf5")
        key, message = "subjects.lab1.files.features.Conv2", "no such file"
    elif problem == "html":
        (tmp_path / "page.npy").write_text("<!DOCTYPE html><html>expired link</html>")
        files["roi_info"] = str(tmp_path / "page.npy")
        key, message = "subjects.lab1.files.roi_info", "looks like an HTML page"
    else:
        extra = {"sha256": {"image_info": "0" * 64}}
        key, message = "subjects.lab1.files.image_info", "sha256 mismatch"
    cfg_dir = tmp_path / "cfg"
    write_yaml(str(cfg_dir / "lab.yaml"), local_config(str(cfg_dir), files, store, **extra))
    wd = tmp_path / "wd"
    os.makedirs(wd)
    res = snakemake(wd, "-c1", "--configfile", str(cfg_dir / "lab.yaml"), check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and key in out and message in out, out[-3000:]
    if problem != "pin":                     # refused while parsing: no job ran
        assert not (wd / "results").exists() and not (wd / "logs").exists()
        bad = files["features"]["Conv2"] if problem == "missing" else files["roi_info"]
        assert bad in out
    else:                                    # the check job failed: nothing read the file
        assert not (wd / "results" / "lab1" / "prepared.h5").exists()


# ----------------------------------------------------------------- common validation images (last: it reruns prepare)
def test_shared_by_all_validates_every_subject_on_the_same_images(group_run, tmp_path):
    with open(os.path.join(group_run, "config", "config.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    cfg["split"] = {"validation": "shared_by_all"}
    write_yaml(str(tmp_path / "common.yaml"), cfg)
    targets = [layout.path(layout.PREPARED, subject=s) for s in SUBJECTS]
    snakemake(group_run, "-c2", *targets, "--configfile", str(tmp_path / "common.yaml"))   # targets first: --configfile takes several files
    infos = {s: pd.read_csv(os.path.join(group_run, "resources", s, "image_info.csv")) for s in SUBJECTS}
    seen = {s: set(i.loc[i["shared1000"] & (i["n_reps"] > 0), "unique_ims"]) for s, i in infos.items()}
    intersection = set.intersection(*seen.values())
    assert 0 < len(intersection) < max(len(v) for v in seen.values())      # some subjects missed some
    for s in SUBJECTS:
        prep = read_h5(os.path.join(group_run, layout.path(layout.PREPARED, subject=s)), ["val", "good_rows"])
        ids = infos[s]["unique_ims"].to_numpy()[prep["good_rows"]][prep["val"]]
        assert set(ids) == intersection and len(ids) == len(intersection)
    common = pd.read_csv(os.path.join(group_run, layout.COMMON_VALIDATION), sep="\t")
    assert set(common["unique_ims"]) == intersection


def dry_run_jobs(output):
    """[(rule, subject or None, inputs, outputs)] of the jobs a dry run lists."""
    jobs = []
    for chunk in re.split(r"^\[[^\]\n]*\d{4}\]$", output, flags=re.M):      # a job per "[date]" line
        head = re.match(r"\s*(?:local)?rule (\w+):\n", chunk)
        if not head:
            continue
        rule, block = head[1], chunk[head.end():]
        field = {k: v for k, v in re.findall(r"^\s+(input|output|wildcards): (.*)$", block, re.M)}
        subject = re.search(r"subject=([A-Za-z0-9_-]+)", field.get("wildcards", ""))
        jobs.append((rule, subject and subject[1], field.get("input", "").split(", "),
                     field.get("output", "").split(", ")))
    return jobs


def test_slurm_dry_run_has_no_edge_between_subjects(tmp_path, store):
    """With the SLURM profile, no job of one subject reads another subject's outputs (so
    every subject's jobs run side by side); only the group stage, the common validation
    images and the run-wide provenance page join them."""
    cfg = group_config(store)
    cfg["split"] = {"validation": "shared_by_all"}
    write_yaml(str(tmp_path / "config" / "config.yaml"), cfg)
    res = snakemake(tmp_path, "-n", "--workflow-profile", os.path.join(ROOT, "profiles", "slurm"))
    jobs = dry_run_jobs(res.stdout)
    producer = {out: (rule, subject) for rule, subject, _, outs in jobs for out in outs if out}
    assert {subject for _, subject, _, _ in jobs if subject} == set(SUBJECTS)
    crossing, joins = [], set()
    for rule, subject, inputs, _ in jobs:
        for path in inputs:
            if path not in producer:
                continue
            src_rule, src_subject = producer[path]
            if subject and src_subject and subject != src_subject:
                crossing.append((src_rule, src_subject, rule, subject))
            if src_subject and not subject:
                joins.add(rule)
    assert not crossing
    assert joins == {"group", "common_validation", "report_provenance", "all"}, joins
