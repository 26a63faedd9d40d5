"""Rule roi_summary: one ROI's rows of every summary, and its overview figure."""
from encoding_models.stages import summaries
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    summaries.roi_outputs(snakemake.wildcards.roi, snakemake.wildcards.subject, i.prepared, snakemake.params.layers,
                          list(i.fits), *i.tables, o.summary, o.overview,
                          precision=snakemake.params.precision, out_report_png=o.overview_light)
