"""Rule summaries: per-ROI tables of R2, best-layer counts and partitions."""
from encoding_models.stages import summaries
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    summaries.summaries(i.prepared, p.layers, list(i.fits), i.best_layer, p.pairs, list(i.partitions),
                        o.layer_r2, o.counts, o.partition, nc_threshold=p.nc_threshold,
                        stats_paths=list(i.stats) if p.fdr_q is not None else None,
                        stats_partition_paths=list(i.stats_partition) if p.fdr_q is not None else None,
                        fdr_q=p.fdr_q)
