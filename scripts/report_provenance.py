"""Rule report_provenance: the methods and provenance page of the run."""
from encoding_models.stages import report
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    report.provenance_page(p.run["config"], p.run["ridge"], p.run["git"], dict(zip(p.subjects, i.prepared)),
                           snakemake.output[0])
