"""End-to-end benchmark: the workflow at NSD size against the reference port, in one run.

    python benchmarks/workflow_bench.py [--layers 5] [--voxels 40000] [--images 10000] [--full]

1. Writes an NSD-size demo subject in a scratch directory (generation not timed):
   --images images (--shared shared1000 images, no n_reps == 0 rows), --voxels bigmask
   voxels, --layers layers of 100 features from the demo generator.
2. Times `snakemake --cores N` from `prepare` to the three summary tables, maps off
   (and statistics off where the config has them: the reference computes none).
   Every job's wall time and peak RSS come from Snakemake's benchmark records
   (prepare, crossprod, fit).
3. Times the reference port (tests/reference_port.py: split_normalize_feats and
   solve_ridge_fast as in the notebook, plus validation R2) on one layer and one pair of
   the same subject, each in its own process. The reference holds [20 x p x V] weights
   and [n_out x 20 x V] predictions, so it runs on the first --reference-voxels voxels
   and its time is scaled linearly to all voxels (its cost is linear in V); the script
   says so. reference_s = n_layers x layer + n_pairs x pair.

Before it, at NSD size on 2 cores, one line per target of issue 12 (5 layers <= 55 s,
20 layers <= 600 s, every job's RSS <= 2048 MB) saying met or NOT met.
Last line: end_to_end_s=<s> reference_s=<s> ratio=<x> max_job_rss_mb=<MB>

--full: the default run (the demo's ROIs on S1's anatomy, statistics and maps on, the
report pages and viewer) as a user runs it: one `snakemake --cores N` from the inputs to
`all` (the pycortex store's S1 anatomy is built before timing, its caches inside the run).
The stages overlap in one run, so each stage's time is the wall time it added: fits_s
until the last fit job (prepare, fit_layer, fit_pairs, fit) ended, Snakemake's own
start and exit included, stats_s from then until the last statistics job ended, maps_s
the rest (maps, partitions, best layer, summaries, ROI outputs, report pages, viewer; in
--phased mode partitions and best layer are in the fits phase). Job times come from
Snakemake's log.
--phased runs the three stages as three commands instead (what session 6 measured).
Per-stage lines, then
Last line: end_to_end_s= fits_s= stats_s= maps_s= reference_s= ratio= max_job_rss_mb=
(ratio: reference_s / end_to_end_s; issue 23's targets: ratio >= 8 with --full, >= 22
without).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "scripts"), os.path.join(ROOT, "tests")]
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), "snakemake")


def layer_names(n):
    base = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
    return base[:n] if n <= 5 else base + [f"L{i:02d}" for i in range(6, n + 1)]


def write_config(wd, args, store):
    layers = layer_names(args.layers)
    cfg = {"subjects": {"nsd": {"source": "demo", "split_seed": 171301,
                                "demo": {"n_images": args.images, "n_shared": args.shared, "n_zero_reps": 0,
                                         "n_voxels": args.voxels, "layers": layers, "seed": 1}}},
           "layers": layers, "rois": ["all"], "maps": {"enabled": False}, "pycortex_store": store,
           "job_threads": args.job_threads}
    schema = yaml.safe_load(open(os.path.join(ROOT, "workflow", "schemas", "config.schema.yaml")))
    if args.full:   # the default run's ROIs, statistics and maps
        default = yaml.safe_load(open(os.path.join(ROOT, "config", "config.yaml")))
        cfg.update(rois=default["rois"], merged_rois=default.get("merged_rois", {}), maps={"enabled": True})
    elif "stats" in schema["properties"]:
        cfg["stats"] = {"enabled": False}
    os.makedirs(os.path.join(wd, "config"), exist_ok=True)
    with open(os.path.join(wd, "config", "config.yaml"), "w") as fh:
        yaml.safe_dump(cfg, fh)
    return layers


def snakemake(wd, *args, log=None):
    """Run the workflow in wd (its default target 'all' when args name no target file);
    log: a file for Snakemake's job log (then not --quiet)."""
    targets = [a for a in args if "/" in a]
    options = [a for a in args if "/" not in a]
    # targets first: --until (and --quiet) take several values and would swallow them
    cmd = [SNAKEMAKE, *(targets or ["all"]), "-s", os.path.join(ROOT, "Snakefile"), "-d", wd, *options]
    if log is None:
        subprocess.run(cmd + ["--quiet", "all"], check=True)
    else:
        with open(log, "w") as fh:
            subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT)


STAGES = {"fits": ("prepare", "fit_layer", "fit_pairs_", "fit"),
          "stats": ("stats_layer_", "stats_model", "stats_partition_set")}


def stage_of(rule):
    for stage, rules in STAGES.items():
        if any(rule == r or (r.endswith("_") and rule.startswith(r)) for r in rules):
            return stage
    return "maps"


