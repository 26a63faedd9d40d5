"""Feature extraction: the workflow's streaming stage against the naive way, same images.

Synthetic 224 px images (written to an HDF5 file in a temporary folder here), AlexNet with
random weights, five layers (the ReLU after conv1..conv5), PCA to 100 components fitted on
every image, on the CPU. Each method runs in its own process, whose peak RSS
(resource.getrusage ru_maxrss) is reported:
  - extract: stages.features.compute_features (streaming randomised PCA; the fit images'
    activations kept between passes when they take at most --cache-mb, as the workflow's
    cache_mb, otherwise one forward pass of the fit images per PCA pass; then the projection);
  - naive: forward hooks keep every layer's full activations in memory (float32), then
    scikit-learn's PCA per layer, as common tools do. When the activations alone would not
    fit in the memory available, it is reported as "did not fit" without being run.
The last line: extract_s= images_per_s= peak_rss_mb= naive_s= naive_peak_rss_mb=

    python benchmarks/extract_bench.py --n-images 10000
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODES = {"Conv1": "features.1", "Conv2": "features.4", "Conv3": "features.7", "Conv4": "features.9",
         "Conv5": "features.11"}
VALUES_PER_IMAGE_224 = 64 * 55 * 55 + 192 * 27 * 27 + 384 * 13 * 13 + 256 * 13 * 13 * 2


def make_stimuli(path, n, size, seed=0, chunk=500):
    """Smooth random colour images (low-resolution noise, upsampled) plus pixel noise."""
    import h5py
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("imgBrick", (n, size, size, 3), dtype=np.uint8, chunks=(1, size, size, 3))
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            low = rng.uniform(0, 255, (m, size // 8 + 1, size // 8 + 1, 3))
            img = np.repeat(np.repeat(low, 8, axis=1), 8, axis=2)[:, :size, :size]
            img += rng.normal(0, 20, img.shape)
            ds[start:start + m] = np.clip(img, 0, 255).astype(np.uint8)


def extractor(batch_size, components, power_iterations, cache_mb=2048):
    return {"cache_mb": cache_mb, "library": "torchvision", "model": "alexnet", "weights": None, "seed": 0,
            "preprocessing": {"resize": 224, "crop": None, "mean": [0.485, 0.456, 0.406],
                              "std": [0.229, 0.224, 0.225]},
            "pca": {"n_components": components, "fit_on": "all", "oversamples": 10,
                    "power_iterations": power_iterations, "seed": 0},
            "batch_size": batch_size, "device": "cpu"}


def run_extract(args):
    import h5py
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from encoding_models.stages import features
    ex = extractor(args.batch_size, args.components, args.power_iterations, args.cache_mb)
    with h5py.File(args.stimuli, "r") as f:
        ds = f["imgBrick"]
        n = ds.shape[0]
        t = time.perf_counter()
        feats, _, _ = features.compute_features(ex, NODES, ds, np.arange(n), np.ones(n, dtype=bool),
                                                threads=args.threads)
        return time.perf_counter() - t, {k: v.shape for k, v in feats.items()}


def run_naive(args):
    import h5py
    import torch
    import torchvision
    from sklearn.decomposition import PCA
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = torchvision.models.alexnet(weights=None).eval()
    t = time.perf_counter()
    with h5py.File(args.stimuli, "r") as f:
        ds = f["imgBrick"]
        n = ds.shape[0]
        store, current = {}, {}
        modules = dict(net.named_modules())
        for layer, node in NODES.items():
            modules[node].register_forward_hook(lambda m, i, o, layer=layer: current.__setitem__(layer, o.clone()))
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        for start in range(0, n, args.batch_size):
            x = torch.from_numpy(ds[start:start + args.batch_size]).permute(0, 3, 1, 2).float() / 255
            with torch.no_grad():
                net((x - mean) / std)
            for layer, a in current.items():
                a = a.reshape(a.shape[0], -1).numpy()
                if layer not in store:
                    store[layer] = np.empty((n, a.shape[1]), dtype=np.float32)
                store[layer][start:start + a.shape[0]] = a
    out = {layer: PCA(n_components=args.components, random_state=0).fit_transform(a) for layer, a in store.items()}
    return time.perf_counter() - t, {k: v.shape for k, v in out.items()}


def child(args):
    import resource
    seconds, shapes = (run_extract if args.child == "extract" else run_naive)(args)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "shapes": {k: list(v) for k, v in shapes.items()}}))


def available_mb():
    with open("/proc/meminfo") as fh:
        info = {line.split(":")[0]: int(line.split()[1]) for line in fh}
    return info["MemAvailable"] / 1024


def measure(kind, args):
    cmd = [sys.executable, __file__, "--child", kind, "--stimuli", args.stimuli, "--batch-size", str(args.batch_size),
           "--components", str(args.components), "--power-iterations", str(args.power_iterations),
           "--threads", str(args.threads), "--cache-mb", str(args.cache_mb)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-images", type=int, default=10000)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--components", type=int, default=100)
    p.add_argument("--power-iterations", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--cache-mb", type=float, default=2048,
                   help="the extractor's cache_mb (0: every PCA pass runs the network again)")
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--child", choices=["extract", "naive"])
    p.add_argument("--stimuli")
    args = p.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "benchmarks")) as tmp:
        args.stimuli = os.path.join(tmp, "stimuli.hdf5")
        t = time.perf_counter()
        make_stimuli(args.stimuli, args.n_images, args.size)
        print(f"{args.n_images} synthetic images of {args.size} px written in {time.perf_counter() - t:.1f} s")
        ext = measure("extract", args)
        print(f"extract: {ext}")
        need_mb = args.n_images * VALUES_PER_IMAGE_224 * 4 / 2 ** 20
        if args.skip_naive:
            naive_s = naive_mb = "not run"
        elif need_mb > 0.8 * available_mb():
            naive_s = naive_mb = "did not fit"
            print(f"naive: its activations alone need {need_mb:.0f} MB, {available_mb():.0f} MB available: did not fit")
        else:
            naive = measure("naive", args)
            print(f"naive: {naive}")
            naive_s, naive_mb = ((f"{naive['seconds']:.1f}", f"{naive['peak_rss_mb']:.0f}") if naive
                                 else ("did not fit", "did not fit"))
    print(f"extract_s={ext['seconds']:.1f} images_per_s={args.n_images / ext['seconds']:.1f} "
          f"peak_rss_mb={ext['peak_rss_mb']:.0f} naive_s={naive_s} naive_peak_rss_mb={naive_mb}")


if __name__ == "__main__":
    main()
