"""Stage of features.smk: one network's layers for one subject, from the stimulus images.

Reads the subject's image_info and its stimulus file (an HDF5 dataset [N x H x W x 3] uint8,
NSD's ``imgBrick``), checks the model's node names before reading any image, runs the network
over the fit rows' images once per PCA pass (all of its layers together), then over every
image once to project, and writes one features file per layer in the data contract
(``contract.load_features``), with attributes that say how it was made.
"""
from __future__ import annotations

import json
import logging
import time

import numpy as np

from .. import contract, splits
from ..contract import DataContractError
from ..io import atomic_path

log = logging.getLogger("encoding_models")

SIGN_CONVENTION = "each component's entry of largest magnitude is positive (sklearn svd_flip, u_based_decision=False)"


# --------------------------------------------------------------------------- inputs
def open_stimuli(path, dataset):
    """The stimulus dataset, checked: [N x H x W x 3] uint8. Returns (h5py.File, dataset)."""
    f, ds = contract.open_h5_dataset(path, dataset, hint="; see stimuli.dataset")
    shape, dtype = ds.shape, ds.dtype
    problem = None
    if ds.ndim == 3 or (ds.ndim == 4 and shape[-1] == 1):
        problem = (f"dataset '{dataset}' holds grayscale images (shape {shape}); the networks need RGB "
                   "images [N x H x W x 3] (convert them to 3 channels)")
    elif ds.ndim != 4 or shape[-1] != 3:
        problem = f"dataset '{dataset}' must be [N x H x W x 3] (RGB images), has shape {shape}"
    elif dtype != np.uint8:
        problem = f"dataset '{dataset}' must hold uint8 pixel values (0..255), has dtype {dtype}"
    if problem:
        f.close()
        raise DataContractError(path, problem)
    return f, ds


def stimulus_rows(info, image_info_path, column, base, n_stimuli, stimuli_path, key):
    """Row of the stimulus dataset of each image_info row: info[column] - base, checked in range."""
    if column not in info.columns:
        raise DataContractError(image_info_path, f"has no column '{column}' (set by '{key}.column'; "
                                                 f"columns: {list(info.columns)})")
    values = info[column].to_numpy()
    if not np.issubdtype(values.dtype, np.integer):
        raise DataContractError(image_info_path, f"column '{column}' ('{key}.column') must hold whole numbers, "
                                                 f"has dtype {values.dtype}")
    rows = values.astype(np.int64) - int(base)
    bad = np.flatnonzero((rows < 0) | (rows >= n_stimuli))
    if bad.size:
        raise DataContractError(image_info_path, f"column '{column}' counted from {base} ('{key}.base') gives "
                                                 f"stimulus rows outside 0..{n_stimuli - 1} of {stimuli_path} in "
                                                 f"{bad.size} image_info rows (first: row {bad[0]}, value "
                                                 f"{values[bad[0]]})")
    return rows


def fit_row_mask(info, fit_on, split_seed, pct_holdout):
    """Bool over image_info rows: the rows the PCA is fitted on.

    'train': the train split exactly as the prepare step draws it (``splits.split_kept_rows``
    over every image_info row, then the rows with n_reps > 0); 'all': every image_info row.
    """
    n = len(info)
    if fit_on == "all":
        return np.ones(n, dtype=bool)
    if fit_on != "train":
        raise ValueError(f"pca.fit_on must be 'train' or 'all', got {fit_on!r}")
    kept = info["n_reps"].to_numpy() > 0
    trn = splits.split_kept_rows(info["shared1000"].to_numpy(), kept, split_seed, pct_holdout)[0]
    out = np.zeros(n, dtype=bool)
    out[np.flatnonzero(kept)[trn]] = True
    return out


def image_batches(ds, stim_rows, rows, batch_size):
    """(image_info rows, uint8 images [b x H x W x 3]) in batches, read in increasing stimulus order.

    rows: the image_info rows to read. They are visited sorted by stimulus row (h5py reads
    increasing indices; each batch is one sorted selection), always in the same order.
    """
    order = rows[np.argsort(stim_rows[rows], kind="stable")]
    for start in range(0, order.size, batch_size):
        batch = order[start:start + batch_size]
        uniq, inverse = np.unique(stim_rows[batch], return_inverse=True)
        images = ds[uniq] if uniq.size > 1 else ds[int(uniq[0]):int(uniq[0]) + 1]
        yield batch, images[inverse]


