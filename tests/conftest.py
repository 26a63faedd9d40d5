import os
import sys

import numpy as np
import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "scripts"), os.path.dirname(os.path.abspath(__file__))]

from workflow_helpers import small_config, snakemake, write_config  # noqa: E402

LAYERS = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]


def fake_anatomy(seed=0):
    """A small stand-in for S1's masks (blobs in a 31x100x100 volume), no pycortex needed."""
    rng = np.random.default_rng(seed)
    shape = (31, 100, 100)
    zz, yy, xx = np.indices(shape)
    anat = {"cortical": ((yy - 50) ** 2 + (xx - 50) ** 2 < 45 ** 2) & ((yy - 50) ** 2 + (xx - 50) ** 2 > 38 ** 2)}
    centers = {"V1": (15, 12, 50), "V2": (15, 15, 40), "V3": (15, 18, 62), "FFA": (8, 40, 20),
               "PPA": (8, 45, 80), "EBA": (20, 30, 15), "OFA": (12, 25, 20), "OPA": (24, 25, 85), "RSC": (22, 40, 60)}
    for name, (cz, cy, cx) in centers.items():
        anat[f"roi_{name}"] = ((zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2) < rng.integers(16, 30)
    return anat


@pytest.fixture(scope="session")
def small_subject():
    from encoding_models import demo
    return demo.make_subject(fake_anatomy(), layers=LAYERS + ["FC6"], n_images=400, n_shared=80,
                             n_zero_reps=5, n_voxels=600, n_features=20, seed=3)


@pytest.fixture
def subject_files(tmp_path, small_subject):
    """The small subject written at the contract's paths under tmp_path/resources."""
    from encoding_models import demo, layout
    files = layout.input_files("demo", LAYERS + ["FC6"], root=str(tmp_path))
    demo.write_subject(files, small_subject, os.path.join(str(tmp_path), layout.path(layout.GROUND_TRUTH, subject="demo")))
    files["features"] = {l: files["features"][l] for l in LAYERS}
    return files





@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """One pycortex store for the session: starts empty, so the first run builds its caches."""
    return tmp_path_factory.mktemp("pycortex_store")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, store):
    wd = tmp_path_factory.mktemp("demo_run")
    write_config(wd, small_config(store))
    res = snakemake(wd, "-c2")   # two map jobs at a time, from an empty pycortex cache
    assert "Finished" in res.stderr + res.stdout
    return wd
