"""Rule demo_anatomy: S1's cortical and ROI masks, cached for the demo generator."""
from encoding_models import demo
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    demo.write_s1_anatomy(snakemake.params.store, snakemake.output[0])
