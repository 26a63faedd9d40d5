"""Rule partition: unique and shared variance of a layer pair."""
from encoding_models.stages import partition
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    partition.partition_pair(snakemake.input.a, snakemake.input.b, snakemake.input.ab, snakemake.output[0])
