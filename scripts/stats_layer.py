"""Rules stats_layer_<layer>: permutation tests of the models and bootstraps of the pairs a layer added, with FDR q-values."""
from encoding_models.stages import stats
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    stats.stats_models_and_pairs(dict(zip(p.fits, i.fits)), dict(zip(p.designs, i.crossprod)), p.pairs,
                                 i.val, i.prepared, tested=p.tested, n_permutations=p.stats["permutations"],
                                 n_boot=p.stats["bootstrap"], seed=p.stats["seed"], device=p.device,
                                 batch_size=p.batch_size, model_outputs=dict(zip(p.tested, o.models)),
                                 pair_outputs=list(o.pairs), threads=snakemake.threads)
