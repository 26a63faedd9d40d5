# Which numbers are real: permutation p-values of every model's R2, a paired bootstrap of
# every pair's partition (one job per layer), of every partition set's components (one
# job per set), Benjamini-Hochberg FDR per map. Statistics never change a fit.


# One statistics job per layer (layout.jobs_by_layer): the permutation tests of the
# models and the bootstraps of the pairs that the layer added, in one pass over the voxels
# (the responses read once, what its models share computed once). Appending a layer adds a
# job and reruns none of the others, so no other model's maps rerun.
for _layer, _plan in layout.jobs_by_layer(LAYERS).items():
    _fits = list(dict.fromkeys(_plan["tested"] + [a for a, _ in _plan["pairs"]]))
    _designs = list(
        dict.fromkeys(layer for m in _fits for layer in layout.model_layers(m))
    )

    rule:
        name:
            f"stats_layer_{_layer}"
        input:
            fits=[layout.path(layout.FIT, subject="{subject}", model=m) for m in _fits],
            crossprod=[
                layout.path(layout.CROSSPROD, subject="{subject}", layer=layer)
                for layer in _designs
            ],
            val=layout.path(layout.RESPONSES, subject="{subject}", split="val"),
            prepared=layout.PREPARED,
        output:
            models=[
                layout.path(layout.STATS_MODEL, subject="{subject}", model=m)
                for m in _plan["tested"]
            ],
            pairs=[
                layout.path(layout.STATS_PARTITION, subject="{subject}", a=a, b=b)
                for a, b in _plan["pairs"]
            ],
        log:
            layout.path(layout.LOG["stats_layer"], subject="{subject}", layer=_layer),
        benchmark:
            layout.path(
                layout.BENCHMARK, subject="{subject}", job=f"stats_layer_{_layer}"
            )
        priority: job_priority("stats", LAYERS.index(_layer))
        conda:
            ENV
        threads: config["job_threads"]
        resources:
            **compute_resources(mem_mb=4000, runtime=20),
        params:
            fits=_fits,
            designs=_designs,
            tested=_plan["tested"],
            pairs=_plan["pairs"],
            stats=STATS,
            batch_size=config["ridge"]["batch_size"],
            device=config["device"],
        script:
            "../../scripts/stats_layer.py"


rule stats_model:
    """Permutation test of the R2 of a partition set's model of 3+ layers (one job each, so that adding a set reruns no layer's statistics)."""
    input:
        fits=[layout.FIT],
        crossprod=model_crossprods,
        val=layout.path(layout.RESPONSES, subject="{subject}", split="val"),
        prepared=layout.PREPARED,
    output:
        models=[layout.STATS_MODEL],
        pairs=[],
    log:
        layout.LOG["stats_model"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="stats_model_{model}")
    wildcard_constraints:
        model=_alt(SET_ONLY_MODELS),
    priority: job_priority("stats")
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=4000, runtime=20),
    params:
        fits=lambda wc: [wc.model],
        designs=lambda wc: layout.model_layers(wc.model),
        tested=lambda wc: [wc.model],
        pairs=[],
        stats=STATS,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/stats_layer.py"


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
    priority: job_priority("stats")
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
