"""Rule partition_sets_summary: per-ROI statistics of every partition set's components."""
from encoding_models.stages import summaries
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    summaries.partition_sets_summary(i.prepared, p.sets, list(i.sets), snakemake.output[0],
                                     stats_paths=list(i.stats) or None, fdr_q=p.fdr_q)
