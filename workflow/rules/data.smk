# Inputs of each subject at the data contract's fixed paths: synthesised (demo) or downloaded.

localrules:
    demo_subject,
    download_file,
    pycortex_subject,


rule demo_anatomy:
    """S1's cortical and ROI masks from pycortex: slow (about a minute), done once."""
    output:
        f"{PYCORTEX_STORE}/cache/S1_fullhead_anatomy.npz",
    params:
        store=lambda wc, output: os.path.dirname(os.path.dirname(output[0])),
    log:
        "logs/demo_anatomy.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/demo_anatomy.py"


rule demo_subject:
    """A deterministic synthetic subject at the contract's paths, plus its ground truth."""
    input:
        anatomy=rules.demo_anatomy.output[0],
    output:
        betas="resources/{subject}/betas_avg_bigmask.hdf5",
        image_info="resources/{subject}/image_info.csv",
        roi_info="resources/{subject}/voxel_roi_info.npy",
        features=expand("resources/{{subject}}/features/{layer}.hdf5",
                        layer=config["subjects"][DEMO_SUBJECTS[0]]["demo"]["layers"] if DEMO_SUBJECTS else []),
        ground_truth="resources/{subject}/ground_truth.h5",
    params:
        demo=lambda wc: subject_cfg(wc.subject)["demo"],
    wildcard_constraints:
        subject=_alt(DEMO_SUBJECTS) if DEMO_SUBJECTS else "^$",
    log:
        "logs/{subject}/demo_subject.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/demo_subject.py"


rule download_file:
    """Streamed, retried, checksummed download, kept in a store outside the declared outputs
    (a rerun links the verified copy back instead of fetching it again)."""
    output:
        path="resources/{subject}/{name}",
        sha="resources/{subject}/{name}.sha256",
    params:
        url=lambda wc: download_url(wc)[0],
        sha256=lambda wc: download_url(wc)[1],
        stored=lambda wc: download_mod.store_path(download_url(wc)[0], wc.name),
    wildcard_constraints:
        subject=_alt(DOWNLOAD_SUBJECTS) if DOWNLOAD_SUBJECTS else "^$",
        name="betas_avg_bigmask\\.hdf5|image_info\\.csv|voxel_roi_info\\.npy|pycortex_db\\.zip|pycortex_config\\.cfg|features/[A-Za-z0-9_-]+\\.hdf5",
    log:
        "logs/{subject}/download/{name}.log",
    retries: 2
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/download.py"


rule pycortex_subject:
    """Put the subject's pycortex anatomy into the workflow's own filestore."""
    input:
        zip=lambda wc: (f"resources/{wc.subject}/pycortex_db.zip"
                        if subject_cfg(wc.subject)["source"] == "download" else []),
    output:
        f"{PYCORTEX_STORE}/ready/{{subject}}.ok",
    params:
        store=lambda wc, output: os.path.dirname(os.path.dirname(output[0])),
        pycortex_subject=lambda wc: pycortex_target(wc.subject)[0],
    log:
        "logs/{subject}/pycortex_subject.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    conda:
        "../../envs/encoding.yaml"
    script:
        "../../scripts/pycortex_subject.py"
