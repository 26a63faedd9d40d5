"""Rule partition_set: commonality components of a set of 2-4 layers."""
from encoding_models.stages import partition
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    partition.partition_set(snakemake.params.layers, list(snakemake.input.fits), snakemake.output[0])
