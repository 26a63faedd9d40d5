"""Rule crossprod: normalised features of one layer and X'Y on train and holdout."""
from encoding_models.stages import fit
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    fit.crossprod(i.features, {"trn": i.trn, "holdout": i.holdout}, i.prepared, snakemake.wildcards.layer,
                  p.precision, p.device, p.batch_size, snakemake.output[0], threads=snakemake.threads)
