# pycortex flatmaps of every result and per-ROI figures, all in the HTML report.


rule pycortex_cache:
    """Build pycortex's caches once, under a lock, before map jobs read them in parallel."""
    input:
        ready=layout.path(layout.STORE_READY, store=PYCORTEX_STORE, subject="{subject}"),
        roi_info=input_path("roi_info"),
    output:
        ok=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        overlay=layout.ROI_OVERLAY,
    log:
        layout.LOG["pycortex_cache"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        pycortex=map_params,
        rois=ROIS,
        merged_rois=MERGED,
    script:
        "../../scripts/pycortex_cache.py"


# The maps of one result file in one job (pycortex and matplotlib are imported once): a
# layer's R2 and R2 / noise ceiling, a pair's four partition maps. params.maps says what
# each output shows (stages.maps.draw_flatmaps), so a colour or mask change reruns them.
rule map_layer:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        overlay=layout.ROI_OVERLAY,
        roi_info=input_path("roi_info"),
        result=layout.path(layout.FIT, subject="{subject}", model="{layer}"),
        prepared=layout.PREPARED,
        stats=specs_stats(layer_map_specs),
    output:
        png=[layout.MAP_R2, layout.MAP_R2_OVER_NC],
        light=[
            report(
                layout.report_copy(layout.MAP_R2),
                category="{subject}",
                subcategory="Flatmaps: R2 per layer",
                caption="../report/map_r2.rst",
                labels={"layer": "{layer}"},
            ),
            report(
                layout.report_copy(layout.MAP_R2_OVER_NC),
                category="{subject}",
                subcategory="Flatmaps: R2 / noise ceiling per layer",
                caption="../report/map_r2_over_nc.rst",
                labels={"layer": "{layer}"},
            ),
        ],
    log:
        layout.LOG["map_layer"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        pycortex=map_params,
        maps=layer_map_specs,
    script:
        "../../scripts/flatmap.py"


# A layer's pairs with the earlier layers (layout.jobs_by_layer): their partition
# maps in one job. Appending a layer adds its job and redraws no other pair's maps.
for _layer, _plan in layout.jobs_by_layer(LAYERS).items():
    if not _plan["pairs"]:
        continue

    rule:
        name:
            f"map_pairs_{_layer}"
        input:
            cache=layout.MAP_CACHE_OK,
            outlines=layout.ROI_OUTLINES,
            overlay=layout.ROI_OVERLAY,
            roi_info=input_path("roi_info"),
            results=[
                layout.path(layout.PARTITION, subject="{subject}", a=a, b=b)
                for a, b in _plan["pairs"]
            ],
            prepared=layout.PREPARED,
            stats=specs_stats(pairs_map_specs(_plan["pairs"])),
        output:
            png=[
                layout.path(
                    layout.MAP_PARTITION, subject="{subject}", a=a, b=b, kind=kind
                )
                for a, b in _plan["pairs"]
                for kind in layout.PARTITION_KINDS
            ],
            light=[
                report(
                    layout.report_copy(
                        layout.path(
                            layout.MAP_PARTITION,
                            subject="{subject}",
                            a=a,
                            b=b,
                            kind=kind,
                        )
                    ),
                    category="{subject}",
                    subcategory="Flatmaps: variance partitions",
                    caption="../report/map_partition.rst",
                    labels={"pair": f"{a}+{b}", "map": kind},
                )
                for a, b in _plan["pairs"]
                for kind in layout.PARTITION_KINDS
            ],
        log:
            layout.path(layout.LOG["map_pairs"], subject="{subject}", layer=_layer),
        priority: job_priority("maps", len(_plan["pairs"]))
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=3000,
            runtime=10,
        params:
            pycortex=map_params,
            maps=pairs_map_specs(_plan["pairs"]),
            result_index=[
                k for k in range(len(_plan["pairs"])) for _ in layout.PARTITION_KINDS
            ],
        script:
            "../../scripts/flatmap.py"


use rule map_layer as map_best_layer with:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        overlay=layout.ROI_OVERLAY,
        roi_info=input_path("roi_info"),
        result=layout.BEST_LAYER,
        prepared=layout.PREPARED,
        stats=specs_stats(lambda wc: [best_layer_map_spec(wc)]),
    output:
        png=[layout.MAP_BEST_LAYER],
        light=[
            report(
                layout.report_copy(layout.MAP_BEST_LAYER),
                category="{subject}",
                subcategory="Flatmaps: best layer",
                caption="../report/map_best_layer.rst",
                labels={"map": "best layer"},
            )
        ],
    log:
        layout.LOG["map_best_layer"],
    params:
        pycortex=map_params,
        maps=lambda wc: [best_layer_map_spec(wc)],


use rule map_layer as map_partition_set with:
    input:
        cache=layout.MAP_CACHE_OK,
        outlines=layout.ROI_OUTLINES,
        overlay=layout.ROI_OVERLAY,
        roi_info=input_path("roi_info"),
        result=layout.PARTITION_SET,
        prepared=layout.PREPARED,
        stats=set_mask_stats,
    output:
        png=[layout.MAP_PARTITION_SET],
        light=[
            report(
                layout.report_copy(layout.MAP_PARTITION_SET),
                category="{subject}",
                subcategory="Flatmaps: partition sets",
                caption="../report/map_partition_set.rst",
                labels={"set": "{pset}", "map": "{component}"},
            )
        ],
    log:
        layout.LOG["map_partition_set"],
    params:
        pycortex=map_params,
        maps=lambda wc: [set_map_spec(wc)],


rule roi_figures:
    input:
        partition=layout.path(layout.SUMMARY, subject="{subject}", table="partition"),
        prepared=layout.PREPARED,
        counts=layout.path(
            layout.SUMMARY, subject="{subject}", table="best_layer_counts"
        ),
    output:
        partition=layout.FIGURES["partition"],
        best=layout.FIGURES["best_layer"],
        partition_light=report(
            layout.report_copy(layout.FIGURES["partition"]),
            category="{subject}",
            subcategory="Figures per ROI",
            caption="../report/partition_by_roi.rst",
        ),
        best_light=report(
            layout.report_copy(layout.FIGURES["best_layer"]),
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
        precision=config["ridge"]["input_precision"],
    script:
        "../../scripts/roi_figures.py"
