# Helpers of maps.smk only: which map files a subject gets, each map's pycortex settings,
# title, colour-bar label, and the statistics that mask it.
from types import SimpleNamespace

MASK_ON = STATS_ON and config["maps"]["mask"] == "fdr"


# R2 / noise-ceiling maps leave voxels below this noise ceiling blank
NC_MAP_THRESHOLD = configuration.nc_map_threshold(config)


def map_files(subject):
    return (
        [layout.path(layout.MAP_BEST_LAYER, subject=subject)]
        + expand(layout.MAP_R2, subject=subject, layer=LAYERS)
        + expand(layout.MAP_R2_OVER_NC, subject=subject, layer=LAYERS)
        + [
            layout.path(layout.MAP_PARTITION, subject=subject, a=a, b=b, kind=k)
            for a, b in PAIRS
            for k in layout.PARTITION_KINDS
        ]
        + [
            layout.path(layout.MAP_PARTITION_SET, subject=subject, pset=n, component=c)
            for n, s in zip(SET_NAMES, SETS)
            for c in layout.set_map_components(s)
        ]
    )


def map_params(wildcards):
    p_subject, xfm = pycortex_target(wildcards.subject)
    roi_list = subject_cfg(wildcards.subject)["pycortex"]["roi_list"]
    if (
        roi_list is None
        and subject_cfg(wildcards.subject)["source"] in configuration.SYNTHETIC_SOURCES
    ):
        roi_list = layout.S1_OUTLINES
    return {
        "pycortex_subject": p_subject,
        "xfm": xfm,
        "height": config["maps"]["height"],
        "with_rois": config["maps"]["with_rois"],
        "roi_list": roi_list,
        "store": PYCORTEX_STORE,
    }


def map_mask_stats(kind=None):
    """The statistics file(s) that mask a map of the given kind (or of the {kind}
    wildcard) under maps.mask: fdr; none when the map is drawn unmasked."""

    def inner(wildcards):
        k = kind or wildcards.kind
        if not MASK_ON or k not in layout.MAP_MASK_Q:
            return []
        source = layout.MAP_MASK_Q[k][0]
        s = wildcards.subject
        if source == "model":
            return [layout.path(layout.STATS_MODEL, subject=s, model=wildcards.layer)]
        if source == "layers":
            return expand(layout.STATS_MODEL, subject=s, model=LAYERS)
        if source == "joint":
            model = layout.model_name((wildcards.a, wildcards.b))
            return [layout.path(layout.STATS_MODEL, subject=s, model=model)]
        return [
            layout.path(layout.STATS_PARTITION, subject=s, a=wildcards.a, b=wildcards.b)
        ]

    return inner


def set_mask_stats(wildcards):
    """The set's statistics when its drawn component is masked (a layer's unique part)."""
    if not MASK_ON or layout.set_unique_q(wildcards.component) is None:
        return []
    return [
        layout.path(
            layout.STATS_PARTITION_SET, subject=wildcards.subject, pset=wildcards.pset
        )
    ]


def set_mask(wildcards):
    q_key = layout.set_unique_q(wildcards.component)
    if not MASK_ON or q_key is None:
        return None
    return {"q_key": q_key, "fdr_q": STATS["fdr_q"]}


def map_mask(kind=None):
    """params.mask of a map rule: which q-values at which level, or None (draw everything)."""

    def inner(wildcards):
        k = kind or wildcards.kind
        if not MASK_ON or k not in layout.MAP_MASK_Q:
            return None
        return {"q_key": layout.MAP_MASK_Q[k][1], "fdr_q": STATS["fdr_q"]}

    return inner


def map_spec(kind, names, dataset, colors, legend=None, nc_threshold=None):
    """What one flatmap of a batched map job draws (stages.maps.draw_flatmaps): the dataset,
    colours, title, colour-bar label, FDR mask and its statistics files, and the
    noise-ceiling threshold of R2 / NC maps. names: the job's wildcards as a dict."""
    wc = SimpleNamespace(kind=kind, **names)
    return {
        "dataset": dataset,
        "colors": colors or {"cmap": None, "vmin": None, "vmax": None},
        "title": layout.map_title(kind, **names),
        "label": layout.map_colorbar_label(kind, **names),
        "legend": legend,
        "mask": map_mask(kind)(wc),
        "mask_stats": map_mask_stats(kind)(wc),
        "nc_threshold": nc_threshold,
    }


def layer_map_specs(wildcards):
    """A layer's maps: its validation R2 and its R2 / noise ceiling."""
    names = dict(wildcards.items())
    return [
        map_spec("r2", names, "r2", config["maps"]["r2"]),
        map_spec(
            "r2_over_nc",
            names,
            "r2",
            config["maps"]["r2_over_nc"],
            nc_threshold=NC_MAP_THRESHOLD,
        ),
    ]


def pairs_map_specs(pairs):
    """The maps of layer pairs (a params function): one per partition kind of each pair
    (layout.PARTITION_KINDS order), the pairs in the given order."""
    return lambda wildcards: [
        map_spec(
            kind,
            {"subject": wildcards.subject, "a": a, "b": b},
            kind,
            config["maps"]["partition"],
        )
        for a, b in pairs
        for kind in layout.PARTITION_KINDS
    ]


def specs_stats(specs):
    """The statistics files that the maps of a job read for their masks (input function)."""
    return lambda wildcards: sorted(
        {p for spec in specs(wildcards) for p in spec["mask_stats"]}
    )


def best_layer_map_spec(wildcards):
    """The best-layer map: layer indices in the palette's layer colours."""
    names = dict(wildcards.items())
    return map_spec("best_layer", names, "best_layer", None, legend=LAYERS)


def set_map_spec(wildcards):
    """One drawn component of a partition set: a layer's unique part (masked by its own
    q-values) or the part common to all (unmasked, like shared variance)."""
    kind, names = layout.set_map_kind(wildcards.component)
    return {
        "dataset": wildcards.component,
        "colors": config["maps"]["partition"],
        "title": layout.map_title(
            kind, subject=wildcards.subject, pset=wildcards.pset, **names
        ),
        "label": layout.map_colorbar_label(kind, pset=wildcards.pset, **names),
        "legend": None,
        "mask": set_mask(wildcards),
        "mask_stats": set_mask_stats(wildcards),
        "nc_threshold": None,
    }
