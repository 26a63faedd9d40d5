# pycortex flatmaps of every result and per-ROI figures, all in the HTML report.


rule pycortex_cache:
    """Build pycortex's caches once, under a lock, before map jobs read them in parallel."""
    input:
        ready=f"{PYCORTEX_STORE}/ready/{{subject}}.ok",
        roi_info="resources/{subject}/voxel_roi_info.npy",
    output:
        "results/{subject}/maps/.pycortex_cache.ok",
    params:
        m=map_params,
    log:
        "logs/{subject}/maps/pycortex_cache.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/pycortex_cache.py"


MAP_COMMON = dict(
    cache="results/{subject}/maps/.pycortex_cache.ok",
    roi_info="resources/{subject}/voxel_roi_info.npy",
)


rule map_best_layer:
    input:
        **MAP_COMMON,
        result="results/{subject}/best_layer.h5",
    output:
        report("results/{subject}/maps/best_layer.png", category="{subject}", subcategory="Flatmaps: best layer",
               caption="../report/map_best_layer.rst", labels={"map": "best layer"}),
    params:
        m=map_params,
        dataset="best_layer",
        colors=config["maps"]["best_layer"],
        title=lambda wc: f"{wc.subject}: best layer per voxel",
        legend=LAYERS,
    log:
        "logs/{subject}/maps/best_layer.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/flatmap.py"


rule map_layer_r2:
    input:
        **MAP_COMMON,
        result="results/{subject}/fits/{layer}.h5",
    output:
        report("results/{subject}/maps/r2/{layer}.png", category="{subject}", subcategory="Flatmaps: R2 per layer",
               caption="../report/map_r2.rst", labels={"layer": "{layer}"}),
    params:
        m=map_params,
        dataset="r2",
        colors=config["maps"]["r2"],
        title=lambda wc: f"{wc.subject}: validation R2, {wc.layer}",
        legend=None,
    log:
        "logs/{subject}/maps/r2_{layer}.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/flatmap.py"


rule map_partition:
    input:
        **MAP_COMMON,
        result="results/{subject}/partition/{a}+{b}.h5",
    output:
        report("results/{subject}/maps/partition/{a}+{b}/{kind}.png", category="{subject}",
               subcategory="Flatmaps: variance partitions", caption="../report/map_partition.rst",
               labels={"pair": "{a}+{b}", "map": "{kind}"}),
    params:
        m=map_params,
        dataset=lambda wc: wc.kind,
        colors=config["maps"]["partition"],
        title=partition_title,
        legend=None,
    log:
        "logs/{subject}/maps/partition_{a}+{b}_{kind}.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/flatmap.py"


rule roi_figures:
    input:
        partition="results/{subject}/summary/partition.tsv",
        counts="results/{subject}/summary/best_layer_counts.tsv",
    output:
        partition=report("results/{subject}/figures/partition_by_roi.png", category="{subject}",
                         subcategory="Figures per ROI", caption="../report/partition_by_roi.rst"),
        best=report("results/{subject}/figures/best_layer_by_roi.png", category="{subject}",
                    subcategory="Figures per ROI", caption="../report/best_layer_by_roi.rst"),
    params:
        layers=LAYERS,
    log:
        "logs/{subject}/figures.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/roi_figures.py"
