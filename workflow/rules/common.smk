import itertools
import re
import os
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "scripts"))

from encoding_models import contract, demo as demo_mod, download as download_mod, ridge as ridge_mod
from encoding_models.splits import NSD_SPLIT_SEEDS

# ------------------------------------------------------------------ config checks
SUBJECTS = list(config["subjects"])
LAYERS = list(config["layers"])
ROIS = list(config["rois"])
MERGED = dict(config.get("merged_rois", {}))
PAIRS = list(itertools.combinations(LAYERS, 2))
PAIR_NAMES = [f"{a}+{b}" for a, b in PAIRS]
MODELS = LAYERS + PAIR_NAMES
PARTITION_KINDS = ["r2_joint", "unique_a", "unique_b", "shared"]

# ROI names each kind of subject defines: the demo's dictionaries, or NSD's.
NSD_ROI_NAMES = ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4",
                 "OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces",
                 "OPA", "PPA", "RSC", "EBA", "FBA-1", "FBA-2", "mTL-bodies"]
DEMO_ROI_NAMES = [*demo_mod.RETINO, *demo_mod.FACE, *demo_mod.PLACE, *demo_mod.BODY]


def _config_error(key, problem):
    raise ValueError(f"config error in '{key}': {problem}")


def _check_config():
    dup = sorted({l for l in LAYERS if LAYERS.count(l) > 1})
    if dup:
        _config_error("layers", f"layer(s) listed more than once: {dup}")
    for subject, s in config["subjects"].items():
        if s["source"] == "demo":
            defined = DEMO_ROI_NAMES
            missing = [l for l in LAYERS if l not in s["demo"]["layers"]]
            if missing:
                _config_error(f"subjects.{subject}.demo.layers", f"the demo generates {s['demo']['layers']}, not {missing}")
        else:
            defined = NSD_ROI_NAMES
            if "urls" not in s:
                _config_error(f"subjects.{subject}", "source 'download' needs 'urls'")
            missing = [l for l in LAYERS if l not in s["urls"]["features"]]
            if missing:
                _config_error(f"subjects.{subject}.urls.features", f"no URL for layer(s) {missing}")
        for name, parts in MERGED.items():
            unknown = [p for p in parts if p not in defined]
            if unknown:
                _config_error(f"merged_rois.{name}", f"ROI(s) {unknown} not defined for subject '{subject}'")
        unknown = [r for r in ROIS if r != "all" and r not in defined and r not in MERGED]
        if unknown:
            _config_error("rois", f"ROI(s) {unknown} not defined for subject '{subject}' (defined: {defined + ['all'] + list(MERGED)})")
    demo_layer_sets = {tuple(s["demo"]["layers"]) for s in config["subjects"].values() if s["source"] == "demo"}
    if len(demo_layer_sets) > 1:
        _config_error("subjects.*.demo.layers", "every demo subject must generate the same layers")
    if config["ridge"]["lambdas"] != "reference":
        try:
            ridge_mod.check_lambdas(config["ridge"]["lambdas"])
        except ValueError as e:
            _config_error("ridge.lambdas", str(e))


_check_config()


def _alt(values):
    return "|".join(re.escape(v) for v in values)


wildcard_constraints:
    subject=_alt(SUBJECTS),
    layer=_alt(LAYERS),
    model=_alt(MODELS),
    a=_alt(LAYERS),
    b=_alt(LAYERS),
    kind=_alt(PARTITION_KINDS),


# ------------------------------------------------------------------ helpers
def subject_cfg(subject):
    return config["subjects"][subject]


def subject_tables(wildcards):
    """A subject's betas, image_info and roi_info (features are per layer, so that adding
    a layer reruns nothing that does not use it)."""
    files = contract.subject_files("resources", wildcards.subject, [])
    return {"betas": files["betas"], "image_info": files["image_info"], "roi_info": files["roi_info"]}


def lambda_grid():
    if config["ridge"]["lambdas"] == "reference":
        return [float(x) for x in ridge_mod.reference_lambdas()]
    return [float(x) for x in config["ridge"]["lambdas"]]


def ridge_params():
    """Every setting that changes a fit's numbers (params: so a change reruns the fits)."""
    r = config["ridge"]
    return {"lambdas": lambda_grid(), "intercept": r["intercept"], "refit": r["refit"],
            "precision": r["input_precision"]}


def pycortex_target(subject):
    p = subject_cfg(subject)["pycortex"]
    return p["subject"], p["xfm"]


def map_files(subject):
    base = f"results/{subject}/maps"
    return ([f"{base}/best_layer.png"] + [f"{base}/r2/{l}.png" for l in LAYERS]
            + [f"{base}/partition/{p}/{k}.png" for p in PAIR_NAMES for k in PARTITION_KINDS])


def all_outputs():
    out = []
    for s in SUBJECTS:
        out += [f"results/{s}/fits/{m}.h5" for m in MODELS]
        out += [f"results/{s}/partition/{p}.h5" for p in PAIR_NAMES]
        out += [f"results/{s}/best_layer.h5"]
        out += [f"results/{s}/summary/{t}.tsv" for t in ("layer_r2", "best_layer_counts", "partition")]
        if config["maps"]["enabled"]:
            out += map_files(s)
            out += [f"results/{s}/figures/partition_by_roi.png", f"results/{s}/figures/best_layer_by_roi.png"]
    return out



DOWNLOAD_SUBJECTS = [s for s in SUBJECTS if subject_cfg(s)["source"] == "download"]
DEMO_SUBJECTS = [s for s in SUBJECTS if subject_cfg(s)["source"] == "demo"]
DOWNLOAD_NAMES = {"betas_avg_bigmask.hdf5": "betas", "image_info.csv": "image_info",
                  "voxel_roi_info.npy": "roi_info", "pycortex_db.zip": "pycortex_db",
                  "pycortex_config.cfg": "pycortex_config"}
PYCORTEX_STORE = config["pycortex_store"]


def download_url(wildcards):
    s = subject_cfg(wildcards.subject)
    name = wildcards.name
    if name.startswith("features/"):
        layer = name[len("features/"):-len(".hdf5")]
        return s["urls"]["features"][layer], s.get("sha256", {}).get("features", {}).get(layer)
    key = DOWNLOAD_NAMES[name]
    return s["urls"][key], s.get("sha256", {}).get(key)


def map_params(wildcards):
    p_subject, xfm = pycortex_target(wildcards.subject)
    roi_list = subject_cfg(wildcards.subject)["pycortex"]["roi_list"]
    if roi_list is None and subject_cfg(wildcards.subject)["source"] == "demo":
        roi_list = demo_mod.S1_OUTLINES
    return {"pycortex_subject": p_subject, "xfm": xfm, "height": config["maps"]["height"],
            "with_rois": config["maps"]["with_rois"], "roi_list": roi_list, "store": PYCORTEX_STORE}


PARTITION_TITLES = {"r2_joint": "R2 of {a}+{b}", "unique_a": "unique variance {a} (vs {b})",
                    "unique_b": "unique variance {b} (vs {a})", "shared": "shared variance {a} & {b}"}


def partition_title(wildcards):
    kind = PARTITION_TITLES[wildcards.kind].format(a=wildcards.a, b=wildcards.b)
    return f"{wildcards.subject}: {kind}"
