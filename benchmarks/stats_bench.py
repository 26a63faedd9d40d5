"""Benchmark: the statistics of one model and of one layer pair at NSD scale.

    python benchmarks/stats_bench.py [--voxels 40000] [--n-val 1000] [--device cpu]

Synthetic validation data (float32 betas, float64 predictions of three models A, B, AB
with some signal). Times stats.permutation_test_r2 for one model and
stats.pair_bootstrap for one pair (inputs already in memory). The last line is:
stats_model_s=<s> stats_pair_s=<s> n_val=<n> n_voxels=<V> permutations=<n> bootstrap=<n>
(permutations is the effective number: at most n_val - 1).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "scripts")]


def make_data(n_val, n_voxels, seed=0):
    """y [n x V] float32 and predictions of models A, B, AB [n x V] float64."""
    rng = np.random.default_rng(seed)
    sa, sb = rng.standard_normal((n_val, 1)), rng.standard_normal((n_val, 1))
    gain = rng.uniform(0, 0.5, (2, n_voxels))
    y = (sa * gain[0] + sb * gain[1] + rng.standard_normal((n_val, n_voxels))).astype(np.float32)
    noise = lambda: 0.3 * rng.standard_normal((n_val, n_voxels))
    return y, {"a": sa * gain[0] + noise(), "b": sb * gain[1] + noise(),
               "ab": sa * gain[0] + sb * gain[1] + noise()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voxels", type=int, default=40000)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--permutations", type=int, default=1000)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()

    import torch
    from encoding_models import runtime, stats
    torch.set_num_threads(args.threads)
    runtime.configure_runtime()
    dev = runtime.resolve_device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    y, preds = make_data(args.n_val, args.voxels)
    if dev.type == "cuda":   # inputs on the device, as the workflow would hand them over
        y = torch.as_tensor(y, device=dev)
        preds = {k: torch.as_tensor(v, device=dev) for k, v in preds.items()}
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU x{torch.get_num_threads()} threads"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# device: {name}; n_val {args.n_val}, voxels {args.voxels}; load average {load:.1f} "
          f"on {os.cpu_count()} cores (other work on the machine slows both timings)")

    sync()
    t0 = time.perf_counter()
    res = stats.permutation_test_r2(y, preds["ab"], n_permutations=args.permutations, seed=0, device=dev)
    sync()
    model_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pair = stats.pair_bootstrap(y, preds["a"], preds["b"], preds["ab"], n_boot=args.bootstrap, seed=0, device=dev)
    sync()
    pair_s = time.perf_counter() - t0
    print(f"# p_r2 < 0.05: {np.mean(res.p < 0.05):.3f}; p_unique_a < 0.05: {np.mean(pair['p_unique_a'] < 0.05):.3f}")
    print(f"stats_model_s={model_s:.2f} stats_pair_s={pair_s:.2f} n_val={args.n_val} n_voxels={args.voxels} "
          f"permutations={res.n_permutations} bootstrap={args.bootstrap}")


if __name__ == "__main__":
    main()
