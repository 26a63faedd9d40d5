"""Benchmark: the statistics of one model and of one layer pair at NSD scale.

    python benchmarks/stats_bench.py [--voxels 40000] [--n-val 1000] [--device cpu] [--layers N]

Synthetic validation data (float32 betas, float64 predictions of three models A, B, AB
with some signal). Times stats.permutation_test_r2 for one model and
stats.pair_bootstrap for one pair (inputs already in memory). The last line is:
stats_model_s=<s> stats_pair_s=<s> n_val=<n> n_voxels=<V> permutations=<n> bootstrap=<n>
(permutations is the effective number: at most n_val - 1).

--layers N (N >= 2): a subject's statistics instead: the permutation tests of N layers
and N(N-1)/2 joint models and the bootstraps of the N(N-1)/2 pairs in one pass
(stats.model_statistics; the workflow makes one such pass per layer, over what that layer
added), against the same statistics one
model and one pair at a time (permutation_test_r2, pair_bootstrap: what the former
per-model and per-pair jobs computed), in the same run, from the same predictions (made
block by block from low-rank factors, as the workflow makes them from features and
weights). It checks that both give bitwise the same numbers. The last line is:
one_pass_s=<s> separate_s=<s> ratio=<separate / one pass> layers=<N> models=<n> pairs=<n>
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


def subject_data(n_val, n_voxels, n_layers, rank=20, seed=0):
    """y [n x V] float32 and {model: callable(slice) -> [n x width] predictions} for every
    layer and layer pair: model m predicts s_m @ g_m[:, sl] (its share of the signal plus
    low-rank noise)."""
    from encoding_models import layout
    rng = np.random.default_rng(seed)
    layers = [f"L{i + 1}" for i in range(n_layers)]
    s = rng.standard_normal((n_val, n_layers))
    g = rng.uniform(0, 0.5, (n_layers, n_voxels))
    y = (s @ g + rng.standard_normal((n_val, n_voxels))).astype(np.float32)
    factors = {}
    for m in layout.models(layers):
        idx = [layers.index(x) for x in layout.model_layers(m)]
        noise_s = rng.standard_normal((n_val, rank))
        noise_g = 0.3 * rng.standard_normal((rank, n_voxels)) / np.sqrt(rank)
        factors[m] = (np.hstack([s[:, idx], noise_s]), np.vstack([g[idx], noise_g]))
    # made in torch, as the workflow's predictions are (x_val @ weights): numpy's own BLAS
    # threads would compete with torch's and slow both
    import torch
    factors = {m: (torch.as_tensor(a), torch.as_tensor(b)) for m, (a, b) in factors.items()}
    preds = {m: (lambda sl, f=f: f[0] @ f[1][:, sl]) for m, f in factors.items()}
    return y, preds, layers


def subject_main(args, dev):
    from encoding_models import layout, stats
    y, preds, layers = subject_data(args.n_val, args.voxels, args.layers)
    pairs = {layout.model_name(p): (p[0], p[1], layout.model_name(p)) for p in layout.pairs(layers)}
    kw = dict(seed=0, device=dev)
    t0 = time.perf_counter()
    perm, boot = stats.model_statistics(y, preds, tested=list(preds), groups=stats.pair_groups(pairs),
                                        n_permutations=args.permutations, n_boot=args.bootstrap, **kw)
    one_pass = time.perf_counter() - t0
    t0 = time.perf_counter()
    alone = {m: stats.permutation_test_r2(y, f, n_permutations=args.permutations, **kw) for m, f in preds.items()}
    pair_alone = {name: stats.pair_bootstrap(y, preds[a], preds[b], preds[ab], n_boot=args.bootstrap, **kw)
                  for name, (a, b, ab) in pairs.items()}
    separate = time.perf_counter() - t0
    same = all(np.array_equal(perm[m].p, alone[m].p, equal_nan=True) for m in preds) and all(
        np.array_equal(stats.pair_result(boot[n])[k], v, equal_nan=True) for n in pairs for k, v in pair_alone[n].items())
    print(f"# one pass and one at a time bitwise equal: {same}")
    print(f"one_pass_s={one_pass:.2f} separate_s={separate:.2f} ratio={separate / one_pass:.2f} "
          f"layers={len(layers)} models={len(preds)} pairs={len(pairs)}")
    if not same:
        raise SystemExit("the one-pass statistics differ from the separate ones")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voxels", type=int, default=40000)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--permutations", type=int, default=1000)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--layers", type=int, help="time a subject's statistics (N layers and their pairs) instead")
    args = p.parse_args()

    import torch
    from encoding_models import runtime, stats
    torch.set_num_threads(args.threads)
    runtime.configure_runtime()
    dev = runtime.resolve_device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU x{torch.get_num_threads()} threads"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# device: {name}; n_val {args.n_val}, voxels {args.voxels}; load average {load:.1f} "
          f"on {os.cpu_count()} cores (other work on the machine slows both timings)")
    if args.layers:
        return subject_main(args, dev)

    y, preds = make_data(args.n_val, args.voxels)
    if dev.type == "cuda":   # inputs on the device, as the workflow would hand them over
        y = torch.as_tensor(y, device=dev)
        preds = {k: torch.as_tensor(v, device=dev) for k, v in preds.items()}
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
