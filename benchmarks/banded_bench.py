"""Benchmark: a banded layer pair against the concatenated pair fit, at NSD size.

    python benchmarks/banded_bench.py [--voxels 40000] [--features 100] [--ratios 9]

Synthetic data as in ridge_bench.py (n_trn 8100, n_out 900, n_val 1000, two correlated
layers of --features features each, float32 responses). Both fits get the same inputs
with X'Y precomputed (as the workflow's crossprod rule provides them; not timed):
ridge.fit_ridge(intercept=--intercept) on the concatenation, and
banded.fit_banded_ridge with --ratios ratios log-spaced over 1e-4..1e4 times the same
20-value lambda grid. Default grid: 20 values log-spaced over 1e-2..1e8 (positive, as
banded ridge expects; --reference-grid uses the reference's grid instead).
With --repeats N the two fits alternate N times and each time is the least of its N
(the machine may be shared); process CPU times are printed too. The last line is:
banded_pair_s=<s> concatenated_pair_s=<s> ratio=<x>
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "scripts"), HERE]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voxels", type=int, default=40000)
    p.add_argument("--features", type=int, default=100, help="features per layer")
    p.add_argument("--ratios", type=int, default=9)
    p.add_argument("--n-trn", type=int, default=8100)
    p.add_argument("--n-out", type=int, default=900)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--intercept", default="unpenalized", choices=["unpenalized", "penalized"],
                   help="intercept handling of the concatenated fit (banded is always unpenalised)")
    p.add_argument("--reference-grid", action="store_true")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from encoding_models import banded, ridge, runtime
    from ridge_bench import design, make_data
    runtime.configure_runtime(args.threads)
    dev = runtime.resolve_device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    feats, y, parts = make_data(2, args.features, args.voxels, args.n_trn, args.n_out, args.n_val)
    xs = design(feats, parts)
    # the parts are contiguous row ranges (train, holdout, validation): views, no copies
    n1, n2 = args.n_trn, args.n_trn + args.n_out
    ys = (y[:n1], y[n1:n2], y[n2:])
    xty_trn = ridge.cross_products(xs[0], ys[0], batch_size=args.batch_size, device=dev)
    xty_out = ridge.cross_products(xs[1], ys[1], batch_size=args.batch_size, device=dev)
    lambdas = ridge.reference_lambdas() if args.reference_grid else np.logspace(-2, 8, 20)
    ratios = np.logspace(-4, 4, args.ratios)
    f = args.features
    dev_name = torch.cuda.get_device_name(0) if dev.type == "cuda" else f"CPU x{args.threads} threads"
    print(f"# device: {dev_name}; n_trn {args.n_trn}, n_out {args.n_out}, n_val {args.n_val}; "
          f"two bands of {f} features; V = {args.voxels}; {len(ratios)} ratios x {len(lambdas)} lambdas")

    t_cat = t_band = c_cat = c_band = np.inf
    for _ in range(args.repeats):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        cat = ridge.fit_ridge(*xs, *ys, lambdas, xty_trn=xty_trn, xty_holdout=xty_out, intercept=args.intercept,
                              batch_size=args.batch_size, device=dev)
        sync()
        t_cat, c_cat = min(t_cat, time.perf_counter() - t0), min(c_cat, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        res = banded.fit_banded_ridge(*xs, *ys, [slice(0, f), slice(f, 2 * f)], lambdas, ratios,
                                      xty_trn=xty_trn, xty_holdout=xty_out, batch_size=args.batch_size, device=dev)
        sync()
        t_band, c_band = min(t_band, time.perf_counter() - t0), min(c_band, time.process_time() - c0)
    print(f"median R2: concatenated {np.median(cat.r2):.4f}, banded {np.median(res.r2):.4f}; "
          f"banded >= concatenated for {np.mean(res.r2 >= cat.r2 - 1e-12):.3f} of voxels; "
          f"ratios chosen: {np.bincount(res.best_candidate, minlength=len(ratios)).tolist()}; "
          f"re-scored exactly: {res.n_rescored} voxels")
    print(f"process CPU time (all threads): banded {c_band:.2f} s, concatenated {c_cat:.2f} s, "
          f"ratio {c_band / c_cat:.2f}")
    print(f"banded_pair_s={t_band:.2f} concatenated_pair_s={t_cat:.2f} ratio={t_band / t_cat:.2f}")


if __name__ == "__main__":
    main()
