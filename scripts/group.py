"""Rule group: the group tables, figures and answers page across subjects."""
from encoding_models.logs import rule_log
from encoding_models.stages import group

with rule_log(snakemake.log[0]):
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    subjects = list(p.subjects)
    tables = {s: {t: i[f"{t}_{k}"] for t in ("layer_r2", "best_layer_counts", "partition")}
              for k, s in enumerate(subjects)}
    prepared = {s: i[f"prepared_{k}"] for k, s in enumerate(subjects)}
    group.group_summaries(subjects, p.layers, tables, prepared, n_random=p.permutations, seed=p.seed,
                          out={t: o[t] for t in ("layer_r2", "partition", "best_layer", "validation")})
    group.layer_r2_figure(o.layer_r2, subjects, p.layers, p.fdr_q, o.fig_layer_r2)
    group.partition_figure(o.partition, subjects, p.layers, p.fdr_q, o.fig_partition)
    group.group_html(subjects, p.layers, o.layer_r2, o.partition, o.best_layer, o.validation, p.fdr_q,
                     p.validation, o.page, answers_out=o.answers,
                     subject_pages={s: group.relative(h, o.page) for s, h in p.subject_pages.items()},
                     figures={"R2 per ROI and layer": group.relative(o.fig_layer_r2, o.page),
                              "Unique and shared variance per ROI": group.relative(o.fig_partition, o.page)})
