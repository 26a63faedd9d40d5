"""Rule local_check: a local subject's input file checked in place, its sha256 recorded."""
from encoding_models.logs import rule_log
from encoding_models.stages import group

with rule_log(snakemake.log[0]):
    p = snakemake.params
    group.local_check(snakemake.input[0], p.key, snakemake.wildcards.name, p.sha256, snakemake.output[0])
