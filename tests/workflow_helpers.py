"""Running the workflow from tests: a work directory with its own config."""
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), "snakemake")


def small_config(store, layers=("Conv1", "Conv2", "Conv3", "Conv4", "Conv5"), maps=True, **extra):
    cfg = {
        "subjects": {"demo": {"source": "demo", "split_seed": 171301,
                              "demo": {"n_images": 600, "n_shared": 120, "n_zero_reps": 6, "n_voxels": 3500}}},
        "layers": list(layers),
        "rois": ["all", "V1v", "V1d", "V2v", "V3v", "hV4", "OFA", "FFA-1", "FFA-2", "PPA", "EBA", "V1"],
        "merged_rois": {"V1": ["V1v", "V1d"]},
        "maps": {"enabled": maps, "height": 600},   # smaller than the default 1024: faster to draw
        "pycortex_store": str(store),
    }
    cfg.update(extra)
    return cfg


def write_config(workdir, cfg):
    os.makedirs(os.path.join(workdir, "config"), exist_ok=True)
    with open(os.path.join(workdir, "config", "config.yaml"), "w") as fh:
        yaml.safe_dump(cfg, fh)


def snakemake(workdir, *args, check=True, timeout=1200, snakefile=os.path.join(ROOT, "Snakefile"), **kw):
    cmd = [SNAKEMAKE, "-s", str(snakefile), "-d", str(workdir), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-6000:]}")
    return res


def layer_jobs(counts, prefix):
    """{layer: count} of the per-layer jobs of rules <prefix>_<layer> (stats_layer, fit_pairs,
    map_pairs) in job_counts."""
    return {rule[len(prefix) + 1:]: n for rule, n in counts.items() if rule.startswith(prefix + "_")}


def stats_jobs(counts):
    """{layer: count} of the per-layer statistics jobs (rules stats_layer_<layer>) in job_counts."""
    return layer_jobs(counts, "stats_layer")


def _pairs_of_layer_jobs(counts, prefix, layers):
    """How many pairs the <prefix>_<layer> jobs in job_counts hold: one per layer before
    theirs in ``layers`` (layout.jobs_by_layer)."""
    return sum(n * list(layers).index(layer) for layer, n in layer_jobs(counts, prefix).items())


def fitted_models(counts, layers):
    """How many models the jobs in job_counts fit: a fit_layer job one (the layer), a
    fit_pairs_<layer> job its pairs, a fit job one (a partition set's model of 3+ layers)."""
    return counts.get("fit_layer", 0) + _pairs_of_layer_jobs(counts, "fit_pairs", layers) + counts.get("fit", 0)


def pair_maps(counts, layers):
    """How many pairs' partition maps the map_pairs_<layer> jobs in job_counts draw."""
    return _pairs_of_layer_jobs(counts, "map_pairs", layers)


def job_counts(output):
    """{rule: count} from the 'Job stats' table of a (dry) run."""
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", output, re.S)
    if not m:
        return {}
    return {line.split()[0]: int(line.split()[1]) for line in m.group(1).strip().splitlines()}
