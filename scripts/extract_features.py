"""Rule extract_<extractor>: one network's layers for one subject, from its stimulus images."""
from encoding_models.logs import rule_log
from encoding_models.stages import features

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    split = p.split or {"split_seed": None, "pct_holdout": None}
    features.extract(p.name, p.extractor | {"nodes": p.nodes}, p.nodes, p.stimuli, i.image_info, i.stimuli,
                     split["split_seed"], split["pct_holdout"], dict(zip(p.nodes, snakemake.output)),
                     subject=snakemake.wildcards.subject, threads=snakemake.threads)
