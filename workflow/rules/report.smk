# The report's pages: the answers per subject (HTML tables from the summary TSVs), the
# methods and provenance of the run, and a static pycortex WebGL viewer per subject.


report: "../report/workflow.rst"


localrules:
    report_overview,
    report_provenance,


rule report_overview:
    """Per subject: ROI x (voxels, best layer and its share, median R2 per layer), and per pair the median unique A / shared / unique B per ROI; also as the fragment the report's first page shows."""
    input:
        layer_r2=layout.path(layout.SUMMARY, subject="{subject}", table="layer_r2"),
        counts=layout.path(
            layout.SUMMARY, subject="{subject}", table="best_layer_counts"
        ),
        partition=layout.path(layout.SUMMARY, subject="{subject}", table="partition"),
        prepared=layout.PREPARED,
    output:
        page=report(
            layout.REPORT_OVERVIEW,
            category="0 Overview",
            subcategory="{subject}",
            caption="../report/overview.rst",
            labels={
                "subject": "{subject}",
                "page": "answers per ROI",
                "ROIs": ", ".join(ROIS),
                "layers": ", ".join(LAYERS),
            },
        ),
        answers=layout.REPORT_ANSWERS,
    log:
        layout.LOG["report_overview"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        layers=LAYERS,
        precision=config["ridge"]["input_precision"],
        viewer=lambda wc: viewer_href(wc.subject) if VIEWER_ENABLED else None,
    script:
        "../../scripts/report_overview.py"


rule report_provenance:
    """Every setting that changes a number, the statistics as run, the chosen lambdas per model, split sizes and seeds, commit, versions, date, the config as run."""
    input:
        prepared=expand(layout.PREPARED, subject=SUBJECTS),
        fits=expand(layout.FIT, subject=SUBJECTS, model=MODELS),
        stats=provenance_stats(),
        features=[
            layout.path(layout.FEATURES, subject=s, layer=l) for s, l in EXTRACTED
        ],
    output:
        report(
            layout.REPORT_PROVENANCE,
            category="0 Overview",
            subcategory="Methods and provenance",
            caption="../report/provenance.rst",
            labels={"page": "methods and provenance"},
        ),
    log:
        layout.LOG["report_provenance"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        run=provenance_config(),
        subjects=SUBJECTS,
        models=MODELS,
        extracted=EXTRACTED,
    script:
        "../../scripts/report_provenance.py"


rule viewer:
    """A static pycortex WebGL viewer: R2 per layer, best layer, every pair's partitions, a legend (serve over HTTP)."""
    input:
        cache=layout.MAP_CACHE_OK,
        roi_info=input_path("roi_info"),
        fits=expand(layout.FIT, subject="{subject}", model=LAYERS),
        best_layer=layout.BEST_LAYER,
        partitions=[
            layout.path(layout.PARTITION, subject="{subject}", a=a, b=b)
            for a, b in PAIRS
        ],
    output:
        directory(layout.VIEWER),
    log:
        layout.LOG["viewer"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        pycortex=map_params,
        layers=LAYERS,
        pairs=[list(p) for p in PAIRS],
        r2=config["maps"]["r2"],
        partition=config["maps"]["partition"],
    script:
        "../../scripts/viewer.py"
