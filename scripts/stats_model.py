"""Rule stats_model: permutation p-values and FDR q-values of one model's R2."""
from encoding_models.stages import stats
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    stats.stats_model(snakemake.wildcards.model, i.fit, list(i.crossprod), i.val, i.prepared,
                      n_permutations=p.stats["permutations"], seed=p.stats["seed"],
                      device=p.device, batch_size=p.batch_size, out_path=snakemake.output[0],
                      threads=snakemake.threads)
