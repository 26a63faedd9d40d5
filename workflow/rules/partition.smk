# Variance partitioning per layer pair and partition set, best layer per voxel.


localrules:
    partition,
    partition_set,
    best_layer,


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
    priority: job_priority("fits", 0)
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
    priority: job_priority("fits", 0)
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


rule best_layer:
    input:
        expand(layout.FIT, subject="{subject}", model=LAYERS),
    output:
        layout.BEST_LAYER,
    log:
        layout.LOG["best_layer"],
    priority: job_priority("fits", 0)
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
