"""Rules fit_pairs_<layer> and fit: ridge fits of a layer's pairs with the earlier layers, or of a partition set's model."""
from encoding_models.stages import fit
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    fit.fit_models(p.models, dict(zip(p.designs, i.crossprod)), {"trn": i.trn, "holdout": i.holdout, "val": i.val},
                   i.prepared, ridge=p.ridge, device=p.device, batch_size=p.batch_size,
                   out_paths=list(snakemake.output), threads=snakemake.threads)
