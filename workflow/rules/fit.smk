# Split, per-layer cross products, and one ridge fit per subject and model.

# What a cross product or a fit job asks for (one definition for both rules): a GPU only
# where the solver will use one (then the profile's gpu cap serialises them), otherwise
# job_threads cores each, so that cores / job_threads jobs run side by side.
COMPUTE_RESOURCES = dict(
    mem_mb=lambda wc, attempt: 2000 * attempt,
    runtime=lambda wc, attempt: 30 * attempt,
    gpu=1 if configuration.uses_gpu(config) else 0,
)


rule prepare:
    """Validate the subject's files; write its split, voxel selection and ROI membership."""
    input:
        unpack(subject_tables),
    output:
        **{
            split: layout.path(layout.RESPONSES, subject="{subject}", split=split)
            for split in SPLITS
        },
        prepared=layout.PREPARED,
    log:
        layout.LOG["prepare"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="prepare")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        rois=ROIS,
        merged_rois=MERGED,
        split_seed=lambda wc: subject_cfg(wc.subject)["split_seed"],
        pct_holdout=config["split"]["pct_holdout"],
        precision=config["ridge"]["input_precision"],
        splits=SPLITS,
    script:
        "../../scripts/prepare.py"


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
        **COMPUTE_RESOURCES,
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
        **COMPUTE_RESOURCES,
    params:
        ridge=fit_params,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/fit.py"