def job_timeline(log):
    """[(rule, start_s, end_s)] of every finished job in a Snakemake log, from its first job's
    start (the log's timestamps have whole seconds)."""
    import datetime
    import re
    stamp = rule = None
    started, names, ended = {}, {}, {}
    for line in open(log).read().splitlines():
        m = re.match(r"\[(\w{3} \w{3}\s+\d+ [\d:]+ \d{4})\]$", line)
        if m:
            stamp = datetime.datetime.strptime(re.sub(r"\s+", " ", m.group(1)), "%a %b %d %H:%M:%S %Y")
            continue
        m = re.match(r"(?:local)?(?:rule|checkpoint) ([^\s:]+):", line)
        if m:
            rule = m.group(1)
            continue
        m = re.match(r"\s+jobid: (\d+)", line)
        if m and rule:
            started[m.group(1)], names[m.group(1)], rule = stamp, rule, None
            continue
        m = re.match(r"Finished job(?:id:)? (\d+)", line)
        if m:
            ended[m.group(1)] = stamp
    t0 = min(started.values())
    return [(names[j], (started[j] - t0).total_seconds(), (ended[j] - t0).total_seconds())
            for j in started if j in ended]


def job_records(wd):
    """{job: (seconds, max_rss_mb)} from Snakemake's benchmark files."""
    import pandas as pd
    out = {}
    for path in glob.glob(os.path.join(wd, "results", "nsd", "benchmarks", "*.tsv")):
        row = pd.read_csv(path, sep="\t").iloc[0]
        out[os.path.basename(path)[:-4]] = (float(row["s"]), float(row["max_rss"]))
    return out


