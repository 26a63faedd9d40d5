"""Benchmark: the workflow's ridge solver against a straight port of the reference's.

    python benchmarks/ridge_bench.py --voxels 40000 --features 100 [--full-set]

NSD-size synthetic data (n_trn 8100, n_out 900, n_val 1000, float32 betas, features
rounded to float32 as the reference's torch.Tensor() does). Each solver runs in its own
subprocess, so that its peak memory is its own: peak extra memory is the rise of the
process's peak RSS (VmHWM, reset through /proc/self/clear_refs) above its resident
size once the inputs are in memory.

The reference needs [20 x p x V] weights and [n_out x 20 x V] predictions (about
20 GB at V=40,000), so by default it runs on the first --reference-voxels voxels and
its time is extrapolated linearly in V (its cost is linear in V); the script says so
when it does. same_lambda compares the lambdas of those voxels.

--full-set also times a subject's 15 models (5 layers + 10 pairs): the workflow's way
(one X'Y per layer, reused by every pair) against the reference's per-model time
(measured for a layer and for a pair, extrapolated to 5 + 10 models).
The last line is: speedup=<x> same_lambda=<fraction> peak_extra_mb=<MB>
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "scripts"), os.path.join(HERE, "..", "tests")]


# ------------------------------------------------------------------ data
def make_data(n_layers, n_features, n_voxels, n_trn, n_out, n_val, seed=0):
    """Features of n_layers correlated layers and float32 responses, generated in chunks."""
    rng = np.random.default_rng(seed)
    n = n_trn + n_out + n_val
    latents = [rng.standard_normal((n, n_features))]
    for _ in range(n_layers - 1):
        latents.append(0.7 * latents[-1] + 0.7 * rng.standard_normal((n, n_features)))
    spectrum = np.logspace(0, -2, n_features)   # PCA-like, ill-conditioned
    feats = [(g * spectrum).astype(np.float32) for g in latents]
    y = np.empty((n, n_voxels), dtype=np.float32)
    for start in range(0, n_voxels, 1000):   # voxel j's data depend on j alone, not on n_voxels
        crng = np.random.default_rng([seed, start])
        width = min(start + 1000, n_voxels) - start
        w = crng.standard_normal((n_features, 1000))[:, :width] * crng.uniform(0, 0.3, 1000)[:width]
        k = crng.integers(0, n_layers)
        y[:, start:start + width] = latents[k] @ w / np.sqrt(n_features) + crng.standard_normal((n, 1000))[:, :width]
    parts = (np.arange(n) < n_trn, (np.arange(n) >= n_trn) & (np.arange(n) < n_trn + n_out), np.arange(n) >= n_trn + n_out)
    return feats, y, parts


def design(feats, parts):
    """The reference's split_normalize_feats on the concatenation, rounded to float32."""
    from encoding_models.splits import split_normalize
    f = np.concatenate(feats, axis=1) if len(feats) > 1 else feats[0]
    return [x.astype(np.float32).astype(np.float64) for x in split_normalize(f.copy(), parts[0], parts[1], parts[2])]


# ------------------------------------------------------------------ memory
def _status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _status("VmRSS")


# ------------------------------------------------------------------ workers
def worker(args):
    import torch
    torch.set_num_threads(args.threads)
    from encoding_models import ridge, runtime
    import reference_port as ref
    lambdas = ridge.reference_lambdas()
    runtime.configure_runtime()   # both solvers run with the same allocator settings
    out = {}
    if args.task in ("ref", "new"):
        feats, y, (trn, out_, val) = make_data(args.layers, args.features, args.voxels, args.n_trn, args.n_out, args.n_val)
        xt, xo, xv = design(feats, (trn, out_, val))
        if args.task == "ref":
            T = lambda a: torch.Tensor(a).to(torch.float64)
            vt, vo, vv = T(y[trn]), T(y[out_]), T(y[val])
            del y
            xt_, xo_, xv_ = T(xt), T(xo), T(xv)
            base = reset_peak()
            t0 = time.perf_counter()
            w, best = ref.solve_ridge_fast(xt_, vt, ref.reference_lambdas(), xo_, vo, "cpu")
            r2 = ref.get_r2(vv.numpy(), (xv_ @ w).numpy())
            elapsed = time.perf_counter() - t0
        else:
            # float64 inputs, as the reference's solver receives them (its vtrn is float64)
            yt, yo, yv = (y[m].astype(np.float64) for m in (trn, out_, val))
            del y
            base = reset_peak()
            t0 = time.perf_counter()
            res = ridge.fit_ridge(xt, xo, xv, yt, yo, yv, lambdas, batch_size=args.batch_size,
                                  device=runtime.resolve_device(args.device))
            if args.device != "cpu":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - t0
            best, r2 = res.best_index, res.r2
        out = {"seconds": elapsed, "peak_extra_mb": _status("VmHWM") - base}
        np.save(args.save, np.stack([best.astype(float), r2]))
    elif args.task == "fullset":
        import itertools
        feats, y, (trn, out_, val) = make_data(5, args.features, args.voxels, args.n_trn, args.n_out, args.n_val)
        yt, yo, yv = (y[m].astype(np.float64) for m in (trn, out_, val))
        del y
        dev = runtime.resolve_device(args.device)
        base = reset_peak()
        t0 = time.perf_counter()
        layer_x, layer_xty = {}, {}
        for k in range(5):   # the crossprod rule: once per layer
            xs = design([feats[k]], (trn, out_, val))
            layer_x[k] = xs
            layer_xty[k] = (ridge.cross_products(xs[0], yt, batch_size=args.batch_size, device=dev),
                            ridge.cross_products(xs[1], yo, batch_size=args.batch_size, device=dev))
        for k in range(5):   # layer fits
            ridge.fit_ridge(*layer_x[k], yt, yo, yv, lambdas, xty_trn=layer_xty[k][0], xty_holdout=layer_xty[k][1],
                            batch_size=args.batch_size, device=dev)
        for a, b in itertools.combinations(range(5), 2):   # pair fits reuse the layers' products
            xa, xb = layer_x[a], layer_x[b]
            xs = [np.concatenate([u[:, :-1], v[:, :-1], u[:, -1:]], 1) for u, v in zip(xa, xb)]
            cat = lambda i: np.concatenate([layer_xty[a][i][:-1], layer_xty[b][i]])
            ridge.fit_ridge(*xs, yt, yo, yv, lambdas, xty_trn=cat(0), xty_holdout=cat(1),
                            batch_size=args.batch_size, device=dev)
        if args.device != "cpu":
            torch.cuda.synchronize()
        out = {"seconds": time.perf_counter() - t0, "peak_extra_mb": _status("VmHWM") - base}
    print(json.dumps(out))