def resolve_device(name="auto"):
    """'auto' -> CUDA when available, else CPU; 'cuda' fails clearly when it is missing."""
    import torch
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("the extractor asks for device 'cuda' but torch sees no CUDA device")
    return torch.device(name)


# --------------------------------------------------------------------------- the stage
def build(extractor):
    """The extractor's model (eval mode, no gradients; random weights drawn from its seed)."""
    from .. import networks
    return networks.build_model(extractor["library"], extractor["model"], extractor.get("weights"),
                                extractor.get("seed", 0))


def compute_features(extractor, nodes, images_ds, stim_rows, fit_mask, key="extractor", threads=None, net=None):
    """Every layer's PCA features of every image_info row.

    Memory: the PCA's own arrays (``pca.memory_bound_bytes`` per layer), one batch of
    activations, and the fit images' activations only when they take at most
    extractor['cache_mb'] (then the network runs once per image; otherwise once per PCA pass
    over the fit images, 2 + 2 x power_iterations passes, plus once over every image).

    Parameters
    ----------
    extractor : the extractor's config block (library, model, weights, seed, preprocessing, pca,
        batch_size, device, cache_mb).
    nodes : {layer: node name}.
    images_ds : the stimulus dataset [N x H x W x 3] uint8 (h5py dataset or numpy array).
    stim_rows : int [n_images], stimulus row of each image_info row.
    fit_mask : bool [n_images], the PCA's fit rows.
    net : the model, when already built (else built from the extractor's settings).

    Returns
    -------
    features : {layer: float32 [n_images x k]}
    pcas : {layer: StreamingPCA} (fitted)
    info : dict (device, library version, seconds)
    """
    import torch

    from .. import networks, runtime
    from ..pca import StreamingPCA
    # Every freed block above 1 MB goes back to the OS: with glibc's default (dynamic)
    # threshold, the per-batch activations and their float64 copies (tens of MB, five
    # layers) fragment the heap, and at 10,000 images the peak RSS reached 6.8 GB
    # instead of about 2 GB (benchmarks/extract_bench.py).
    runtime.configure_runtime(threads, mmap_threshold=1 << 20, trim_threshold=1 << 20)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    t0 = time.perf_counter()
    device = resolve_device(extractor.get("device", "auto"))
    if net is None:
        net = build(extractor)
    layers = list(nodes)
    fx = networks.FeatureExtractor(net, [nodes[layer] for layer in layers], extractor["library"], device,
                                   key=f"{key}.nodes", out_device=device)   # node names checked before any image is read
    prep = extractor["preprocessing"]
    pca_cfg = extractor["pca"]
    batch_size = int(extractor["batch_size"])

    def activations(batch_images):
        x = networks.preprocess(batch_images, prep.get("resize"), prep.get("crop"), prep["mean"], prep["std"])
        out = fx(x)
        return {layer: out[nodes[layer]] for layer in layers}

    fit_rows = np.flatnonzero(fit_mask)
    all_rows = np.arange(stim_rows.size)
    if fit_rows.size < 2:
        raise ValueError(f"config error in '{key}.pca.fit_on': '{pca_cfg['fit_on']}' gives {fit_rows.size} fit "
                         "image(s); the PCA needs at least 2")
    first = next(image_batches(images_ds, stim_rows, fit_rows, 1))[1]
    sizes = {layer: int(v.shape[1]) for layer, v in activations(first).items()}
    k = int(pca_cfg["n_components"])
    for layer in layers:
        if k > sizes[layer]:
            raise ValueError(f"config error in '{key}.pca.n_components': {k} components, but layer {layer} "
                             f"(node {nodes[layer]}) has only {sizes[layer]} values per image")
    if k > fit_rows.size - 1:
        raise ValueError(f"config error in '{key}.pca.n_components': {k} components need at least {k + 1} fit rows "
                         f"(pca.fit_on '{pca_cfg['fit_on']}' gives {fit_rows.size})")
    pcas = {layer: StreamingPCA(sizes[layer], k, oversamples=pca_cfg["oversamples"],
                                power_iterations=pca_cfg["power_iterations"], seed=pca_cfg["seed"],
                                device=device) for layer in layers}
    n_passes = next(iter(pcas.values())).n_passes
    # The fit images' activations are kept for the later passes when they fit in cache_mb;
    # otherwise every pass runs the network again (the PCA's own arrays stay bounded).
    cache_bytes = fit_rows.size * sum(sizes.values()) * 4
    cache = {} if cache_bytes <= float(extractor.get("cache_mb", 1024)) * 2 ** 20 else None
    log.info("%d fit images x %d values per image (%.0f MB): %s", fit_rows.size, sum(sizes.values()),
             cache_bytes / 2 ** 20, "kept in memory between PCA passes" if cache is not None
             else f"recomputed in each of the {n_passes} PCA passes (above cache_mb)")

    def fit_blocks(p):
        if cache is not None and p > 0:
            yield from cache.values()
            return
        for rows, images in image_batches(images_ds, stim_rows, fit_rows, batch_size):
            acts = activations(images)
            if cache is not None:
                cache[len(cache)] = (rows, acts)
            yield rows, acts

    for p in range(n_passes):
        for pca in pcas.values():
            pca.begin_pass()
        for _, acts in fit_blocks(p):
            for layer, act in acts.items():
                pcas[layer].update(act)
        for pca in pcas.values():
            pca.end_pass()
        log.info("PCA pass %d/%d over %d fit images done (%.1f s)", p + 1, n_passes, fit_rows.size,
                 time.perf_counter() - t0)
    features = {layer: np.zeros((stim_rows.size, k), dtype=np.float32) for layer in layers}
    if cache is not None:
        for rows, acts in cache.values():
            for layer, act in acts.items():
                features[layer][rows] = pcas[layer].transform(act)
        cache.clear()
        rest = np.setdiff1d(all_rows, fit_rows)
    else:
        rest = all_rows
    for rows, images in image_batches(images_ds, stim_rows, rest, batch_size):
        for layer, act in activations(images).items():
            features[layer][rows] = pcas[layer].transform(act)
    info = {"device": str(device), "versions": networks.library_version(extractor["library"]),
            "seconds": time.perf_counter() - t0, "sizes": sizes}
    log.info("%d images x %d layers in %.1f s on %s", stim_rows.size, len(layers), info["seconds"], device)
    return features, pcas, info


