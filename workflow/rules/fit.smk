# Per-layer cross products, and one ridge fit per subject and model.


rule crossprod:
    """Normalised features of one layer and X'Y on train and holdout, reused by every model with the layer."""
    input:
        **{
            split: layout.path(layout.RESPONSES, subject="{subject}", split=split)
            for split in ("trn", "holdout")
        },
        features=input_path("features"),
        prepared=layout.PREPARED,
        checked=feature_checks,
    output:
        layout.CROSSPROD,
    log:
        layout.LOG["crossprod"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="crossprod_{layer}")
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=2000, runtime=30),
    params:
        precision=config["ridge"]["input_precision"],
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/crossprod.py"


rule fit:
    """Ridge for one model (a layer, or layers A+B[+...]): lambda(s) per voxel on holdout, R2 on val."""
    input:
        **{
            split: layout.path(layout.RESPONSES, subject="{subject}", split=split)
            for split in SPLITS
        },
        prepared=layout.PREPARED,
        crossprod=model_crossprods,
    output:
        layout.FIT,
    log:
        layout.LOG["fit"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="fit_{model}")
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=2000, runtime=30),
    params:
        ridge=fit_params,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/fit.py"
