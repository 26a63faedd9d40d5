"""Rule partition_sets_summary: per-ROI statistics of every partition set's components."""
from encoding_models import pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    pipeline.partition_sets_summary(snakemake.input.prepared, snakemake.params.sets, list(snakemake.input.sets),
                                    snakemake.output[0])
