"""Rule roi_figures: stacked bars of partitions and best layers per ROI."""
from encoding_models.stages import maps
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    maps.roi_figures(i.partition, i.counts, snakemake.params.layers, snakemake.wildcards.subject,
                     o.partition, o.best, prepared=i.prepared, precision=snakemake.params.precision,
                     out_report=(o.partition_light, o.best_light))
