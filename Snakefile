from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/partition.smk"
include: "workflow/rules/summaries.smk"
include: "workflow/rules/maps_helpers.smk"
include: "workflow/rules/maps.smk"
include: "workflow/rules/report_helpers.smk"
include: "workflow/rules/report.smk"


# The default target. It lives here because Snakemake takes the default target only
# from the main Snakefile (a default_target in an included file is discarded).
rule all:
    input:
        all_outputs(),
    localrule: True
