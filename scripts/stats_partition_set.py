"""Rule stats_partition_set: bootstrap intervals, p-values and q-values of a partition set's components."""
from encoding_models.stages import stats
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    stats.stats_partition_set(p.layers, list(i.fits), dict(zip(p.layers, i.crossprod)), i.val, i.prepared,
                              n_boot=p.stats["bootstrap"], seed=p.stats["seed"], device=p.device,
                              batch_size=p.batch_size, out_path=snakemake.output[0], threads=snakemake.threads)
