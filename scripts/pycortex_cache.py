"""Rule pycortex_cache: build pycortex's caches once, under the store's lock."""
from encoding_models import pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    m = snakemake.params.m
    pipeline.warm_pycortex_cache(m["store"], m["pycortex_subject"], m["xfm"], snakemake.input.roi_info,
                                 m["height"], m["with_rois"], snakemake.output[0], roi_list=m["roi_list"])