def run_worker(task, voxels, layers, args, save=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", task, "--voxels", str(voxels),
           "--layers", str(layers), "--features", str(args.features), "--n-trn", str(args.n_trn),
           "--n-out", str(args.n_out), "--n-val", str(args.n_val), "--threads", str(args.threads),
           "--device", args.device, "--batch-size", str(args.batch_size)]
    if save:
        cmd += ["--save", save]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"worker {task} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voxels", type=int, default=40000)
    p.add_argument("--features", type=int, default=100, help="features per layer (p = features + 1 intercept)")
    p.add_argument("--pair", action="store_true", help="time a layer pair (p = 2 * features + 1)")
    p.add_argument("--reference-voxels", type=int, default=10000,
                   help="voxels the reference runs on (time extrapolated linearly to --voxels)")
    p.add_argument("--full-set", action="store_true", help="also time 5 layers + 10 pairs both ways")
    p.add_argument("--n-trn", type=int, default=8100)
    p.add_argument("--n-out", type=int, default=900)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--layers", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.task = args.worker
        return worker(args)

    import torch
    layers = 2 if args.pair else 1
    ref_vox = min(args.voxels, args.reference_voxels)
    dev_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU x{args.threads} threads"
    print(f"# device: {dev_name}; n_trn {args.n_trn}, n_out {args.n_out}, n_val {args.n_val}; "
          f"p = {layers * args.features + 1}; V = {args.voxels}")
    with tempfile.TemporaryDirectory() as tmp:
        new = run_worker("new", args.voxels, layers, args, save=f"{tmp}/new.npy")
        ref = run_worker("ref", ref_vox, layers, args, save=f"{tmp}/ref.npy")
        nb, nr = np.load(f"{tmp}/new.npy")
        rb, rr = np.load(f"{tmp}/ref.npy")
        scale = args.voxels / ref_vox
        ref_seconds = ref["seconds"] * scale
        same = float(np.mean(nb[:ref_vox] == rb))
        dr2 = float(np.max(np.abs(nr[:ref_vox] - rr)))
        note = f" (measured on {ref_vox} voxels, extrapolated x{scale:g})" if scale != 1 else ""
        print(f"reference: {ref_seconds:.2f} s{note}, peak extra {ref['peak_extra_mb'] * scale:.0f} MB"
              f"{' (extrapolated)' if scale != 1 else ''}")
        print(f"workflow:  {new['seconds']:.2f} s, peak extra {new['peak_extra_mb']:.0f} MB")
        print(f"max |dR2| = {dr2:.2e}")
        speedup = ref_seconds / new["seconds"]
        if args.full_set:
            one = run_worker("ref", ref_vox, 1, args, save=f"{tmp}/one.npy") if args.pair else ref
            two = ref if args.pair else run_worker("ref", ref_vox, 2, args, save=f"{tmp}/two.npy")
            ref_full = (5 * one["seconds"] + 10 * two["seconds"]) * scale
            full = run_worker("fullset", args.voxels, 5, args)
            print(f"full set (5 layers + 10 pairs): reference {ref_full:.1f} s (5 x layer + 10 x pair, extrapolated "
                  f"from per-model times{note}), workflow {full['seconds']:.1f} s, peak extra "
                  f"{full['peak_extra_mb']:.0f} MB, full_set_speedup={ref_full / full['seconds']:.1f}")
    print(f"speedup={speedup:.1f} same_lambda={same:.4f} peak_extra_mb={new['peak_extra_mb']:.0f}")


if __name__ == "__main__":
    main()
