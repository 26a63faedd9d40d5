"""Checks of the config that the schema cannot express, and the values derived from it.

Runs while Snakemake parses the workflow (common.smk), so it imports neither torch nor
pycortex. Every problem raises one ConfigError naming the config key.
"""
from __future__ import annotations

import math
import re

from . import layout
from .penalty import banded_reference_lambdas, check_lambdas, parse_lambdas, reference_lambdas


class ConfigError(ValueError):
    def __init__(self, key, problem):
        self.key, self.problem = key, problem
        super().__init__(f"config error in '{key}': {problem}")


SYNTHETIC_SOURCES = ("demo", "demo_images")   # subjects on pycortex's S1 with the demo's ROIs


def defined_rois(subject_cfg) -> list:
    """The ROI names a subject's roi info defines: the demo's, or NSD's."""
    catalogue = layout.DEMO_ROIS if subject_cfg["source"] in SYNTHETIC_SOURCES else layout.NSD_ROIS
    return layout.roi_names(catalogue)


def _check_finite(value, key=""):
    """Refuse NaN and infinite numbers anywhere in the config (YAML's .nan and .inf pass the
    schema's bounds, whose comparisons are false for NaN), naming the key."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key or "config", f"{value!r} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{key}[{i}]")


def check(config):
    """Raise ConfigError for the first inconsistency of an (already schema-validated) config."""
    _check_finite(config)
    layers = list(config["layers"])
    rois = list(config["rois"])
    merged = dict(config.get("merged_rois", {}))
    _check_roi_names(rois, merged)
    dup = sorted({layer for layer in layers if layers.count(layer) > 1})
    if dup:
        raise ConfigError("layers", f"layer(s) listed more than once: {dup}")
    if layout.GROUP_NAME in config["subjects"]:
        raise ConfigError(f"subjects.{layout.GROUP_NAME}", f"'{layout.GROUP_NAME}' names the group's results folder "
                                                           "(results/group/); give the subject another name")
    extracted = extractor_layers(config)      # also checks the extractors
    for subject, s in config["subjects"].items():
        defined = defined_rois(s)
        _check_stimuli(config, subject, s, [layer for layer in layers if layer in extracted], extracted)
        if s["source"] == "demo_images":
            continue
        if s["source"] == "demo":
            missing = [layer for layer in layers if layer not in s["demo"]["layers"] and layer not in extracted]
            if missing:
                raise ConfigError(f"subjects.{subject}.demo.layers", f"the demo generates {s['demo']['layers']}, not {missing}")
        elif s["source"] == "local":
            _check_local_keys(subject, s, [layer for layer in layers if layer not in extracted])
        else:
            if "urls" not in s:
                raise ConfigError(f"subjects.{subject}", "source 'download' needs 'urls'")
            missing = [layer for layer in layers if layer not in s["urls"]["features"] and layer not in extracted]
            if missing:
                raise ConfigError(f"subjects.{subject}.urls.features", f"no URL for layer(s) {missing}")
        for name, parts in merged.items():
            unknown = [p for p in parts if p not in defined]
            if unknown:
                raise ConfigError(f"merged_rois.{name}", f"ROI(s) {unknown} not defined for subject '{subject}'")
        unknown = [r for r in rois if r != layout.ALL_VOXELS and r not in defined and r not in merged]
        if unknown:
            raise ConfigError("rois", f"ROI(s) {unknown} not defined for subject '{subject}' "
                                      f"(defined: {defined + [layout.ALL_VOXELS] + list(merged)})")
    demo_layer_sets = {tuple(s["demo"]["layers"]) for s in config["subjects"].values() if s["source"] == "demo"}
    if len(demo_layer_sets) > 1:
        raise ConfigError("subjects.*.demo.layers", "every demo subject must generate the same layers")
    for name in merged:
        if name == layout.ALL_VOXELS or any(name in defined_rois(s) for s in config["subjects"].values()):
            raise ConfigError(f"merged_rois.{name}", f"'{name}' is already an ROI name; a merged ROI needs a new name "
                                                     "(otherwise the original ROI would be used under it)")
    if config["ridge"]["lambdas"] != "reference":
        try:
            check_lambdas(parse_lambdas(config["ridge"]["lambdas"]))
        except ValueError as e:
            raise ConfigError("ridge.lambdas", str(e)) from None
    _check_joint(config)
    _check_partition_sets(config)
    batch = config["ridge"]["batch_size"]
    if not isinstance(batch, int) or isinstance(batch, bool):
        raise ConfigError("ridge.batch_size", f"must be a whole number of voxels, got {batch!r}")
    _check_maps(config.get("maps", {}))
    _check_stats(config)
    if config.get("maps", {}).get("enabled", True):
        for subject, s in config["subjects"].items():
            if s["source"] == "download" and not s["urls"].get("pycortex_db"):
                raise ConfigError(f"subjects.{subject}.urls.pycortex_db", "maps need the subject's pycortex database "
                                                                          "(a zip): add its URL, or set maps.enabled: false")
    group_subjects(config)


# ROI names become path parts (results/<subject>/rois/<roi>/...) and wildcard values, as
# layer and subject names do: the same characters only (the schema says so too).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_roi_names(rois, merged):
    bad = [r for r in rois if not isinstance(r, str) or not NAME_PATTERN.match(r)]
    if bad:
        raise ConfigError("rois", f"ROI name(s) {bad} may only hold letters, digits, '_' and '-'")
    for name, parts in merged.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ConfigError(f"merged_rois.{name}", "a merged ROI's name may only hold letters, digits, '_' and '-'")
        bad = [p for p in parts if not isinstance(p, str) or not NAME_PATTERN.match(p)]
        if bad:
            raise ConfigError(f"merged_rois.{name}", f"ROI name(s) {bad} may only hold letters, digits, '_' and '-'")


# The stated level of every bootstrap interval (stats_partition, stats_partition_set).
CONFIDENCE = 0.95


def min_bootstrap(fdr_q: float) -> int:
    """The fewest bootstrap samples whose numbers mean what they say: a two-sided
    CONFIDENCE percentile interval needs at least one sample in each tail,
    B * (1 - CONFIDENCE) / 2 >= 1, i.e. B >= 2 / (1 - CONFIDENCE) = 40 (fewer give an
    interval of the extreme samples, or of zero width); and the smallest one-sided
    p-value, 1 / (1 + B), must reach fdr_q, i.e. B >= 1 / fdr_q - 1."""
    return max(math.ceil(2 / (1 - CONFIDENCE) - 1e-9), min_permutations(fdr_q))


def min_permutations(fdr_q: float) -> int:
    """The fewest permutations (or bootstrap samples) for which a voxel can be significant
    at fdr_q at all: the smallest p-value 1 / (1 + n) must be <= fdr_q (BH's q-value
    is never below the smallest p), i.e. n >= 1 / fdr_q - 1."""
    return max(1, math.ceil(1 / fdr_q - 1 - 1e-9))


def _check_stats(config):
    s = config["stats"]
    if not s["enabled"]:
        maps = config.get("maps", {})
        if maps.get("enabled", True) and maps.get("mask", "fdr") == "fdr":
            raise ConfigError("maps.mask", "'fdr' masks maps with the statistics, but stats.enabled is false: the maps "
                                           "would be drawn unmasked under captions that say non-significant voxels "
                                           "are blank; set maps.mask: none, or stats.enabled: true")
        return
    q = s["fdr_q"]
    need = min_permutations(q)
    if s["permutations"] < need:
        raise ConfigError("stats.permutations", f"{s['permutations']} permutations give p-values of at least "
                                                f"1/{s['permutations'] + 1} = {1 / (s['permutations'] + 1):.3g}, above "
                                                f"stats.fdr_q = {q:g}: no voxel could be significant; use at least {need}")
    need = min_bootstrap(q)
    if s["bootstrap"] < need:
        raise ConfigError("stats.bootstrap", f"{s['bootstrap']} bootstrap samples are too few for a "
                                             f"{CONFIDENCE:.0%} two-sided percentile interval (each tail needs a "
                                             f"sample: at least 2/(1-{CONFIDENCE}) = 40) and a one-sided p-value "
                                             f"that can reach stats.fdr_q = {q:g} (1/(1+B) <= fdr_q); use at least {need}")


# ------------------------------------------------------------------ group level
def group_subjects(config) -> list:
    """The subjects of the group stage (``group.subjects``, default every subject, in
    config order). Raises ConfigError for unknown names and for a group that would pool
    demo (synthetic) subjects with real ones."""
    subjects = list(config["subjects"])
    chosen = (config.get("group") or {}).get("subjects")
    if chosen is None:
        chosen, key = subjects, "subjects"
    else:
        key = "group.subjects"
        unknown = [s for s in chosen if s not in subjects]
        if unknown:
            raise ConfigError(key, f"subject(s) {unknown} are not configured under 'subjects' {subjects}")
        chosen = [s for s in subjects if s in chosen]
    demo = [s for s in chosen if config["subjects"][s]["source"] in SYNTHETIC_SOURCES]
    if len(chosen) > 1 and 0 < len(demo) < len(chosen):
        raise ConfigError(key, f"the group would pool demo (synthetic) subjects {demo} with real ones "
                               f"{[s for s in chosen if s not in demo]}; list the subjects to pool in group.subjects")
    return chosen


def has_group(config) -> bool:
    """Whether the group stage runs: two or more subjects in the group."""
    return len(group_subjects(config)) >= 2


def validation_mode(config) -> str:
    return (config.get("split") or {}).get("validation", "shared1000")


# ------------------------------------------------------------------ local subjects (data read in place)
def local_files(subject_cfg, layers) -> dict:
    """{(key, layer or None): path} of a local subject's input files (pycortex ones if given)."""
    files = subject_cfg["files"]
    out = {(key, None): files[key] for key in layout.INPUT_NAMES if key in files}
    out.update({("features", layer): files["features"][layer] for layer in layers if layer in files.get("features", {})})
    return out


