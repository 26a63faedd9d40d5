"""Every path pattern of the workflow, and every name derived from the config, defined once.

The Snakemake rules (through common.smk), the rule scripts' library calls and the tests
take their paths and names from here. Patterns use Snakemake's ``{wildcard}`` syntax;
``path(pattern, **values)`` fills them in. Imports neither torch nor pycortex, so that
parsing the workflow stays fast and works without them.
"""
from __future__ import annotations

import itertools

# ------------------------------------------------------------------ inputs (the data contract)
SUBJECT_DIR = "resources/{subject}"
INPUT_NAMES = {
    # config key under subjects.<name>.urls -> file name in SUBJECT_DIR
    "betas": "betas_avg_bigmask.hdf5",
    "image_info": "image_info.csv",
    "roi_info": "voxel_roi_info.npy",
    "pycortex_db": "pycortex_db.zip",
    "pycortex_config": "pycortex_config.cfg",
    "stimuli": "nsd_stimuli.hdf5",   # stimulus images (an extractor's input), unless stimuli.path is given
}
FEATURES_NAME = "features/{layer}.hdf5"
INPUTS = {key: f"{SUBJECT_DIR}/{name}" for key, name in INPUT_NAMES.items()}
FEATURES = f"{SUBJECT_DIR}/{FEATURES_NAME}"
GROUND_TRUTH = f"{SUBJECT_DIR}/ground_truth.h5"
CHECKSUM_SUFFIX = ".sha256"
# Verified downloads, outside every declared output: a rerun links them back into place.
DOWNLOAD_STORE = "resources/.downloads/{url_sha256}/{name}"

# ------------------------------------------------------------------ results
RESULTS = "results/{subject}"
PREPARED = f"{RESULTS}/prepared.h5"
RESPONSES = f"{RESULTS}/responses/{{split}}.blocks"   # split: trn, holdout, val (responses.SPLITS)
CROSSPROD = f"{RESULTS}/crossprod/{{layer}}.h5"
FIT = f"{RESULTS}/fits/{{model}}.h5"
PARTITION = f"{RESULTS}/partition/{{a}}+{{b}}.h5"
PARTITION_SET = f"{RESULTS}/partition_sets/{{pset}}.h5"
BEST_LAYER = f"{RESULTS}/best_layer.h5"
STATS_MODEL = f"{RESULTS}/stats/{{model}}.h5"
STATS_PARTITION = f"{RESULTS}/stats/partition/{{a}}+{{b}}.h5"
STATS_PARTITION_SET = f"{RESULTS}/stats/partition_sets/{{pset}}.h5"
SUMMARY_TABLES = ("layer_r2", "best_layer_counts", "partition")
SUMMARY = f"{RESULTS}/summary/{{table}}.tsv"
PARTITION_SETS_TABLE = "partition_sets"   # SUMMARY's table of the partition sets (only when sets are configured)
ROI_SUMMARY = f"{RESULTS}/rois/{{roi}}/summary.tsv"
ROI_OVERVIEW = f"{RESULTS}/rois/{{roi}}/overview.png"
MAP_CACHE_OK = f"{RESULTS}/maps/.pycortex_cache.ok"
ROI_OUTLINES = f"{RESULTS}/maps/roi_outlines.json"
ROI_OVERLAY = f"{RESULTS}/maps/roi_overlay.npz"   # pycortex's overlay.svg ROIs as an RGBA image (empty: none drawn)
MAP_BEST_LAYER = f"{RESULTS}/maps/best_layer.png"
MAP_R2 = f"{RESULTS}/maps/r2/{{layer}}.png"
MAP_R2_OVER_NC = f"{RESULTS}/maps/r2_over_nc/{{layer}}.png"
MAP_PARTITION = f"{RESULTS}/maps/partition/{{a}}+{{b}}/{{kind}}.png"
MAP_PARTITION_SET = f"{RESULTS}/maps/partition_sets/{{pset}}/{{component}}.png"
FIGURES = {"partition": f"{RESULTS}/figures/partition_by_roi.png",
           "best_layer": f"{RESULTS}/figures/best_layer_by_roi.png"}
BENCHMARK = f"{RESULTS}/benchmarks/{{job}}.tsv"


