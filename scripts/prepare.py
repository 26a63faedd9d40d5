"""Rule prepare: validate a subject's inputs, split, select voxels."""
from encoding_models import contract, pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    p = snakemake.params
    pipeline.prepare(contract.subject_files("resources", snakemake.wildcards.subject, []),
                     p.rois, p.merged_rois, p.split_seed, p.pct_holdout, snakemake.output[0])
