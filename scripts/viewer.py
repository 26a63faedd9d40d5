"""Rule viewer: a static pycortex WebGL viewer of a subject's results."""
from encoding_models.stages import report
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    m = p.pycortex
    partitions = dict(zip([tuple(pair) for pair in p.pairs], i.partitions))
    report.viewer(m["store"], m["pycortex_subject"], m["xfm"], i.roi_info, p.layers, list(i.fits), i.best_layer,
                  partitions, p.r2, p.partition, snakemake.output[0],
                  title=f"{snakemake.wildcards.subject}: encoding models")
