"""Rule prepare: validate a subject's inputs, split, select voxels."""
from encoding_models import pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    pipeline.prepare({"betas": i.betas, "image_info": i.image_info, "roi_info": i.roi_info},
                     p.rois, p.merged_rois, p.split_seed, p.pct_holdout, snakemake.output[0], precision=p.precision)
