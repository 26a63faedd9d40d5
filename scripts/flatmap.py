"""Rules map_*: one pycortex flatmap of one result."""
from encoding_models.stages import maps
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    m, c = p.pycortex, p.colors or {"cmap": None, "vmin": None, "vmax": None}
    maps.result_flatmap(m["store"], m["pycortex_subject"], m["xfm"], i.roi_info, i.result, p.dataset,
                        cmap=c["cmap"], vmin=c["vmin"], vmax=c["vmax"], title=p.title, out_png=snakemake.output.png,
                        out_report_png=snakemake.output.light,
                        with_rois=m["with_rois"], height=m["height"], legend=p.legend, roi_list=m["roi_list"],
                        colorbar_label=p.label, roi_outlines_path=i.outlines, mask=p.mask,
                        mask_stats=list(i.stats), noise_ceiling=p.noise_ceiling)
