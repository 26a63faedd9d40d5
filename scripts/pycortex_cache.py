"""Rule pycortex_cache: build pycortex's caches and the ROI outlines once, under the store's lock."""
from encoding_models.stages import maps
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    m, p, o = snakemake.params.pycortex, snakemake.params, snakemake.output
    maps.warm_pycortex_cache(m["store"], m["pycortex_subject"], m["xfm"], snakemake.input.roi_info,
                             m["height"], m["with_rois"], o.ok, roi_list=m["roi_list"], rois=p.rois,
                             merged_rois=p.merged_rois, outlines_path=o.outlines,
                             overlay_path=o.overlay,
                             # not a param: it changes no output, so toggling the viewer reruns no map
                             viewer=snakemake.config["maps"]["viewer"])
