"""Rules map_*: the flatmaps of one result file (or of a layer's pairs), one per output (params.maps says what each
shows), full resolution (output.png) and the report's lighter copies (output.light)."""
from encoding_models.stages import maps
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p, o = snakemake.input, snakemake.params, snakemake.output
    # one result file (input.result), or several (input.results; params.result_index: each map's)
    results = [i.results[k] for k in p.result_index] if "results" in i.keys() else [i.result] * len(p.maps)
    maps.draw_flatmaps(p.pycortex, i.roi_info, i.outlines, i.overlay, results, i.prepared, p.maps, list(o.png),
                       out_report_pngs=list(o.light))
