# Helpers of the group level and of local subjects (input functions and target lists),
# included right after common.smk so that every rule file can use them.
import types


def local_file(wildcards):
    """The file of a local subject that the {name} wildcard names (read in place)."""
    key, layer = layout.input_key(wildcards.name)
    files = subject_cfg(wildcards.subject)["files"]
    return files["features"][layer] if layer else files[key]


def subject_input(subject, key):
    """A subject's input file ``key`` (not features) outside an input function."""
    return input_path(key)(types.SimpleNamespace(subject=subject))


def local_names():
    """The file names (relative to a subject's folder, as layout.input_key reads them) of
    the local subjects' files: the local_check rule's {name} values."""
    names = {layout.INPUT_NAMES[k] for k in layout.INPUT_NAMES}
    for s in LOCAL_SUBJECTS:
        for layer in subject_cfg(s)["files"].get("features", {}):
            names.add(layout.path(layout.FEATURES_NAME, layer=layer))
    return "|".join(re.escape(n) for n in sorted(names)) or "^$"


def local_stamp(wildcards):
    """The local file's ``file_stamp`` (a param of local_check): a file replaced since its
    check reruns the check, and so every job that reads it."""
    return file_stamp(local_file(wildcards))


def local_pin(wildcards):
    """(config key, pinned sha256 or None) of a local subject's file."""
    key, layer = layout.input_key(wildcards.name)
    pins = subject_cfg(wildcards.subject).get("sha256", {})
    pin = pins.get(key, {}).get(layer) if layer else pins.get(key)
    return configuration.local_key(wildcards.subject, key, layer), pin


def local_checks(subject, keys, layer=None):
    """{check_<key>: its check record} for a local subject's files ``keys`` (features: of
    ``layer``); empty for other subjects."""
    if subject not in LOCAL_SUBJECTS:
        return {}
    return {
        f"check_{key}": layout.path(
            layout.LOCAL_CHECK,
            subject=subject,
            name=(
                layout.path(layout.FEATURES_NAME, layer=layer)
                if key == "features"
                else layout.INPUT_NAMES[key]
            ),
        )
        for key in keys
    }


def feature_checks(wildcards):
    """The check record of a local subject's features of the {layer} wildcard (fit_layer)."""
    return list(local_checks(wildcards.subject, ["features"], wildcards.layer).values())


def pycortex_db_checks(wildcards):
    if "pycortex_db" not in subject_cfg(wildcards.subject).get("files", {}):
        return []
    return list(local_checks(wildcards.subject, ["pycortex_db"]).values())


def group_inputs(wildcards):
    out = {}
    for k, s in enumerate(GROUP_SUBJECTS):
        for t in ("layer_r2", "best_layer_counts", "partition"):
            out[f"{t}_{k}"] = layout.path(layout.SUMMARY, subject=s, table=t)
        out[f"prepared_{k}"] = layout.path(layout.PREPARED, subject=s)
    return out


def group_outputs():
    if not GROUP_ON:
        return []
    return (
        expand(layout.GROUP_SUMMARY, table=layout.GROUP_TABLES)
        + list(layout.GROUP_FIGURES.values())
        + [layout.GROUP_REPORT, layout.GROUP_ANSWERS]
    )
