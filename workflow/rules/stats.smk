# Which numbers are real: permutation p-values of every model's R2, a paired bootstrap of
# every pair's partition (one job per subject), of every partition set's components (one
# job per set), Benjamini-Hochberg FDR per map. Statistics never change a fit.


rule stats_subject:
    """Permutation tests of every model's R2 (cyclic shifts of a seeded relabelling) and paired bootstraps of every pair's unique and shared variance, BH q-values: one job per subject, so that the responses are read and what the models share is computed once."""
    input:
        fits=lambda wc: expand(layout.FIT, subject=wc.subject, model=MODELS),
        crossprod=lambda wc: expand(layout.CROSSPROD, subject=wc.subject, layer=LAYERS),
        val=layout.path(layout.RESPONSES, subject="{subject}", split="val"),
        prepared=layout.PREPARED,
    output:
        models=expand(layout.STATS_MODEL, model=MODELS, allow_missing=True),
        pairs=[
            layout.path(layout.STATS_PARTITION, subject="{subject}", a=a, b=b)
            for a, b in PAIRS
        ],
    log:
        layout.LOG["stats_subject"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="stats_subject")
    conda:
        ENV
    threads: config["stats"]["threads"]
    resources:
        **compute_resources(mem_mb=4000, runtime=30),
    params:
        models=MODELS,
        layers=LAYERS,
        pairs=PAIRS,
        stats=STATS_PARAMS,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/stats_subject.py"


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
        stats=STATS_PARAMS,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/stats_partition_set.py"