def report_copy(path: str, subject: str = None) -> str:
    """The path of the report's lighter copy of a figure of results/{subject}/ (``maps.report_png``):
    the same path under results/{subject}/report/images/; the full-resolution figure stays where it is.
    path: a pattern (subject None) or a subject's path."""
    base = RESULTS if subject is None else RESULTS.format(subject=subject)
    if not path.startswith(f"{base}/"):
        raise ValueError(f"{path} is not under {base}/")
    return f"{base}/report/images/{path[len(base) + 1:]}"

# Report pages: the answers per subject, the methods and provenance of the run, and a
# static pycortex WebGL viewer per subject (a folder; serve it over HTTP).
REPORT_OVERVIEW = f"{RESULTS}/report/overview.html"
# the answers as an HTML fragment, which the report's first page (workflow/report/workflow.rst) includes
REPORT_ANSWERS = f"{RESULTS}/report/answers.html"
REPORT_PROVENANCE = "results/report/methods_provenance.html"
VIEWER = f"{RESULTS}/viewer"
VIEWER_INDEX = "index.html"

# ------------------------------------------------------------------ group level (across subjects)
GROUP_NAME = "group"          # no subject may take this name: its results folder is the group's
GROUP = f"results/{GROUP_NAME}"
GROUP_TABLES = ("layer_r2", "partition", "best_layer", "validation")
GROUP_SUMMARY = f"{GROUP}/summary/{{table}}.tsv"
GROUP_FIGURES = {"layer_r2": f"{GROUP}/figures/layer_r2_by_roi.png",
                 "partition": f"{GROUP}/figures/partition_by_roi.png"}
GROUP_REPORT = f"{GROUP}/report/overview.html"
GROUP_ANSWERS = f"{GROUP}/report/answers.html"     # the fragment the report's first page includes
GROUP_BENCHMARK = f"{GROUP}/benchmarks/group.tsv"
# The shared1000 images every subject of the group saw (split.validation: shared_by_all).
COMMON_VALIDATION = f"{GROUP}/common_validation.tsv"
# A local subject's input file, checked (format, pinned sha256) and its sha256 recorded;
# the file itself is read in place and never an output.
LOCAL_CHECK = f"{RESULTS}/inputs/{{name}}.sha256"

# ------------------------------------------------------------------ logs
# One log per job, whatever the names: every rule with wildcards logs into a folder of its
# own, and its wildcard values are joined by '/' or '+' (characters no layer, subject,
# ROI or partition-set name holds), so two jobs can never share a log file
# (tests/test_workflow.py checks the patterns and a dry run with colliding-looking names).
LOGS = "logs/{subject}"
LOG = {
    "demo_anatomy": "logs/demo_anatomy.log",
    "demo_subject": f"{LOGS}/demo_subject.log",
    "demo_images_subject": f"{LOGS}/demo_images_subject.log",
    "extract_features": f"{LOGS}/features/{{extractor}}.log",
    "download": f"{LOGS}/download/{{name}}.log",
    "pycortex_subject": f"{LOGS}/pycortex_subject.log",
    "prepare": f"{LOGS}/prepare.log",
    "fit_layer": f"{LOGS}/fit_layer/{{layer}}.log",
    "fit_pairs": f"{LOGS}/fit_pairs/{{layer}}.log",
    "fit": f"{LOGS}/fits/{{model}}.log",
    "partition": f"{LOGS}/partition/{{a}}+{{b}}.log",
    "partition_set": f"{LOGS}/partition_sets/{{pset}}.log",
    "partition_set_summary": f"{LOGS}/partition_sets_summary.log",
    "best_layer": f"{LOGS}/best_layer.log",
    "summaries": f"{LOGS}/summaries.log",
    "roi_summary": f"{LOGS}/roi_summary.log",
    "roi_figures": f"{LOGS}/figures.log",
    "pycortex_cache": f"{LOGS}/maps/pycortex_cache.log",
    "map_best_layer": f"{LOGS}/maps/best_layer.log",
    "map_layer": f"{LOGS}/maps/layer/{{layer}}.log",
    "map_pairs": f"{LOGS}/maps/pairs/{{layer}}.log",
    "report_overview": f"{LOGS}/report/overview.log",
    "report_provenance": "logs/report/methods_provenance.log",
    "viewer": f"{LOGS}/viewer.log",
    "stats_layer": f"{LOGS}/stats/layer/{{layer}}.log",
    "stats_model": f"{LOGS}/stats/model/{{model}}.log",
    "stats_partition_set": f"{LOGS}/stats/partition_sets/{{pset}}.log",
    "map_partition_set": f"{LOGS}/maps/partition_sets/{{pset}}/{{component}}.log",
    "local_check": f"{LOGS}/local_check/{{name}}.log",
    "group": "logs/group/group.log",
    "common_validation": "logs/group/common_validation.log",
}

