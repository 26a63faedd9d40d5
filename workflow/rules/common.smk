# Config checks, names and path helpers shared by every rule. Paths come from the
# library's layout module (one home for every pattern); parsing imports no torch.
import os
import re
import sys

# This checkout's library, for the parse (sys.path) and for every job (PYTHONPATH, ahead of
# any installed copy: a venv made from another checkout must not lend its code).
LIBRARY_DIR = os.path.join(workflow.basedir, "scripts")
sys.path.insert(0, LIBRARY_DIR)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        [LIBRARY_DIR]
        + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
)

from encoding_models import (
    commonality,
    configuration,
    download as download_mod,
    layout,
)
from encoding_models.responses import SPLITS

try:
    configuration.check(config)
    # local subjects: paths made absolute (relative: to the config file giving them), each
    # file checked now, before any job runs
    configuration.resolve_local(config, [str(f) for f in workflow.configfiles])
except configuration.ConfigError as e:
    raise WorkflowError(str(e)) from None

SUBJECTS = list(config["subjects"])
LAYERS = list(config["layers"])
ROIS = list(config["rois"])
MERGED = dict(config.get("merged_rois", {}))
PAIRS = layout.pairs(LAYERS)
PAIR_NAMES = [layout.model_name(p) for p in PAIRS]
# Partition sets (layers in config order) and the models of 3+ layers they add.
SETS = configuration.partition_sets(config)
SET_NAMES = [layout.model_name(s) for s in SETS]
SETS_BY_NAME = dict(zip(SET_NAMES, SETS))
# partition sets' models of 3+ layers (the layers and pairs give the others)
SET_ONLY_MODELS = [m for m in layout.set_models(SETS) if m not in layout.models(LAYERS)]
MODELS = layout.models(LAYERS) + SET_ONLY_MODELS
SET_COMPONENTS = sorted({c for s in SETS for c in layout.set_map_components(s)})
PYCORTEX_STORE = config["pycortex_store"]
DOWNLOAD_SUBJECTS = [
    s for s in SUBJECTS if config["subjects"][s]["source"] == "download"
]
DEMO_SUBJECTS = [s for s in SUBJECTS if config["subjects"][s]["source"] == "demo"]
LOCAL_SUBJECTS = [s for s in SUBJECTS if config["subjects"][s]["source"] == "local"]
GROUP_SUBJECTS = configuration.group_subjects(config)
GROUP_ON = configuration.has_group(config)
VALIDATION = configuration.validation_mode(config)
DEMO_IMAGES_SUBJECTS = [
    s for s in SUBJECTS if config["subjects"][s]["source"] == "demo_images"
]
# Layers extracted from the stimulus images: {extractor: {layer: node}} (features.smk),
# and every (subject, layer) they produce.
EXTRACTORS = configuration.extractors_used(config)
EXTRACTED = [(s, layer) for s in SUBJECTS for ex in EXTRACTORS.values() for layer in ex]
ENV = "../../envs/encoding.yaml"
STATS = dict(config["stats"])
STATS_ON = bool(STATS["enabled"])


def job_priority(stage, rank=None):
    """Which ready job runs first (Snakemake's priority): the fits, then the statistics, then
    the maps (everything else: 0). Within a stage, a job with rank (a per-layer job: the
    layer's index in config order) below the stage's other jobs, the later layers' first:
    they hold more models or maps, so the longest jobs start first and the short ones fill
    the cores at the end. The stages' ranges never overlap, whatever the number of layers.
    Partitions and best layer (sub-second jobs that need fits only) sit at the fits' rank 0,
    so the pair maps can start as soon as their statistics end; the summaries and the ROI
    outputs at the maps' top, so that their chain runs beside the maps instead of after them.
    """
    n = len(LAYERS) + 1
    tier = {"maps": 1, "stats": 2, "fits": 3}[stage] * n
    return tier - 1 if rank is None else tier - n + rank


def _alt(values):
    return "|".join(re.escape(v) for v in values) if values else "^$"


