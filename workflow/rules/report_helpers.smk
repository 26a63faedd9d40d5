# Helpers of report.smk only: the report's pages and viewer, and the provenance of a run.
from encoding_models import report_pages
from encoding_models.stages import report as report_stage

VIEWER_ENABLED = config["maps"]["enabled"] and config["maps"]["viewer"]


def viewer_href(subject):
    """The viewer's index page, relative to the workflow folder (where report.html is written)."""
    return f"{layout.path(layout.VIEWER, subject=subject)}/{layout.VIEWER_INDEX}"


def report_outputs():
    out = [layout.REPORT_PROVENANCE]
    out += expand(layout.REPORT_OVERVIEW, subject=SUBJECTS)
    if VIEWER_ENABLED:
        out += expand(layout.VIEWER, subject=SUBJECTS)
    return out


def provenance_config():
    """The config as run, with the parse-time git state of the workflow (a commit or a
    dirty tree reruns the page, so it never names a commit it was not built from)."""
    return {
        "config": dict(config),
        "ridge": configuration.ridge_params(config),
        "git": report_stage.git_state(workflow.basedir),
    }


def viewer_partition(wildcards):
    """The partition file of the pair the viewer shows (none with one layer)."""
    pair = report_pages.viewer_pair(LAYERS)
    if pair is None:
        return []
    return [
        layout.path(layout.PARTITION, subject=wildcards.subject, a=pair[0], b=pair[1])
    ]
