# Split, per-layer cross products, and one ridge fit per subject and model.


rule prepare:
    """Validate the subject's files; write its split, voxel selection and ROI membership."""
    input:
        unpack(subject_tables),
    output:
        "results/{subject}/prepared.h5",
    params:
        rois=ROIS,
        merged_rois=MERGED,
        split_seed=lambda wc: subject_cfg(wc.subject)["split_seed"],
        pct_holdout=config["split"]["pct_holdout"],
    log:
        "logs/{subject}/prepare.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/prepare.py"


rule crossprod:
    """Normalised features of one layer and X'Y on train and holdout, reused by every model with the layer."""
    input:
        unpack(subject_tables),
        features="resources/{subject}/features/{layer}.hdf5",
        prepared="results/{subject}/prepared.h5",
    output:
        "results/{subject}/crossprod/{layer}.h5",
    params:
        precision=config["ridge"]["input_precision"],
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    log:
        "logs/{subject}/crossprod/{layer}.log",
    benchmark:
        "results/{subject}/benchmarks/crossprod_{layer}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 6000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=1,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/crossprod.py"


rule fit:
    """Ridge for one model (a layer, or a pair A+B): lambda per voxel on holdout, R2 on val."""
    input:
        betas="resources/{subject}/betas_avg_bigmask.hdf5",
        prepared="results/{subject}/prepared.h5",
        crossprod=lambda wc: [f"results/{wc.subject}/crossprod/{l}.h5" for l in wc.model.split("+")],
    output:
        "results/{subject}/fits/{model}.h5",
    params:
        ridge=ridge_params(),
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    log:
        "logs/{subject}/fits/{model}.log",
    benchmark:
        "results/{subject}/benchmarks/fit_{model}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 6000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=1,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/fit.py"
