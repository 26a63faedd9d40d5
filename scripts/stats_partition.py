"""Rule stats_partition: bootstrap intervals, p-values and q-values of a pair's partition."""
from encoding_models.stages import stats
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p, w = snakemake.input, snakemake.params, snakemake.wildcards
    stats.stats_partition(w.a, w.b, {"a": i.a, "b": i.b, "ab": i.ab},
                          {"a": [i.crossprod_a], "b": [i.crossprod_b], "ab": [i.crossprod_a, i.crossprod_b]},
                          i.val, i.prepared, n_boot=p.stats["bootstrap"], seed=p.stats["seed"],
                          device=p.device, batch_size=p.batch_size,
                          out_path=snakemake.output[0], threads=snakemake.threads)
