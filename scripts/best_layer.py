"""Rule best_layer: the layer with the highest validation R2 per voxel."""
from encoding_models.stages import partition
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    partition.best_layer(list(snakemake.input), snakemake.params.layers, snakemake.output[0])
