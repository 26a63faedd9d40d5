"""Rule fit: ridge for one model (a layer or a layer pair)."""
from encoding_models.stages import fit
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    fit.fit(snakemake.wildcards.model, list(i.crossprod), {"trn": i.trn, "holdout": i.holdout, "val": i.val},
            i.prepared, **p.ridge, device=p.device, batch_size=p.batch_size, out_path=snakemake.output[0],
            threads=snakemake.threads)
