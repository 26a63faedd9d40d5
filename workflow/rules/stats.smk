# Which numbers are real: permutation p-values of every model's R2, a paired bootstrap of
# every pair's partition, Benjamini-Hochberg FDR per map. Statistics never change a fit.


rule stats_model:
    """Permutation test of one model's validation R2 (cyclic shifts of a seeded relabelling), BH q-values."""
    input:
        fit=layout.FIT,
        crossprod=model_crossprods,
        val=layout.path(layout.RESPONSES, subject="{subject}", split="val"),
        prepared=layout.PREPARED,
    output:
        layout.STATS_MODEL,
    log:
        layout.LOG["stats_model"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="stats_{model}")
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=4000, runtime=20),
    params:
        stats=STATS,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/stats_model.py"


rule stats_partition:
    """Paired bootstrap of a pair's unique and shared variance: intervals, p-values, BH q-values."""
    input:
        a=layout.path(layout.FIT, subject="{subject}", model="{a}"),
        b=layout.path(layout.FIT, subject="{subject}", model="{b}"),
        ab=layout.path(layout.FIT, subject="{subject}", model="{a}+{b}"),
        crossprod_a=layout.path(layout.CROSSPROD, subject="{subject}", layer="{a}"),
        crossprod_b=layout.path(layout.CROSSPROD, subject="{subject}", layer="{b}"),
        val=layout.path(layout.RESPONSES, subject="{subject}", split="val"),
        prepared=layout.PREPARED,
    output:
        layout.STATS_PARTITION,
    log:
        layout.LOG["stats_partition"],
    benchmark:
        layout.path(
            layout.BENCHMARK, subject="{subject}", job="stats_partition_{a}+{b}"
        )
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=4000, runtime=20),
    params:
        stats=STATS,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/stats_partition.py"


rule stats_partition_set:
    """Paired bootstrap of every commonality component of a partition set: intervals, p-values, BH q-values."""
    input:
        fits=set_fits,
        crossprod=lambda wc: [
            layout.path(layout.CROSSPROD, subject=wc.subject, layer=layer)
            for layer in SETS_BY_NAME[wc.pset]
        ],
        val=layout.path(layout.RESPONSES, subject="{subject}", split="val"),
        prepared=layout.PREPARED,
    output:
        layout.STATS_PARTITION_SET,
    log:
        layout.LOG["stats_partition_set"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="stats_set_{pset}")
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=4000, runtime=20),
    params:
        layers=lambda wc: list(SETS_BY_NAME[wc.pset]),
        stats=STATS,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/stats_partition_set.py"
