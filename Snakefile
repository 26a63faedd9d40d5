from snakemake.utils import min_version, validate

min_version("9.0")


# The demo's config is the default only when no --configfile is given: a run with a config
# file of its own runs exactly the subjects that file names (Snakemake would otherwise
# merge them into the demo's). Several --configfile files merge among themselves.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/group_helpers.smk"
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
include: "workflow/rules/group.smk"


# The default target. It lives here because Snakemake takes the default target only
# from the main Snakefile (a default_target in an included file is discarded).
rule all:
    input:
        all_outputs(),
    localrule: True