# ------------------------------------------------------------------ the workflow's pycortex store
STORE_ANATOMY = "{store}/cache/S1_fullhead_anatomy.npz"
STORE_READY = "{store}/ready/{subject}.ok"
STORE_DB = "{store}/db"
STORE_CONFIG_HOME = "{store}/config"
STORE_OPTIONS = "{store}/config/pycortex/options.cfg"
STORE_LOCK = "{store}/.lock"


def path(pattern: str, **values) -> str:
    """A pattern with its wildcards filled in."""
    return pattern.format(**values)


# ------------------------------------------------------------------ models, pairs, partitions
PAIR_SEP = "+"
PARTITION_KINDS = ("unique_a", "unique_b", "shared", "r2_joint")


def model_name(layers) -> str:
    """The name of the model fitting the concatenation of ``layers`` ('Conv1+Conv4')."""
    return PAIR_SEP.join(layers)


def model_layers(model: str) -> list:
    return model.split(PAIR_SEP)


def pairs(layers) -> list:
    """Every pair of layers, in config order."""
    return list(itertools.combinations(layers, 2))


def models(layers) -> list:
    """Every model of a layer list: each layer, then each pair."""
    return list(layers) + [model_name(p) for p in pairs(layers)]


def set_models(sets) -> list:
    """The models that partition sets need beyond the single layers and pairs: every subset
    of 3+ layers of each set (tuples in config order, so names match model_name), once."""
    out = []
    for pset in sets:
        for k in range(3, len(pset) + 1):
            for combo in itertools.combinations(pset, k):
                if combo not in out:
                    out.append(combo)
    return [model_name(c) for c in out]


def jobs_by_layer(layers) -> dict:
    """What each layer's per-layer jobs hold: what adding that layer, at its place in config
    order, added. The workflow's fit_pairs_<layer>, stats_layer_<layer> and
    map_pairs_<layer> rules are generated from it (the first fits, and the last draws, the
    layer's pairs; the statistics job tests its models and bootstraps its pairs).

    Parameters
    ----------
    layers : sequence of str
        The layers, in config order.

    Returns
    -------
    dict of str to dict
        layer -> {"tested": the models whose R2 it tests (the layer and its joint model
        with every earlier layer), "pairs": its pairs (earlier layer, layer)}. Every model
        of ``models(layers)`` is tested in exactly one job and every pair bootstrapped in
        one; appending a layer adds a job and changes none of the others. (Partition
        sets' models of 3+ layers get a job each.)
    """
    out = {}
    for i, layer in enumerate(layers):
        earlier = list(layers[:i])
        out[layer] = {"tested": [layer] + [model_name((a, layer)) for a in earlier],
                      "pairs": [(a, layer) for a in earlier]}
    return out


def set_map_components(pset) -> list:
    """The components of a set that are drawn: each layer's unique part and the part common to all."""
    return [f"unique_{layer}" for layer in pset] + ["common_" + model_name(pset)]


MAP_TITLES = {
    "best_layer": "{subject}: best layer per voxel",
    "r2": "{subject}: validation R2, {layer}",
    "r2_joint": "{subject}: R2 of {a}+{b}",
    "unique_a": "{subject}: unique variance {a} (vs {b})",
    "unique_b": "{subject}: unique variance {b} (vs {a})",
    "shared": "{subject}: shared variance {a} & {b}",
    "r2_over_nc": "{subject}: R2 / noise ceiling, {layer}",
    "set_unique": "{subject}: unique variance {layer} (in {pset})",
    "set_common": "{subject}: variance common to {pset}",
}


MAP_COLORBAR_LABELS = {
    "best_layer": "best layer (highest validation R2)",
    "r2": "validation R2 of {layer} (fraction of variance)",
    "r2_joint": "validation R2 of {a}+{b} (fraction of variance)",
    "unique_a": "unique variance of {a} over {b}: R2({a}+{b}) - R2({b}) (fraction of variance)",
    "unique_b": "unique variance of {b} over {a}: R2({a}+{b}) - R2({a}) (fraction of variance)",
    "shared": "variance shared by {a} and {b}: R2({a}) + R2({b}) - R2({a}+{b}) (fraction of variance)",
    "r2_over_nc": "{layer}: R2 / noise ceiling (fraction of explainable variance)",
    "set_unique": "unique variance of {layer} in {pset}: R2(set) - R2(set without it) (fraction of variance)",
    "set_common": "variance common to all of {pset} (fraction of variance)",
}