wildcard_constraints:
    subject=_alt(SUBJECTS),
    layer=_alt(LAYERS),
    model=_alt(MODELS),
    a=_alt(LAYERS),
    b=_alt(LAYERS),
    kind=_alt(layout.PARTITION_KINDS),
    roi=_alt(ROIS),
    table=_alt(layout.SUMMARY_TABLES),
    pset=_alt(SET_NAMES),
    component=_alt(SET_COMPONENTS),


# ------------------------------------------------------------------ helpers
def subject_cfg(subject):
    return config["subjects"][subject]


def subject_tables(wildcards):
    """A subject's betas, image_info and roi_info (features are per layer, so that adding
    a layer reruns nothing that does not use it); a local subject's checks (group.smk);
    the group's common validation images under split.validation: shared_by_all."""
    out = {
        key: input_path(key)(wildcards) for key in ("betas", "image_info", "roi_info")
    }
    out.update(local_checks(wildcards.subject, ("betas", "image_info", "roi_info")))
    if VALIDATION == "shared_by_all" and wildcards.subject in GROUP_SUBJECTS:
        out["common_validation"] = layout.COMMON_VALIDATION
    return out


def input_path(key):
    """An input function: the subject's file ``key`` (features: of the {layer} wildcard),
    at the contract's path, or where a local subject's config puts it (read in place).
    """

    def inner(wildcards):
        s = subject_cfg(wildcards.subject)
        files = s.get("files", {}) if s["source"] == "local" else {}
        if key != "features" and key in files:
            return files[key]
        if key == "features" and wildcards.layer in files.get("features", {}):
            return files["features"][wildcards.layer]
        if key == "features":
            return layout.path(
                layout.FEATURES, subject=wildcards.subject, layer=wildcards.layer
            )
        return layout.path(layout.INPUTS[key], subject=wildcards.subject)

    return inner


def model_crossprods(wildcards):
    return [
        layout.path(layout.CROSSPROD, subject=wildcards.subject, layer=layer)
        for layer in layout.model_layers(wildcards.model)
    ]


def fit_params(wildcards):
    """The settings that change a model's numbers (joint and band ratios only for 2+ layers)."""
    return configuration.ridge_params(config, layout.model_layers(wildcards.model))


def set_fits(wildcards):
    """The fits of every subset model of a partition set, in commonality.subsets order."""
    return [
        layout.path(layout.FIT, subject=wildcards.subject, model=layout.model_name(s))
        for s in commonality.subsets(SETS_BY_NAME[wildcards.pset])
    ]


def set_files(subject):
    return [
        layout.path(layout.PARTITION_SET, subject=subject, pset=n) for n in SET_NAMES
    ]


def set_stats(subject):
    """Statistics of every partition set, or none when stats are off."""
    if not STATS_ON:
        return []
    return [
        layout.path(layout.STATS_PARTITION_SET, subject=subject, pset=n)
        for n in SET_NAMES
    ]


def pycortex_target(subject):
    p = subject_cfg(subject)["pycortex"]
    return p["subject"], p["xfm"]


def all_outputs():
    out = []
    for s in SUBJECTS:
        out += expand(layout.FIT, subject=s, model=MODELS)
        out += [layout.path(layout.PARTITION, subject=s, a=a, b=b) for a, b in PAIRS]
        out += [layout.path(layout.BEST_LAYER, subject=s)]
        if STATS_ON:
            out += expand(layout.STATS_MODEL, subject=s, model=MODELS)
            out += [
                layout.path(layout.STATS_PARTITION, subject=s, a=a, b=b)
                for a, b in PAIRS
            ]
        out += expand(layout.SUMMARY, subject=s, table=layout.SUMMARY_TABLES)
        out += expand([layout.ROI_SUMMARY, layout.ROI_OVERVIEW], subject=s, roi=ROIS)
        if SETS:
            out += set_files(s) + set_stats(s)
            out += [
                layout.path(
                    layout.SUMMARY, subject=s, table=layout.PARTITION_SETS_TABLE
                )
            ]
        if config["maps"]["enabled"]:
            out += map_files(s)
            out += [layout.path(layout.FIGURES["best_layer"], subject=s)]
            if PAIRS:
                out += [layout.path(layout.FIGURES["partition"], subject=s)]
        # the lighter copies that the report embeds (a job whose full PNG is there is
        # rerun for them only when they are targets)
        out += [
            layout.report_copy(p, s)
            for p in out
            if p.endswith(".png")
            and p.startswith(layout.path(layout.RESULTS, subject=s) + "/")
        ]
    return (
        out + report_outputs() + group_outputs()
    )  # report_helpers.smk, group_helpers.smk


