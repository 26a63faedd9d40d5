"""Rule common_validation: the shared1000 images every subject of the group saw."""
from encoding_models.logs import rule_log
from encoding_models.stages import group

with rule_log(snakemake.log[0]):
    group.common_validation(dict(zip(snakemake.params.subjects, snakemake.input)), snakemake.output[0])
