"""Rule partition: unique and shared variance of a layer pair."""
from encoding_models import pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    pipeline.partition_pair(snakemake.input.a, snakemake.input.b, snakemake.input.ab, snakemake.output[0])
