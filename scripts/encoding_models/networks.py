"""Networks for feature extraction: build a model, check its node names, run forward passes.

Arrays in, arrays out: no file access (``stages.features`` reads the stimuli and writes the
features). Imports torch lazily, and torchvision/timm only for the library an extractor names,
so that parsing the workflow needs none of them.

A node is a module name of ``model.named_modules()`` (e.g. AlexNet's ``features.1``, the ReLU
after conv1; ResNet-50's ``layer4``; a timm ViT's ``blocks.11``), captured with a forward hook,
or, for torchvision models only, a graph-node name of ``torchvision.models.feature_extraction``
(functional operations such as ``add`` or ``flatten``), captured with ``create_feature_extractor``.
"""
from __future__ import annotations

import difflib

import numpy as np

LIBRARIES = ("torchvision", "timm")


class NodeError(ValueError):
    """An extractor names a node that the model does not have."""


class _Done(Exception):
    """Raised by the last hook: every requested node is captured, the rest of the forward is skipped."""


def library_version(library: str) -> str:
    """Version string of the library that builds the model, and of torch ('timm 1.0.31, torch 2.13.0')."""
    import importlib

    import torch
    mod = importlib.import_module(library)
    return f"{library} {mod.__version__}, torch {torch.__version__}"


def build_model(library: str, model: str, weights=None, seed: int = 0):
    """The model in eval mode, on the CPU, without gradients.

    Parameters
    ----------
    library : 'torchvision' or 'timm'
    model : the library's model name ('alexnet', 'resnet50', 'vit_tiny_patch16_224')
    weights : a pretrained weights name (torchvision: 'DEFAULT', 'IMAGENET1K_V1', ...; timm: True
        or a pretrained tag; both download once into torch's cache), or None for a random
        initialisation drawn from ``seed`` (deterministic: the same seed gives the same weights).
    seed : the seed of a random initialisation.
    """
    import torch
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {LIBRARIES}, got {library!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if library == "torchvision":
            import torchvision
            net = torchvision.models.get_model(model, weights=weights)
        else:
            import timm
            if weights is None:
                net = timm.create_model(model, pretrained=False)
            else:
                name = model if weights in (True, "DEFAULT", "default") else f"{model}.{weights}"
                net = timm.create_model(name, pretrained=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _graph_nodes(net):
    """torchvision's graph-node names of a model (eval mode), or [] when it cannot be traced."""
    try:
        from torchvision.models.feature_extraction import get_graph_node_names
        return list(get_graph_node_names(net)[1])
    except Exception:  # FX tracing fails on some models (torchvision #6817, timm #1176)
        return []


def check_nodes(net, nodes, library: str = "torchvision", key: str = "nodes") -> dict:
    """How each node is captured: {node: 'module' or 'graph'}.

    Raises NodeError naming the first unknown node, the config key, and the closest valid
    names (difflib), before any image is read.
    """
    modules = {name for name, _ in net.named_modules() if name}
    how, graph = {}, None
    for node in nodes:
        if node in modules:
            how[node] = "module"
            continue
        if graph is None:
            graph = _graph_nodes(net) if library == "torchvision" else []
        if node in graph:
            how[node] = "graph"
            continue
        valid = sorted(modules | set(graph))
        close = difflib.get_close_matches(node, valid, n=5, cutoff=0.5)
        raise NodeError(f"config error in '{key}': the model has no node {node!r}; closest valid names: "
                        f"{close or valid[:10]}")
    return how


class FeatureExtractor:
    """One forward pass of a batch yields the activations of every requested node.

    Parameters
    ----------
    net : the model (from ``build_model``), in eval mode.
    nodes : node names (module names, or torchvision graph-node names).
    library : the model's library ('torchvision' allows graph nodes).
    device : a torch device.
    out_device : where the activations are returned (default the CPU; the PCA's device avoids
        a round trip through the host on a GPU).
    """

    def __init__(self, net, nodes, library="torchvision", device="cpu", key="nodes", out_device="cpu"):
        import torch
        self.nodes = list(nodes)
        self.how = check_nodes(net, self.nodes, library, key)
        self.device = torch.device(device)
        self.out_device = torch.device(out_device)
        self.net = net.to(self.device).eval()
        self._graph = None
        if any(h == "graph" for h in self.how.values()):
            from torchvision.models.feature_extraction import create_feature_extractor
            self._graph = create_feature_extractor(self.net, return_nodes={n: n for n in self.nodes}).eval()

    def __call__(self, x) -> dict:
        """Activations of a batch.

        Parameters
        ----------
        x : torch.Tensor [batch x 3 x H x W], preprocessed.

        Returns
        -------
        dict node -> torch.Tensor [batch x d_node] float32 on ``out_device`` (each activation
        flattened in C order, a copy: later in-place operations of the model cannot change it).
        """
        import torch
        x = x.to(self.device)
        with torch.no_grad():
            if self._graph is not None:
                out = self._graph(x)
            else:
                out = self._hooked(x)
        return {n: out[n].reshape(out[n].shape[0], -1).to(self.out_device, torch.float32, copy=True)
                for n in self.nodes}

    def _hooked(self, x):
        modules = dict(self.net.named_modules())
        out, handles = {}, []
        remaining = set(self.nodes)

        def hook_for(name):
            def hook(_module, _inputs, output):
                if isinstance(output, (tuple, list)):
                    output = output[0]
                out[name] = output.detach().clone()
                remaining.discard(name)
                if not remaining:
                    raise _Done
            return hook

        for name in self.nodes:
            handles.append(modules[name].register_forward_hook(hook_for(name)))
        try:
            self.net(x)
        except _Done:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in self.nodes if n not in out]
        if missing:
            raise NodeError(f"node(s) {missing} were not reached by the model's forward pass")
        return out


def preprocess(images, resize, crop=None, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """uint8 RGB images to the network's input.

    Parameters
    ----------
    images : np.ndarray uint8 [batch x H x W x 3]
    resize : int: the shorter side is resized to it (bilinear, antialiased: torchvision's
        ``Resize(resize, antialias=True)``), or None to keep the size.
    crop : int or None: a centre crop of crop x crop after the resize (torchvision's ``CenterCrop``).
    mean, std : per-channel normalisation of the [0, 1] intensities.

    Returns
    -------
    torch.Tensor float32 [batch x 3 x H' x W']
    """
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if resize is not None:
        h, w = x.shape[-2:]
        short, long = (h, w) if h <= w else (w, h)
        new_long = int(resize * long / short)
        size = (resize, new_long) if h <= w else (new_long, resize)
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if crop is not None:
        h, w = x.shape[-2:]
        if crop > h or crop > w:
            raise ValueError(f"crop {crop} is larger than the resized image {h} x {w}")
        top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
        x = x[..., top:top + crop, left:left + crop]
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


def node_sizes(extractor, input_shape) -> dict:
    """Number of values per image of each node for inputs of ``input_shape`` (3, H, W): one
    forward pass of a zero image."""
    import torch
    out = extractor(torch.zeros((1, *input_shape), dtype=torch.float32))
    return {n: int(v.shape[1]) for n, v in out.items()}
