"""Rule roi_summary: each ROI's rows of every summary, and its overview figure (full
resolution, and the report's lighter copy)."""
from encoding_models.stages import summaries
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    summaries.roi_outputs(snakemake.params.rois, snakemake.wildcards.subject, i.prepared, snakemake.params.layers,
                          list(i.fits), *i.tables, list(o.summaries), list(o.overviews),
                          precision=snakemake.params.precision, out_report_pngs=list(o.overview_lights))