def local_key(subject, key, layer=None) -> str:
    return f"subjects.{subject}.files.{key}" + (f".{layer}" if layer else "")


def _check_local_keys(subject, s, layers):
    if "files" not in s:
        raise ConfigError(f"subjects.{subject}", "source 'local' needs 'files' (a path per input file)")
    if "urls" in s:
        raise ConfigError(f"subjects.{subject}.urls", "a 'local' subject reads 'files', not 'urls'")
    for key in ("betas", "image_info", "roi_info"):
        if key not in s["files"]:
            raise ConfigError(f"subjects.{subject}.files", f"no path for '{key}'")
    missing = [layer for layer in layers if layer not in s["files"].get("features", {})]
    if missing:
        raise ConfigError(f"subjects.{subject}.files.features", f"no path for layer(s) {missing}")


def local_bases(config, config_files) -> dict:
    """{subject: folder its relative 'files' paths are read from}: the folder of the last
    config file that gives the subject's files (the working directory if none does)."""
    import os
    import yaml
    bases = {}
    for path in config_files:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
        for name, s in (data.get("subjects") or {}).items():
            if isinstance(s, dict) and "files" in s:
                bases[name] = os.path.dirname(os.path.abspath(path))
    return {name: bases.get(name, os.getcwd()) for name, s in config["subjects"].items() if s["source"] == "local"}