def extract(name, extractor, nodes, stimuli, image_info_path, stimuli_path, split_seed, pct_holdout,
            out_paths, subject="subject", threads=None):
    """Rule extract_features: one extractor's layers for one subject.

    name : the extractor's name (config key under 'extractors').
    nodes : {layer: node}; out_paths : {layer: features path}.
    stimuli : the subject's stimuli block (dataset, column, base).
    """
    import h5py
    key = f"extractors.{name}"
    skey = f"subjects.{subject}.stimuli"
    from .. import networks
    # the model and its node names first: a wrong name fails before any image is read
    net = build(extractor)
    networks.check_nodes(net, list(nodes.values()), extractor["library"], key=f"{key}.nodes")
    info = contract.load_image_info(image_info_path)
    f, ds = open_stimuli(stimuli_path, stimuli["dataset"])
    with f:
        rows = stimulus_rows(info, image_info_path, stimuli["column"], stimuli["base"], ds.shape[0], stimuli_path, skey)
        fit_mask = fit_row_mask(info, extractor["pca"]["fit_on"], split_seed, pct_holdout)
        try:
            features, pcas, run = compute_features(extractor, nodes, ds, rows, fit_mask, key=key, threads=threads,
                                                   net=net)
        except OSError as e:
            raise DataContractError(stimuli_path, f"images cannot be read, file truncated or corrupt ({e})") from None
    for layer, path in out_paths.items():
        pca = pcas[layer]
        attrs = {
            "extractor": name, "library": extractor["library"], "versions": run["versions"],
            "model": extractor["model"], "weights": "null (random initialisation)" if extractor.get("weights") is None
            else str(extractor["weights"]), "seed": int(extractor.get("seed", 0)), "node": nodes[layer],
            "layer": layer, "values_per_image": run["sizes"][layer],
            "preprocessing": json.dumps(extractor["preprocessing"], sort_keys=True),
            "pca_n_components": pca.k, "pca_fit_on": extractor["pca"]["fit_on"], "pca_n_fit_rows": pca.n_fit,
            "pca_explained_variance": pca.explained_variance,
            "pca_explained_variance_ratio": pca.explained_variance_ratio,
            "pca_explained_variance_ratio_total": float(pca.explained_variance_ratio.sum()),
            "pca_method": (f"randomised subspace iteration, {extractor['pca']['oversamples']} oversamples, "
                           f"{extractor['pca']['power_iterations']} power iteration(s), seed {extractor['pca']['seed']}"),
            "pca_sign_convention": SIGN_CONVENTION,
            "stimuli": f"{stimuli_path}:{stimuli['dataset']}, image_info column '{stimuli['column']}' "
                       f"counted from {stimuli['base']}",
            "device": run["device"],
        }
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
            out.create_dataset(contract.FEATURES_DATASET, data=features[layer])
            out.create_dataset("pca_fit_rows", data=np.flatnonzero(fit_mask))
            for k, v in attrs.items():
                out.attrs[k] = v
        log.info("%s: layer %s (node %s): %d components explain %.1f %% of the fit rows' variance",
                 path, layer, nodes[layer], pca.k, 100 * attrs["pca_explained_variance_ratio_total"])


