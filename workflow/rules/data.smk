# Inputs of each subject at the data contract's fixed paths: synthesised (demo) or downloaded.


localrules:
    demo_subject,
    download_file,
    pycortex_subject,


rule demo_anatomy:
    """S1's cortical and ROI masks from pycortex (about 15 s), done once."""
    output:
        layout.path(layout.STORE_ANATOMY, store=PYCORTEX_STORE),
    log:
        layout.LOG["demo_anatomy"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        store=lambda wc: PYCORTEX_STORE,
    script:
        "../../scripts/demo_anatomy.py"


rule demo_subject:
    """A deterministic synthetic subject at the contract's paths, plus its ground truth."""
    input:
        anatomy=rules.demo_anatomy.output[0],
    output:
        **{key: layout.INPUTS[key] for key in ("betas", "image_info", "roi_info")},
        features=expand(
            layout.FEATURES,
            subject="{subject}",
            layer=(
                config["subjects"][DEMO_SUBJECTS[0]]["demo"]["layers"]
                if DEMO_SUBJECTS
                else []
            ),
        ),
        ground_truth=layout.GROUND_TRUTH,
    log:
        layout.LOG["demo_subject"],
    wildcard_constraints:
        subject=_alt(DEMO_SUBJECTS),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        demo=lambda wc: subject_cfg(wc.subject)["demo"],
    script:
        "../../scripts/demo_subject.py"


rule download_file:
    """Streamed, retried, checksummed download, kept in a store outside the declared outputs
    (a rerun links the verified copy back instead of fetching it again)."""
    output:
        path=f"{layout.SUBJECT_DIR}/{{name}}",
        sha=f"{layout.SUBJECT_DIR}/{{name}}{layout.CHECKSUM_SUFFIX}",
    log:
        layout.LOG["download"],
    wildcard_constraints:
        subject=_alt(DOWNLOAD_SUBJECTS),
        name=download_names(),
    retries: 2
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    params:
        url=lambda wc: download_url(wc)[0],
        sha256=lambda wc: download_url(wc)[1],
        stored=lambda wc: download_mod.store_path(download_url(wc)[0], wc.name),
    script:
        "../../scripts/download.py"


rule pycortex_subject:
    """Put the subject's pycortex anatomy into the workflow's own filestore."""
    input:
        zip=lambda wc: (
            layout.path(layout.INPUTS["pycortex_db"], subject=wc.subject)
            if subject_cfg(wc.subject)["source"] == "download"
            else subject_cfg(wc.subject).get("files", {}).get("pycortex_db", [])
        ),
        checked=pycortex_db_checks,
    output:
        layout.path(layout.STORE_READY, store=PYCORTEX_STORE, subject="{subject}"),
    log:
        layout.LOG["pycortex_subject"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        store=lambda wc: PYCORTEX_STORE,
        pycortex_subject=lambda wc: pycortex_target(wc.subject)[0],
    script:
        "../../scripts/pycortex_subject.py"


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