# ------------------------------------------------------------------ statistics
def layer_stats(wildcards):
    """Statistics of every layer's R2 (for summaries), or none when stats are off."""
    if not STATS_ON:
        return []
    return expand(layout.STATS_MODEL, subject=wildcards.subject, model=LAYERS)


def pair_stats(wildcards):
    if not STATS_ON:
        return []
    return [
        layout.path(layout.STATS_PARTITION, subject=wildcards.subject, a=a, b=b)
        for a, b in PAIRS
    ]


def compute_resources(mem_mb, runtime):
    """What a compute job (fits with their cross products, statistics) asks for: memory and runtime that
    grow with each retry, and a GPU only where the solver will use one (then the
    profile's gpu cap serialises them); otherwise job_threads cores each, so that
    cores / job_threads jobs run side by side."""
    return dict(
        mem_mb=lambda wc, attempt: mem_mb * attempt,
        runtime=lambda wc, attempt: runtime * attempt,
        gpu=1 if configuration.uses_gpu(config) else 0,
    )


# ------------------------------------------------------------------ downloads (data.smk)
def download_url(wildcards):
    """(url, pinned sha256 or None) of one input file of a download subject."""
    s = subject_cfg(wildcards.subject)
    key, layer = layout.input_key(wildcards.name)
    if layer is not None:
        return s["urls"][key][layer], s.get("sha256", {}).get(key, {}).get(layer)
    return s["urls"][key], s.get("sha256", {}).get(key)


def download_names():
    """The file names (relative to a subject's folder) the download rule may produce."""
    names = [re.escape(n) for n in layout.INPUT_NAMES.values()]
    extracted = {layer for ex in EXTRACTORS.values() for layer in ex}
    url_layers = {
        layer
        for s in DOWNLOAD_SUBJECTS
        for layer in subject_cfg(s)["urls"]["features"]
        if layer not in extracted  # an extracted layer comes from its extractor
    }
    return "|".join(
        names + [re.escape(layout.FEATURES_NAME.format(layer=l)) for l in url_layers]
    )


# ------------------------------------------------------------------ feature extraction (features.smk)
def file_stamp(path):
    """Size and mtime of a user's file read in place, as a param: any change reruns the
    job, an earlier mtime too (mv of a file made before, cp -p, rsync -a and tar x keep
    it), where Snakemake reruns only for a newer one. Moving the file elsewhere without
    changing it keeps both."""
    st = os.stat(path)
    return f"size={st.st_size} mtime_ns={st.st_mtime_ns}"


def extractor_stimuli(wildcards):
    """The subject's stimuli settings that change its features (params of an extraction):
    dataset, column, base and, for a stimulus file read in place (stimuli.path), its
    ``file_stamp`` (not its path: moving the file reruns nothing)."""
    cfg = subject_cfg(wildcards.subject)
    out = {k: v for k, v in cfg["stimuli"].items() if k != "path"}
    if cfg["stimuli"].get("path"):
        out["file"] = file_stamp(configuration.stimuli_path(wildcards.subject, cfg))
    return out


def extractor_inputs(wildcards):
    """The subject's image_info and stimulus file (a download, the demo's, or read in place)."""
    s = subject_cfg(wildcards.subject)
    return {
        "image_info": layout.path(
            layout.INPUTS["image_info"], subject=wildcards.subject
        ),
        "stimuli": configuration.stimuli_path(wildcards.subject, s),
    }


def extractor_split(name):
    """The split settings the PCA's fit rows depend on (none with pca.fit_on: all, so that
    a split change then reruns no extraction)."""

    def inner(wildcards):
        if config["extractors"][name]["pca"]["fit_on"] != "train":
            return None
        return {
            "split_seed": subject_cfg(wildcards.subject)["split_seed"],
            "pct_holdout": config["split"]["pct_holdout"],
        }

    return inner