# Which q-value of which statistics file masks a map (maps.mask: fdr): map kind ->
# (statistics of the layer's model / the pair / the joint model, dataset of q-values).
# Shared variance has no test: its map is never masked. A partition set's unique parts
# are masked by their own q-values (set_unique_q); its common part, like shared
# variance, is drawn unmasked.
MAP_MASK_Q = {
    "r2": ("model", "q_r2"),
    "r2_over_nc": ("model", "q_r2"),
    "best_layer": ("layers", "q_r2"),
    "r2_joint": ("joint", "q_r2"),
    "unique_a": ("partition", "q_unique_a"),
    "unique_b": ("partition", "q_unique_b"),
}


def set_unique_q(component: str):
    """q-value dataset (in STATS_PARTITION_SET) that masks a drawn set component, or None."""
    return f"q_{component}" if set_map_kind(component)[0] == "set_unique" else None


def set_map_kind(component: str):
    """(map kind, names) of a drawn component of a partition set ('unique_Conv1', 'common_A+B+C')."""
    if component.startswith("unique_"):
        return "set_unique", {"layer": component[len("unique_"):]}
    return "set_common", {}


def map_colorbar_label(map_kind: str, **names) -> str:
    """What a map's colour shows, and in which unit."""
    return MAP_COLORBAR_LABELS[map_kind].format(**names)


def map_title(map_kind: str, **names) -> str:
    """The title of a map of the given kind; names fill its wildcards (subject, layer, a, b)."""
    return MAP_TITLES[map_kind].format(**names)


# ------------------------------------------------------------------ the ROI catalogue
# NSD's label dictionaries (name -> label value in the subject's label volume), by group.
ROI_GROUPS = {
    # group: (names dict key, labels key) in voxel_roi_info.npy
    "retino": ("ret_prf_roi_names", "roi_labels_retino"),
    "face": ("floc_face_roi_names", "roi_labels_face"),
    "place": ("floc_place_roi_names", "roi_labels_place"),
    "body": ("floc_body_roi_names", "roi_labels_body"),
}
NSD_ROIS = {
    "retino": {"V1v": 1, "V1d": 2, "V2v": 3, "V2d": 4, "V3v": 5, "V3d": 6, "hV4": 7},
    "face": {"OFA": 1, "FFA-1": 2, "FFA-2": 3, "mTL-faces": 4, "aTL-faces": 5},
    "place": {"OPA": 1, "PPA": 2, "RSC": 3},
    "body": {"EBA": 1, "FBA-1": 2, "FBA-2": 3, "mTL-bodies": 4},
}
# The demo subject defines these (a subset of NSD's, with NSD's label values).
DEMO_ROIS = {
    "retino": NSD_ROIS["retino"],
    "face": {k: NSD_ROIS["face"][k] for k in ("OFA", "FFA-1", "FFA-2")},
    "place": NSD_ROIS["place"],
    "body": {"EBA": NSD_ROIS["body"]["EBA"]},
}
ALL_VOXELS = "all"
# Overlay ROIs of pycortex's bundled subject S1, from which the demo derives its ROIs.
S1_OUTLINES = ["V1", "V2", "V3", "FFA", "PPA", "EBA", "OFA", "OPA", "RSC"]


def roi_names(catalogue) -> list:
    """The ROI names a catalogue defines, in group order."""
    return [name for group in catalogue.values() for name in group]


def input_files(subject: str, layers=(), root: str = "") -> dict:
    """A subject's input paths (the data contract's fixed names), optionally under root."""
    import os
    files = {key: os.path.join(root, path(INPUTS[key], subject=subject)) for key in ("betas", "image_info", "roi_info")}
    files["features"] = {layer: os.path.join(root, path(FEATURES, subject=subject, layer=layer)) for layer in layers}
    return files


def input_key(name: str):
    """(config key, layer or None) of a file name relative to SUBJECT_DIR, as the download rule sees it."""
    prefix, suffix = FEATURES_NAME.split("{layer}")
    if name.startswith(prefix) and name.endswith(suffix):
        return "features", name[len(prefix):len(name) - len(suffix)]
    keys = {v: k for k, v in INPUT_NAMES.items()}
    return keys[name], None
