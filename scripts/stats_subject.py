"""Rule stats_subject: permutation tests of every model's R2 and bootstraps of every pair, with FDR q-values."""
from encoding_models.stages import stats
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    stats.stats_models_and_pairs(dict(zip(p.models, i.fits)), dict(zip(p.layers, i.crossprod)), p.pairs,
                                 i.val, i.prepared, n_permutations=p.stats["permutations"],
                                 n_boot=p.stats["bootstrap"], seed=p.stats["seed"], device=p.device,
                                 batch_size=p.batch_size, model_outputs=dict(zip(p.models, o.models)),
                                 pair_outputs=list(o.pairs), threads=snakemake.threads)
