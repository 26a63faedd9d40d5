"""Rule prepare: validate a subject's inputs, split, select voxels, write the split responses."""
from encoding_models.stages import data
from encoding_models.logs import rule_log
from encoding_models.stages import group

with rule_log(snakemake.log[0]):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    common = i.get("common_validation")   # split.validation: shared_by_all
    data.prepare({"betas": i.betas, "image_info": i.image_info, "roi_info": i.roi_info},
                 p.rois, p.merged_rois, p.split_seed, p.pct_holdout, o.prepared,
                 {split: o[split] for split in p.splits}, precision=p.precision,
                 validation_ids=group.read_validation_ids(common) if common else None)
