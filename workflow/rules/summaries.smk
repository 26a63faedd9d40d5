# Per-ROI tables answering the reference's questions, the partition sets' table, and each
# ROI's own rows and overview figure.


localrules:
    summaries,
    roi_summary,
    partition_sets_summary,


rule summaries:
    """Per-ROI tables: R2 per layer (Q1), best-layer counts (Q2), partitions (Q4, Q6)."""
    input:
        prepared=layout.PREPARED,
        fits=expand(layout.FIT, subject="{subject}", model=LAYERS),
        best_layer=layout.BEST_LAYER,
        partitions=[
            layout.path(layout.PARTITION, subject="{subject}", a=a, b=b)
            for a, b in PAIRS
        ],
        stats=layer_stats,
        stats_partition=pair_stats,
    output:
        layer_r2=report(
            layout.path(layout.SUMMARY, subject="{subject}", table="layer_r2"),
            category="{subject}",
            subcategory="Tables",
            caption="../report/layer_r2.rst",
        ),
        counts=report(
            layout.path(
                layout.SUMMARY, subject="{subject}", table="best_layer_counts"
            ),
            category="{subject}",
            subcategory="Tables",
            caption="../report/best_layer_counts.rst",
        ),
        partition=report(
            layout.path(layout.SUMMARY, subject="{subject}", table="partition"),
            category="{subject}",
            subcategory="Tables",
            caption="../report/partition_tsv.rst",
        ),
    log:
        layout.LOG["summaries"],
    priority: job_priority("maps")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        layers=LAYERS,
        pairs=PAIRS,
        nc_threshold=config["summary"]["noise_ceiling_threshold"],
        fdr_q=STATS["fdr_q"] if STATS_ON else None,
    script:
        "../../scripts/summaries.py"


rule roi_summary:
    """Each ROI's rows of every summary, and its overview figure (one job per subject)."""
    input:
        prepared=layout.PREPARED,
        fits=expand(layout.FIT, subject="{subject}", model=LAYERS),
        tables=expand(layout.SUMMARY, subject="{subject}", table=layout.SUMMARY_TABLES),
    output:
        summaries=[
            report(
                layout.path(layout.ROI_SUMMARY, subject="{subject}", roi=roi),
                category="{subject}",
                subcategory=f"ROI {roi}",
                caption="../report/roi_summary.rst",
                labels={"roi": roi, "result": "summary table"},
            )
            for roi in ROIS
        ],
        overviews=[
            layout.path(layout.ROI_OVERVIEW, subject="{subject}", roi=roi)
            for roi in ROIS
        ],
        overview_lights=[
            report(
                layout.report_copy(
                    layout.path(layout.ROI_OVERVIEW, subject="{subject}", roi=roi)
                ),
                category="{subject}",
                subcategory=f"ROI {roi}",
                caption="../report/roi_overview.rst",
                labels={"roi": roi, "result": "overview figure"},
            )
            for roi in ROIS
        ],
    log:
        layout.LOG["roi_summary"],
    priority: job_priority("maps")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        layers=LAYERS,
        rois=ROIS,
        precision=config["ridge"]["input_precision"],
    script:
        "../../scripts/roi_summary.py"


rule partition_sets_summary:
    """Per ROI, set and component: n_voxels, n_undefined, median, min, max."""
    input:
        prepared=layout.PREPARED,
        sets=lambda wc: set_files(wc.subject),
        stats=lambda wc: set_stats(wc.subject),
    output:
        report(
            layout.path(
                layout.SUMMARY, subject="{subject}", table=layout.PARTITION_SETS_TABLE
            ),
            category="{subject}",
            subcategory="Tables",
            caption="../report/partition_sets_tsv.rst",
        ),
    log:
        layout.LOG["partition_set_summary"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        sets=[list(s) for s in SETS],
        fdr_q=STATS["fdr_q"] if STATS_ON else None,
    script:
        "../../scripts/partition_sets_summary.py"
