"""Rule report_overview: a subject's answers as HTML tables."""
from encoding_models.stages import report
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    report.overview_page(snakemake.wildcards.subject, p.layers, i.layer_r2, i.counts, i.partition, i.prepared,
                         p.precision, snakemake.output.page, snakemake.output.answers, viewer_href=p.viewer)
