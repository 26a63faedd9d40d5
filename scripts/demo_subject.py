"""Rule demo_subject: write the synthetic subject at the data contract's paths."""
import numpy as np

from encoding_models import contract, demo
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    p = dict(snakemake.params.demo)
    layers = p.pop("layers")
    anatomy = dict(np.load(snakemake.input.anatomy))
    subject = demo.make_subject(anatomy, layers=layers, **p)
    files = contract.subject_files("resources", snakemake.wildcards.subject, layers)
    demo.write_subject(files, subject, snakemake.output.ground_truth)
    log.info("demo subject: %s images x %s voxels, layers %s", *subject["betas"].shape, layers)
