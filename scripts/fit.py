"""Rule fit: ridge for one model (a layer or a layer pair)."""
import torch

from encoding_models import contract, pipeline
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    p, wc = snakemake.params, snakemake.wildcards
    pipeline.fit(contract.subject_files("resources", wc.subject, []), wc.model, snakemake.input.crossprod,
                 snakemake.input.prepared, lambdas=p.ridge["lambdas"], intercept=p.ridge["intercept"],
                 refit=p.ridge["refit"], precision=p.ridge["precision"], device=p.device,
                 batch_size=p.batch_size, out_path=snakemake.output[0])
