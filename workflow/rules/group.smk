# Across subjects: a local subject's files checked in place, the group's common validation
# images (split.validation: shared_by_all), and the group tables, figures and page.


localrules:
    local_check,
    common_validation,
    group,


rule local_check:
    """A local subject's file: format signature and pinned sha256 checked where it lies, its sha256 recorded (the file is never an output)."""
    input:
        local_file,
    output:
        layout.LOCAL_CHECK,
    log:
        layout.LOG["local_check"],
    wildcard_constraints:
        subject=_alt(LOCAL_SUBJECTS),
        name=local_names(),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=200,
        runtime=30,
    params:
        key=lambda wc: local_pin(wc)[0],
        sha256=lambda wc: local_pin(wc)[1],
        stamp=local_stamp,
    script:
        "../../scripts/local_check.py"


rule common_validation:
    """The shared1000 images that every subject of the group saw (n_reps > 0)."""
    input:
        lambda wc: [subject_input(s, "image_info") for s in GROUP_SUBJECTS],
    output:
        layout.COMMON_VALIDATION,
    log:
        layout.LOG["common_validation"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        subjects=GROUP_SUBJECTS,
    script:
        "../../scripts/common_validation.py"


rule group:
    """Per ROI across subjects: mean, SEM, sign-flip p and BH q of each layer's R2 and each pair's unique and shared variance; best layer per subject and for the group."""
    input:
        unpack(group_inputs),
    output:
        **{t: layout.path(layout.GROUP_SUMMARY, table=t) for t in layout.GROUP_TABLES},
        fig_layer_r2=report(
            layout.GROUP_FIGURES["layer_r2"],
            category="0 Overview",
            subcategory="group",
            caption="../report/group_layer_r2.rst",
        ),
        fig_partition=report(
            layout.GROUP_FIGURES["partition"],
            category="0 Overview",
            subcategory="group",
            caption="../report/group_partition.rst",
        ),
        answers=layout.GROUP_ANSWERS,
        page=report(
            layout.GROUP_REPORT,
            category="0 Overview",
            subcategory="group",
            caption="../report/group_overview.rst",
            labels={"subject": "group", "page": "answers across subjects"},
        ),
    log:
        layout.LOG["group"],
    benchmark:
        layout.GROUP_BENCHMARK
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        subjects=GROUP_SUBJECTS,
        layers=LAYERS,
        permutations=config["group"]["permutations"],
        seed=config["group"]["seed"],
        fdr_q=STATS["fdr_q"],
        validation=VALIDATION,
        subject_pages={
            s: layout.path(layout.REPORT_OVERVIEW, subject=s) for s in GROUP_SUBJECTS
        },
    script:
        "../../scripts/group.py"
