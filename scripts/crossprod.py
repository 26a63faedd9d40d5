"""Rule crossprod: normalised features of one layer and X'Y on train and holdout."""
from encoding_models import contract, pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    p, wc = snakemake.params, snakemake.wildcards
    pipeline.crossprod(contract.subject_files("resources", wc.subject, [wc.layer]), wc.layer,
                       snakemake.input.prepared, p.precision, p.device, p.batch_size, snakemake.output[0])
