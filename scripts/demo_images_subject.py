"""Rule demo_images_subject: synthetic stimuli and a subject driven by a network's full activations."""
from encoding_models.logs import rule_log
from encoding_models.stages import features

with rule_log(snakemake.log[0]):
    o, p = snakemake.output, snakemake.params
    features.write_demo_images_subject(snakemake.input.anatomy, dict(p.demo), dict(p.extractor), dict(p.nodes),
                                       dict(p.stimuli), {"betas": o.betas, "image_info": o.image_info,
                                                         "roi_info": o.roi_info, "stimuli": o.stimuli},
                                       o.ground_truth, threads=snakemake.threads)
