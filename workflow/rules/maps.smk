# pycortex flatmaps of every result and per-ROI figures, all in the HTML report.


rule pycortex_cache:
    """Build pycortex's caches once, under a lock, before map jobs read them in parallel."""
    input:
        ready=layout.path(layout.STORE_READY, store=PYCORTEX_STORE, subject="{subject}"),
        roi_info=input_path("roi_info"),
    output:
        ok=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
    log:
        layout.LOG["pycortex_cache"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        m=map_params,
        rois=ROIS,
        merged_rois=MERGED,
    script:
        "../../scripts/pycortex_cache.py"


# One flatmap of one dataset of a result file; the other map rules reuse this one.
rule map_layer_r2:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        roi_info=input_path("roi_info"),
        result=layout.path(layout.FIT, subject="{subject}", model="{layer}"),
        stats=map_mask_stats("r2"),
    output:
        report(
            layout.MAP_R2,
            category="{subject}",
            subcategory="Flatmaps: R2 per layer",
            caption="../report/map_r2.rst",
            labels={"layer": "{layer}"},
        ),
    log:
        layout.LOG["map_r2"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        m=map_params,
        dataset="r2",
        colors=config["maps"]["r2"],
        title=map_title("r2"),
        label=map_label("r2"),
        legend=None,
        mask=map_mask("r2"),
        noise_ceiling=None,
    script:
        "../../scripts/flatmap.py"


use rule map_layer_r2 as map_best_layer with:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        roi_info=input_path("roi_info"),
        result=layout.BEST_LAYER,
        stats=map_mask_stats("best_layer"),
    output:
        report(
            layout.MAP_BEST_LAYER,
            category="{subject}",
            subcategory="Flatmaps: best layer",
            caption="../report/map_best_layer.rst",
            labels={"map": "best layer"},
        ),
    log:
        layout.LOG["map_best_layer"],
    params:
        m=map_params,
        dataset="best_layer",
        colors=None,
        title=map_title("best_layer"),
        label=map_label("best_layer"),
        legend=LAYERS,
        mask=map_mask("best_layer"),
        noise_ceiling=None,


use rule map_layer_r2 as map_partition with:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        roi_info=input_path("roi_info"),
        result=layout.PARTITION,
        stats=map_mask_stats(),
    output:
        report(
            layout.MAP_PARTITION,
            category="{subject}",
            subcategory="Flatmaps: variance partitions",
            caption="../report/map_partition.rst",
            labels={"pair": "{a}+{b}", "map": "{kind}"},
        ),
    log:
        layout.LOG["map_partition"],
    params:
        m=map_params,
        dataset=lambda wc: wc.kind,
        colors=config["maps"]["partition"],
        title=map_title(),
        label=map_label(),
        legend=None,
        mask=map_mask(),
        noise_ceiling=None,


use rule map_layer_r2 as map_r2_over_nc with:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        roi_info=input_path("roi_info"),
        result=layout.path(layout.FIT, subject="{subject}", model="{layer}"),
        prepared=layout.PREPARED,
        stats=map_mask_stats("r2_over_nc"),
    output:
        report(
            layout.MAP_R2_OVER_NC,
            category="{subject}",
            subcategory="Flatmaps: R2 / noise ceiling per layer",
            caption="../report/map_r2_over_nc.rst",
            labels={"layer": "{layer}"},
        ),
    log:
        layout.LOG["map_r2_over_nc"],
    params:
        m=map_params,
        dataset="r2",
        colors=config["maps"]["r2_over_nc"],
        title=map_title("r2_over_nc"),
        label=map_label("r2_over_nc"),
        legend=None,
        mask=map_mask("r2_over_nc"),
        noise_ceiling=lambda wc, input: {
            "prepared": input.prepared,
            "threshold": NC_MAP_THRESHOLD,
        },


use rule map_layer_r2 as map_partition_set with:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        roi_info=input_path("roi_info"),
        result=layout.PARTITION_SET,
        stats=set_mask_stats,
    output:
        report(
            layout.MAP_PARTITION_SET,
            category="{subject}",
            subcategory="Flatmaps: partition sets",
            caption="../report/map_partition_set.rst",
            labels={"set": "{pset}", "map": "{component}"},
        ),
    log:
        layout.LOG["map_partition_set"],
    params:
        m=map_params,
        dataset=lambda wc: wc.component,
        colors=config["maps"]["partition"],
        title=set_map_title,
        label=set_map_label,
        legend=None,
        mask=set_mask,
        noise_ceiling=None,


rule roi_figures:
    input:
        partition=layout.path(layout.SUMMARY, subject="{subject}", table="partition"),
        counts=layout.path(
            layout.SUMMARY, subject="{subject}", table="best_layer_counts"
        ),
    output:
        partition=report(
            layout.FIGURES["partition"],
            category="{subject}",
            subcategory="Figures per ROI",
            caption="../report/partition_by_roi.rst",
        ),
        best=report(
            layout.FIGURES["best_layer"],
            category="{subject}",
            subcategory="Figures per ROI",
            caption="../report/best_layer_by_roi.rst",
        ),
    log:
        layout.LOG["roi_figures"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        layers=LAYERS,
    script:
        "../../scripts/roi_figures.py"
