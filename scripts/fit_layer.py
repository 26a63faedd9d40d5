"""Rule fit_layer: a layer's normalised features and X'Y on train and holdout, then its ridge fit."""
from encoding_models.stages import fit
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    fit.fit_layer(snakemake.wildcards.layer, i.features, {"trn": i.trn, "holdout": i.holdout, "val": i.val},
                  i.prepared, ridge=p.ridge, device=p.device, batch_size=p.batch_size, crossprod_path=o.crossprod,
                  fit_path=o.fit, threads=snakemake.threads)
