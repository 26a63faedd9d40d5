"""Rules map_*: the flatmaps of one result file, one per output (params.maps says what each shows)."""
from encoding_models.stages import maps
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    maps.draw_flatmaps(p.pycortex, i.roi_info, i.outlines, i.result, i.prepared, p.maps, list(snakemake.output))
