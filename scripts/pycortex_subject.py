"""Rule pycortex_subject: the subject's anatomy in the workflow's pycortex filestore."""
from encoding_models import cortex_store
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    cortex_store.install_subject(snakemake.params.store, snakemake.params.pycortex_subject,
                                 zip_path=snakemake.input.zip or None, ready_file=snakemake.output[0])
