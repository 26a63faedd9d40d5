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
    out += expand(layout.REPORT_ANSWERS, subject=SUBJECTS)
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


def provenance_stats():
    """Per subject (in SUBJECTS order) the statistics files whose attrs the methods page
    states: the first layer's (permutations requested and used) and, with pairs, the first
    pair's (bootstrap samples); none with statistics off."""
    if not STATS_ON:
        return []
    out = []
    for s in SUBJECTS:
        out.append(layout.path(layout.STATS_MODEL, subject=s, model=LAYERS[0]))
        if PAIRS:
            a, b = PAIRS[0]
            out.append(layout.path(layout.STATS_PARTITION, subject=s, a=a, b=b))
    return out
