"""Rule download_file: fetch one file (streamed, retried, checksummed, atomic), or link its verified stored copy."""
from encoding_models.download import download
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    download(snakemake.params.url, snakemake.output.path, sha256=snakemake.params.sha256,
             sha256_record=snakemake.output.sha, stored=snakemake.params.stored)