def resolve_local(config, config_files) -> None:
    """Make every local subject's paths absolute (relative ones: to the config file that
    gives them) and check each file at parse time: it exists, is a readable file, and
    starts like its format (HDF5, .npy, zip; text files not like HTML), as downloads
    are checked. Raises ConfigError naming the key and the path."""
    import os
    from .download import HEAD_BYTES, content_problem
    layers = list(config["layers"])
    for subject, base in local_bases(config, config_files).items():
        s = config["subjects"][subject]
        for (key, layer), given in local_files(s, layers).items():
            name = layout.FEATURES_NAME.format(layer=layer) if layer else layout.INPUT_NAMES[key]
            where = local_key(subject, key, layer)
            path = os.path.normpath(os.path.join(base, os.path.expanduser(str(given))))
            if not os.path.exists(path):
                raise ConfigError(where, f"{path}: no such file")
            if not os.path.isfile(path):
                raise ConfigError(where, f"{path}: not a file")
            try:
                with open(path, "rb") as fh:
                    head = fh.read(HEAD_BYTES)
            except OSError as e:
                raise ConfigError(where, f"{path}: cannot be read ({e.strerror})") from None
            problem = content_problem(name, head)
            if problem:
                raise ConfigError(where, f"{path}: {problem}")
            if layer:
                s["files"]["features"][layer] = path
            else:
                s["files"][key] = path
    _refuse_shared_files(config, layers)


