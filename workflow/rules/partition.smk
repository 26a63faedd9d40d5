# Variance partitioning per layer pair, best layer per voxel, ROI summaries.

localrules:
    partition,
    best_layer,
    summaries,


rule partition:
    """unique A = R2_AB - R2_B, unique B = R2_AB - R2_A, shared = R2_AB - unique A - unique B."""
    input:
        a="results/{subject}/fits/{a}.h5",
        b="results/{subject}/fits/{b}.h5",
        ab="results/{subject}/fits/{a}+{b}.h5",
    output:
        "results/{subject}/partition/{a}+{b}.h5",
    log:
        "logs/{subject}/partition/{a}+{b}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/partition.py"


rule best_layer:
    input:
        expand("results/{{subject}}/fits/{layer}.h5", layer=LAYERS),
    output:
        "results/{subject}/best_layer.h5",
    params:
        layers=LAYERS,
    log:
        "logs/{subject}/best_layer.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/best_layer.py"


rule summaries:
    """Per-ROI tables: R2 per layer (Q1), best-layer counts (Q2), partitions (Q4, Q6)."""
    input:
        prepared="results/{subject}/prepared.h5",
        fits=expand("results/{{subject}}/fits/{layer}.h5", layer=LAYERS),
        best_layer="results/{subject}/best_layer.h5",
        partitions=expand("results/{{subject}}/partition/{pair}.h5", pair=PAIR_NAMES),
    output:
        layer_r2=report("results/{subject}/summary/layer_r2.tsv", category="{subject}", subcategory="Tables",
                        caption="../report/layer_r2.rst"),
        counts=report("results/{subject}/summary/best_layer_counts.tsv", category="{subject}", subcategory="Tables",
                      caption="../report/best_layer_counts.rst"),
        partition=report("results/{subject}/summary/partition.tsv", category="{subject}", subcategory="Tables",
                         caption="../report/partition_tsv.rst"),
    params:
        layers=LAYERS,
        pairs=PAIRS,
        nc_threshold=config["summary"]["noise_ceiling_threshold"],
    log:
        "logs/{subject}/summaries.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/summaries.py"