REFERENCE_JOB = r"""
import json, sys, time
import h5py, numpy as np, pandas as pd, torch
sys.path[:0] = {paths!r}
import reference_port as ref
torch.set_num_threads({threads})
wd, layers, n_vox, seed = {wd!r}, {layers!r}, {n_vox}, 171301
base = wd + "/resources/nsd"
info = pd.read_csv(base + "/image_info.csv")
with h5py.File(base + "/betas_avg_bigmask.hdf5") as f:
    betas = f["betas"][:, :n_vox]
good = ~np.isnan(betas[:, 0])
trn, val, out = ref.make_split(info, seed)
split = (trn[good], val[good], out[good])
f = np.concatenate([np.array(h5py.File(base + "/features/" + l + ".hdf5")["features"]) for l in layers], axis=1)[good]
t = time.perf_counter()
r2, best = ref.fit_model(f, betas[good], split, np.ones(n_vox, bool), ref.reference_lambdas())
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""


def time_reference(wd, layers, n_vox, threads):
    code = REFERENCE_JOB.format(paths=[os.path.join(ROOT, "tests")], threads=threads, wd=wd, layers=layers,
                                n_vox=n_vox)
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--voxels", type=int, default=40000)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--shared", type=int, default=1000)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--job-threads", type=int, default=1)
    ap.add_argument("--reference-voxels", type=int, default=10000)
    ap.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--store", help="pycortex store to reuse (its S1 anatomy cache saves a minute)")
    ap.add_argument("--full", action="store_true", help="statistics, maps and report pages on, one command")
    ap.add_argument("--phased", action="store_true", help="with --full: the three stages as three commands")
    args = ap.parse_args()
    wd = args.workdir or tempfile.mkdtemp(prefix="workflow_bench_")
    store = args.store or os.path.join(wd, "pycortex_store")
    layers = write_config(wd, args, store)
    print(f"scratch directory {wd}; generating the subject (not timed) ...", flush=True)
    snakemake(wd, "--cores", str(args.cores), "--until", "demo_subject")

    targets = [f"results/nsd/summary/{t}.tsv" for t in ("layer_r2", "best_layer_counts", "partition")]
    shutil.rmtree(os.path.join(wd, "results"), ignore_errors=True)    # every timed run starts from the inputs
    phases = {}
    if args.full:
        from encoding_models import layout
        models = layout.models(layers)
        snakemake(wd, "--cores", str(args.cores), layout.path(layout.STORE_ANATOMY, store=store))
        fits = [layout.path(layout.FIT, subject="nsd", model=m) for m in models]
        fits += [layout.path(layout.PARTITION, subject="nsd", a=a, b=b) for a, b in layout.pairs(layers)]
        fits.append(layout.path(layout.BEST_LAYER, subject="nsd"))
        stats = [layout.path(layout.STATS_MODEL, subject="nsd", model=m) for m in models]
        stats += [layout.path(layout.STATS_PARTITION, subject="nsd", a=a, b=b) for a, b in layout.pairs(layers)]
        if args.phased:
            for phase, phase_targets in (("fits", fits), ("stats", stats), ("maps", [])):
                t = time.perf_counter()
                snakemake(wd, "--cores", str(args.cores), *phase_targets)
                phases[phase] = time.perf_counter() - t
        else:
            log = os.path.join(wd, "workflow_bench.log")
            t = time.perf_counter()
            snakemake(wd, "--cores", str(args.cores), log=log)
            total = time.perf_counter() - t
            timeline = job_timeline(log)
            ends = {stage: max([e for r, _, e in timeline if stage_of(r) == stage], default=0.0)
                    for stage in ("fits", "stats")}
            last = max(e for _, _, e in timeline)
            # Snakemake's own time (start and DAG before the first job, exit after the last) counts to the fits
            phases = {"fits": ends["fits"] + total - last, "stats": max(ends["stats"] - ends["fits"], 0.0)}
            phases["maps"] = total - phases["fits"] - phases["stats"]
            for stage in ("fits", "stats", "maps"):
                jobs_ = [e - s_ for r, s_, e in timeline if stage_of(r) == stage]
                print(f"  stage {stage:6s} {len(jobs_):4d} jobs, {sum(jobs_):7.1f} s job time in all (Snakemake log)")
        end_to_end = sum(phases.values())
    else:
        t0 = time.perf_counter()
        snakemake(wd, "--cores", str(args.cores), *targets)
        end_to_end = time.perf_counter() - t0

    jobs = job_records(wd)
    n_pairs = len(layers) * (len(layers) - 1) // 2
    n_ref = min(args.reference_voxels, args.voxels)
    ref_layer = time_reference(wd, layers[:1], n_ref, args.cores) * args.voxels / n_ref
    ref_pair = time_reference(wd, layers[:2], n_ref, args.cores) * args.voxels / n_ref
    reference = len(layers) * ref_layer + n_pairs * ref_pair
    scaled = f" (measured on {n_ref} voxels, scaled x{args.voxels / n_ref:g})" if n_ref < args.voxels else ""
    print(f"workflow: {len(layers)} layers, {len(layers) + n_pairs} models, {args.images} images x "
          f"{args.voxels} voxels, --cores {args.cores}, job_threads {args.job_threads}")
    print(f"reference: layer {ref_layer:.1f} s, pair {ref_pair:.1f} s{scaled}; "
          f"{len(layers)} x layer + {n_pairs} x pair = {reference:.1f} s")
    by_rule = {}
    for name, (sec, rss) in jobs.items():
        rule = next((r for r in ("stats_layer", "stats_set", "fit_layer", "fit_pairs") if name.startswith(r + "_")),
                    name.split("_")[0])
        n, s, r = by_rule.get(rule, (0, 0.0, 0.0))
        by_rule[rule] = (n + 1, s + sec, max(r, rss))
    for rule, (n, s, r) in sorted(by_rule.items()):
        print(f"  {rule:15s} {n:4d} jobs, {s:7.1f} s job time in all, max RSS {r:7.0f} MB")
    max_rss = max(r for _, r in jobs.values())
    nsd_size = args.images == 10000 and args.voxels == 40000 and args.cores == 2
    for what, value, limit, applies in (
            ("end_to_end_s (5 layers)", end_to_end, 55.0, len(layers) == 5 and nsd_size and not args.full),
            ("end_to_end_s (20 layers)", end_to_end, 600.0, len(layers) == 20 and nsd_size and not args.full),
            ("max_job_rss_mb", max_rss, 2048.0, args.voxels == 40000)):
        if applies:
            print(f"target {what} <= {limit:g}: {value:.1f} {'met' if value <= limit else 'NOT met'}")
    if args.full:
        for phase, sec in phases.items():
            print(f"  {'phase' if args.phased else 'stage'} {phase:6s} {sec:7.1f} s wall"
                  f"{'' if args.phased else ' added to the run'}")
        if nsd_size and len(layers) == 5:
            ratio = reference / end_to_end
            print(f"target ratio (statistics and maps on) >= 8: {ratio:.1f} {'met' if ratio >= 8 else 'NOT met'}")
        print(f"end_to_end_s={end_to_end:.1f} fits_s={phases['fits']:.1f} stats_s={phases['stats']:.1f} "
              f"maps_s={phases['maps']:.1f} reference_s={reference:.1f} ratio={reference / end_to_end:.1f} "
              f"max_job_rss_mb={max_rss:.0f}")
        return
    print(f"end_to_end_s={end_to_end:.1f} reference_s={reference:.1f} ratio={reference / end_to_end:.1f} "
          f"max_job_rss_mb={max_rss:.0f}")


if __name__ == "__main__":
    main()