def _refuse_shared_files(config, layers):
    """Refuse one file (same path, link or hard link) given as two layers' features of a
    subject (the layers would be one model twice, and the first would win every voxel)
    or as two subjects' betas (the group would count one data set as independent
    subjects). Raises ConfigError naming the later key and the earlier one."""
    import os
    betas = {}
    for subject, s in config["subjects"].items():
        if s["source"] != "local":
            continue
        seen = {}
        for (key, layer), path in local_files(s, layers).items():
            st = os.stat(path)
            ident = (st.st_dev, st.st_ino)
            if key == "features":
                if ident in seen:
                    raise ConfigError(local_key(subject, key, layer), f"{path} is also the features of layer "
                                      f"{seen[ident]!r}: two layers would be the same model")
                seen[ident] = layer
            elif key == "betas":
                if ident in betas:
                    raise ConfigError(local_key(subject, key), f"{path} is also the betas of subject {betas[ident]!r}: "
                                      "one data set would count as two subjects")
                betas[ident] = subject


# ------------------------------------------------------------------ feature extractors
def extractor_layers(config) -> dict:
    """{layer: (extractor name, node)} over every configured extractor, checked: a layer name
    belongs to one extractor only, and its preprocessing is consistent."""
    out = {}
    for name, ex in config.get("extractors", {}).items():
        key = f"extractors.{name}"
        for layer, node in ex["nodes"].items():
            if layer in out:
                raise ConfigError(f"{key}.nodes.{layer}", f"layer {layer!r} is already a node of extractor "
                                                          f"'{out[layer][0]}'; layer names must be unique")
            if not str(node).strip():
                raise ConfigError(f"{key}.nodes.{layer}", "empty node name")
            out[layer] = (name, node)
        prep = ex.get("preprocessing", {})
        resize, crop = prep.get("resize", 224), prep.get("crop")
        if crop is not None and resize is not None and crop > resize:
            raise ConfigError(f"{key}.preprocessing.crop", f"crop {crop} is larger than the resized shorter side {resize}")
        weights = ex.get("weights")
        if weights is not None and not str(weights).strip():
            raise ConfigError(f"{key}.weights", "empty weights name (use null for a random initialisation)")
    return out


def extractors_used(config) -> dict:
    """{extractor name: {layer: node}} for the configured layers that come from extractors, in config order."""
    extracted = extractor_layers(config)
    out = {}
    for layer in config["layers"]:
        if layer in extracted:
            name, node = extracted[layer]
            out.setdefault(name, {})[layer] = node
    return out


def extractor_params(config, name) -> dict:
    """Every setting of an extractor that changes its features (passed through params:, so a
    change reruns its layers' features and what depends on them, nothing else)."""
    ex = config["extractors"][name]
    return {key: ex[key] for key in ("library", "model", "weights", "seed", "preprocessing", "pca", "batch_size",
                                     "device", "cache_mb") if key in ex}


def network_params(config, name) -> dict:
    """The settings of an extractor that define its network's activations (not its PCA): what
    the images demo's voxels depend on."""
    ex = config["extractors"][name]
    return {key: ex[key] for key in ("library", "model", "weights", "seed", "preprocessing") if key in ex}


