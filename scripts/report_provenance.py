"""Rule report_provenance: the methods and provenance page of the run."""
from encoding_models.stages import report
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    n = len(p.models)
    fits = {s: dict(zip(p.models, list(i.fits)[k * n:(k + 1) * n])) for k, s in enumerate(p.subjects)}
    m = len(i.stats) // len(p.subjects)
    stats = {s: list(i.stats)[k * m:(k + 1) * m] for k, s in enumerate(p.subjects)} if m else None
    report.provenance_page(p.run["config"], p.run["ridge"], p.run["git"], dict(zip(p.subjects, i.prepared)),
                           snakemake.output[0], fits=fits, stats=stats,
                           features=dict(zip(map(tuple, p.extracted), i.features)))
