"""Reading .npy files without running code from them."""
import collections
import os
import pickle

import numpy as np
import pytest

from encoding_models import safe_npy

PLAIN = {
    "mask": np.arange(12).reshape(3, 4) % 2 == 0,
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
    "names": {0: "Unknown", 1: "V1v"},
    "ordered": collections.OrderedDict(a=1.5, b=[1, "two", None]),
    "scalars": [np.float64(0.5), np.int16(-3), np.bool_(True), 2 + 1j, b"raw"],
    "sets": (set([1, 2]), frozenset(["x"])),
    "text": np.array(["V1v", "FFA-1"]),
}


def _write(path, obj, protocol):
    """An object .npy as np.save writes it, with the given pickle protocol."""
    arr = np.empty((), dtype=object)
    arr[()] = obj
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(arr))
        pickle.dump(arr, fh, protocol=protocol)


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_plain_dict_loads_under_every_protocol(protocol, tmp_path):
    path = tmp_path / "d.npy"
    _write(path, PLAIN, protocol)
    assert _same(safe_npy.load_npy(path).item(), PLAIN)


def test_np_save_output_loads(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, PLAIN, allow_pickle=True)
    assert _same(safe_npy.load_npy(path).item(), PLAIN)


def test_plain_array_is_read_without_pickle(tmp_path, monkeypatch):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(10.0).reshape(2, 5))
    monkeypatch.setattr(safe_npy, "_RestrictedUnpickler", None)   # any use of it would fail
    assert np.array_equal(safe_npy.load_npy(path), np.arange(10.0).reshape(2, 5))


class _Opens:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.mark.parametrize("protocol", [2, 5])
def test_code_is_refused_and_not_run(protocol, tmp_path):
    marker = tmp_path / "created"
    path = tmp_path / "evil.npy"
    _write(path, {"voxel_mask": np.ones(3), "x": [_Opens(str(marker))]}, protocol)
    with pytest.raises(safe_npy.RefusedGlobal, match=r"refused to load global .*\.open'"):
        safe_npy.load_npy(path)
    assert not marker.exists()


def test_pickle_that_is_not_the_header_array_is_refused(tmp_path):
    path = tmp_path / "odd.npy"
    arr = np.empty((2,), dtype=object)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(arr))
        pickle.dump({"not": "an array"}, fh, protocol=4)
    with pytest.raises(ValueError, match="not the"):
        safe_npy.load_npy(path)
    assert os.path.exists(path)