def extractor_uses_gpu(config, name) -> bool:
    """Whether an extractor's network runs on CUDA (decided without importing torch)."""
    import glob
    device = config["extractors"][name].get("device", "auto")
    return device == "cuda" or (device == "auto" and bool(glob.glob("/proc/driver/nvidia/gpus/*")))


def stimuli_path(subject, s) -> str:
    """Where a subject's stimulus file is: stimuli.path (read in place) or the fixed input path."""
    path = s.get("stimuli", {}).get("path")
    return path if path else layout.path(layout.INPUTS["stimuli"], subject=subject)


def _check_stimuli(config, subject, s, extracted_layers, extracted):
    key = f"subjects.{subject}"
    if s["source"] == "demo_images":
        d = s.get("demo_images", {})
        if "stimuli" not in s:
            raise ConfigError(f"{key}.stimuli", "source 'demo_images' needs a stimuli block (dataset, column, base)")
        if s["stimuli"].get("path"):
            raise ConfigError(f"{key}.stimuli.path", "source 'demo_images' generates its stimuli; remove the path")
        name = d.get("extractor")
        if name not in config.get("extractors", {}):
            raise ConfigError(f"{key}.demo_images.extractor", f"{name!r} is not a configured extractor "
                                                              f"({sorted(config.get('extractors', {}))})")
        foreign = [layer for layer in config["layers"] if extracted.get(layer, (None,))[0] != name]
        if foreign:
            raise ConfigError("layers", f"layer(s) {foreign} do not come from extractor '{name}', whose network "
                                        f"drives subject '{subject}' (its nodes: {list(config['extractors'][name]['nodes'])})")
        return
    if not extracted_layers:
        return
    if "stimuli" not in s:
        raise ConfigError(f"{key}.stimuli", f"layer(s) {extracted_layers} come from extractors: the subject needs a "
                                            "stimuli block (path or urls.stimuli, dataset, column, base)")
    path = s["stimuli"].get("path")
    if path:
        import os
        if not os.path.isfile(path):
            raise ConfigError(f"{key}.stimuli.path", f"file not found: {path}")
    elif s["source"] != "download" or "stimuli" not in s.get("urls", {}):
        raise ConfigError(f"{key}.stimuli", "give stimuli.path (a local file) or urls.stimuli (a download)")


def band_ratios(config) -> list:
    """ridge.band_ratios as floats: YAML reads ``1e-2`` (no decimal point) as text and
    ``--config`` reads every nested value as text; such strings are accepted as numbers."""
    out = []
    for k, v in enumerate(config["ridge"]["band_ratios"]):
        try:
            x = float(v) if not isinstance(v, bool) else None
        except (TypeError, ValueError):
            x = None
        if x is None or not math.isfinite(x) or x <= 0:
            raise ConfigError("ridge.band_ratios", f"position {k} is {v!r}: ratios between band lambdas must be "
                                                   "finite numbers > 0")
        out.append(x)
    return out


def _check_joint(config):
    r = config["ridge"]
    band_ratios(config)          # checked whatever the joint mode (a typo should not wait for 'banded')
    if r.get("joint", "concatenated") != "banded":
        return
    if r.get("intercept", "auto") == "penalized":
        raise ConfigError("ridge.intercept", "'penalized' cannot be combined with ridge.joint 'banded': banded ridge "
                                             "centres on the train split (an unpenalised intercept), and so must every "
                                             "model a banded partition compares; use 'auto' or 'unpenalized'")
    if r.get("refit", False):
        raise ConfigError("ridge.refit", "refit is not implemented for ridge.joint 'banded'")
    if r["lambdas"] != "reference":
        low = [v for v in parse_lambdas(r["lambdas"]) if v < 0]
        if low:
            raise ConfigError("ridge.lambdas", f"values {low} are negative: with ridge.joint 'banded' each band's "
                                               "lambda is the overall scale times a band multiplier, so the scales "
                                               "must be >= 0")