def feature_attrs(path) -> dict:
    """The provenance attributes of a features file (empty for files not made by an extractor)."""
    import h5py
    with h5py.File(path, "r") as f:
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}
    return attrs if "extractor" in attrs else {}


# --------------------------------------------------------------------------- the images demo
def full_activations(extractor, nodes, images, batch_size=None):
    """Full (not reduced) activations of images, per layer: {layer: float32 [n x d]}.

    nodes: {layer: node}; images: uint8 [n x H x W x 3]. Held in memory: for the demo's small
    images only.
    """
    from .. import networks
    net = build(extractor)
    fx = networks.FeatureExtractor(net, list(nodes.values()), extractor["library"], "cpu")
    prep = extractor["preprocessing"]
    batch_size = int(batch_size or extractor.get("batch_size", 64))
    parts = {layer: [] for layer in nodes}
    for start in range(0, images.shape[0], batch_size):
        x = networks.preprocess(images[start:start + batch_size], prep.get("resize"), prep.get("crop"),
                                prep["mean"], prep["std"])
        out = fx(x)
        for layer, node in nodes.items():
            parts[layer].append(out[node].numpy())
    return {layer: np.concatenate(p) for layer, p in parts.items()}


def write_demo_images_subject(anatomy_path, settings, extractor, nodes, stimuli, files, ground_truth_path,
                              threads=None):
    """Rule demo_images_subject: synthetic stimuli, and a subject whose voxels the extractor's
    network drives through its layers' full activations.

    settings : the subject's demo_images block; extractor : the network's settings
    (``configuration.network_params``); nodes : {layer: node} in config order (the
    ground truth's preferred_layer indexes this order); stimuli : the subject's stimuli block;
    files : paths keyed betas, image_info, roi_info, stimuli.
    """
    import h5py
    import torch

    from .. import demo, demo_images
    if threads:
        torch.set_num_threads(int(threads))
    s = dict(settings)
    n_stimuli = s["n_images"] + s["n_extra_stimuli"]
    images = demo_images.make_images(n_stimuli, s["image_size"], seed=s["seed"])
    unique_ims = demo_images.stimulus_rows(s["n_images"], n_stimuli, seed=s["seed"])
    acts = full_activations(extractor, nodes, images[unique_ims])
    subject = demo_images.make_subject(dict(np.load(anatomy_path)), [acts[layer] for layer in nodes],
                                       unique_ims=unique_ims, n_shared=s["n_shared"], n_zero_reps=s["n_zero_reps"],
                                       n_voxels=s["n_voxels"], null_fraction=s["null_fraction"], seed=s["seed"])
    info = dict(subject["image_info"])
    info[stimuli["column"]] = unique_ims + int(stimuli["base"])
    if stimuli["column"] != "unique_ims":
        info["unique_ims"] = unique_ims
    subject["image_info"] = info
    with atomic_path(files["stimuli"]) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(stimuli["dataset"], data=images, chunks=(1, *images.shape[1:]))
    demo.write_subject({**{k: files[k] for k in ("betas", "image_info", "roi_info")}, "features": {}},
                       subject, ground_truth_path)
    log.info("images demo: %d stimuli of %d px, %d images x %d voxels, layers %s", n_stimuli, s["image_size"],
             *subject["betas"].shape, list(nodes))
