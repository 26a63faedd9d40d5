# Variance partitioning per layer pair, best layer per voxel, ROI summaries.


localrules:
    partition,
    partition_set,
    partition_sets_summary,
    best_layer,
    summaries,
    roi_summary,


rule partition:
    """unique A = R2_AB - R2_B, unique B = R2_AB - R2_A, shared = R2_AB - unique A - unique B."""
    input:
        a=layout.path(layout.FIT, subject="{subject}", model="{a}"),
        b=layout.path(layout.FIT, subject="{subject}", model="{b}"),
        ab=layout.path(layout.FIT, subject="{subject}", model="{a}+{b}"),
    output:
        layout.PARTITION,
    log:
        layout.LOG["partition"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../../scripts/partition.py"


rule partition_set:
    """Commonality components of a set of 2-4 layers: each layer's unique part, the parts
    shared by each subset of its layers, and the part common to all (they sum to R2 of the set).
    """
    input:
        fits=set_fits,
    output:
        layout.PARTITION_SET,
    log:
        layout.LOG["partition_set"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        layers=lambda wc: list(SETS_BY_NAME[wc.pset]),
    script:
        "../../scripts/partition_set.py"


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


rule best_layer:
    input:
        expand(layout.FIT, subject="{subject}", model=LAYERS),
    output:
        layout.BEST_LAYER,
    log:
        layout.LOG["best_layer"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        layers=LAYERS,
    script:
        "../../scripts/best_layer.py"


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
    """One ROI's rows of every summary, and its overview figure."""
    input:
        prepared=layout.PREPARED,
        fits=expand(layout.FIT, subject="{subject}", model=LAYERS),
        tables=expand(layout.SUMMARY, subject="{subject}", table=layout.SUMMARY_TABLES),
    output:
        summary=report(
            layout.ROI_SUMMARY,
            category="{subject}",
            subcategory="ROI {roi}",
            caption="../report/roi_summary.rst",
            labels={"roi": "{roi}", "result": "summary table"},
        ),
        overview=report(
            layout.ROI_OVERVIEW,
            category="{subject}",
            subcategory="ROI {roi}",
            caption="../report/roi_overview.rst",
            labels={"roi": "{roi}", "result": "overview figure"},
        ),
    log:
        layout.LOG["roi_summary"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        layers=LAYERS,
    script:
        "../../scripts/roi_summary.py"