def _check_partition_sets(config):
    layers = list(config["layers"])
    for k, pset in enumerate(config.get("partition_sets", [])):
        unknown = [layer for layer in pset if layer not in layers]
        if unknown:
            raise ConfigError(f"partition_sets[{k}]", f"layer(s) {unknown} are not in 'layers' {layers}")
        if not 2 <= len(set(pset)) <= 4 or len(set(pset)) != len(pset):
            raise ConfigError(f"partition_sets[{k}]", f"a set has 2 to 4 different layers, got {list(pset)}")
    names = [layout.model_name(s) for s in partition_sets(config)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError("partition_sets", f"set(s) listed more than once: {dup}")


def partition_sets(config) -> list:
    """Each configured partition set as a tuple of layers in config order."""
    layers = list(config["layers"])
    return [tuple(layer for layer in layers if layer in set(pset)) for pset in config.get("partition_sets", [])]


def _known_colormaps():
    """matplotlib's colormaps and pycortex's (its colormaps/*.png), without importing pycortex."""
    import importlib.util
    import os
    import matplotlib
    names = set(matplotlib.colormaps)
    spec = importlib.util.find_spec("cortex")
    if spec is not None and spec.submodule_search_locations:
        folder = os.path.join(spec.submodule_search_locations[0], "colormaps")
        if os.path.isdir(folder):
            names |= {os.path.splitext(f)[0] for f in os.listdir(folder) if f.endswith(".png")}
    return names


def _check_maps(maps):
    scales = {k: v for k, v in maps.items() if isinstance(v, dict) and "cmap" in v}
    if not scales:
        return
    known = _known_colormaps()
    for key, scale in scales.items():
        if scale["cmap"] not in known:
            raise ConfigError(f"maps.{key}.cmap", f"unknown colormap {scale['cmap']!r} (matplotlib's or pycortex's names)")
        if not scale["vmin"] < scale["vmax"]:
            raise ConfigError(f"maps.{key}", f"vmin ({scale['vmin']}) must be below vmax ({scale['vmax']})")


def joint(config) -> str:
    return config["ridge"].get("joint", "concatenated")


def intercept(config) -> str:
    """The intercept handling of every fit: 'auto' resolves to penalized (concatenated) or
    unpenalized (banded; every model, single layers too, so that partitions compare like with like)."""
    value = config["ridge"].get("intercept", "auto")
    if value != "auto":
        return value
    return "unpenalized" if joint(config) == "banded" else "penalized"


def lambda_grid(config) -> list:
    if config["ridge"]["lambdas"] == "reference":
        grid = banded_reference_lambdas() if joint(config) == "banded" else reference_lambdas()
        return [float(x) for x in grid]
    return parse_lambdas(config["ridge"]["lambdas"])


def ridge_params(config, layers=None) -> dict:
    """Every setting that changes a fit's numbers (passed through params:, so a change reruns the fits).

    layers: the model's layers. With ridge.joint 'banded', a model of 2+ layers also gets
    joint and band_ratios (so changing the ratios reruns the joint fits only); with
    'concatenated' the dict is the one the workflow always passed (no rerun of old results).
    """
    r = config["ridge"]
    out = {"lambdas": lambda_grid(config), "intercept": intercept(config), "refit": r["refit"],
           "precision": r["input_precision"]}
    if joint(config) == "banded" and layers is not None and len(layers) > 1:
        out.update(joint="banded", band_ratios=band_ratios(config))
    return out


def uses_gpu(config) -> bool:
    """Whether fits and cross products will run on a GPU, decided without importing torch:
    device 'cuda', or 'auto' on a machine where an NVIDIA driver reports a GPU."""
    import glob
    if config["device"] == "cuda":
        return True
    return config["device"] == "auto" and bool(glob.glob("/proc/driver/nvidia/gpus/*"))


# The noise ceiling below which the R2 / noise-ceiling maps leave a voxel blank when
# summary.noise_ceiling_threshold is null (the summaries then report no R2 / NC).
NC_MAP_DEFAULT = 0.1


def nc_map_threshold(config) -> float:
    """The noise-ceiling threshold (fraction) of the R2 / noise-ceiling maps."""
    threshold = config["summary"]["noise_ceiling_threshold"]
    return NC_MAP_DEFAULT if threshold is None else threshold
