"""Rule demo_subject: write the synthetic subject at the data contract's paths."""
from encoding_models import demo
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    o = snakemake.output
    demo.write_demo_subject(snakemake.input.anatomy, dict(snakemake.params.demo),
                            {"betas": o.betas, "image_info": o.image_info, "roi_info": o.roi_info,
                             "features": list(o.features)}, o.ground_truth)
