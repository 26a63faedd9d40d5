"""Rule best_layer: the layer with the highest validation R2 per voxel."""
from encoding_models import pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    pipeline.best_layer(list(snakemake.input), snakemake.params.layers, snakemake.output[0])
