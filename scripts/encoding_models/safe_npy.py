"""Reading a .npy file without running code from it.

``np.load(allow_pickle=True)`` unpickles object arrays with the full pickle machinery,
so a crafted file can call any importable function (``os.system``, ``open``, ...).
Here the header is parsed with numpy.lib.format; arrays without Python objects are read
without pickle at all, and object arrays are unpickled by an Unpickler that resolves
only the globals a pickled numpy array of plain data needs.
"""
from __future__ import annotations

import _compat_pickle
import codecs
import collections
import pickle

import numpy as np
from numpy.lib import format as npy_format

_core = np._core if hasattr(np, "_core") else np.core   # numpy >= 2 / numpy 1.x

# The globals a pickled object array of dicts, lists, strings, numbers, numpy arrays and
# numpy scalars refers to; numpy 1.x wrote them under numpy.core.*, numpy 2 under numpy._core.*.
_NUMPY_CORE = {
    ("multiarray", "_reconstruct"): _core.multiarray._reconstruct,   # ndarray.__reduce__
    ("multiarray", "scalar"): _core.multiarray.scalar,               # numpy scalars
    ("numeric", "_frombuffer"): _core.numeric._frombuffer,           # ndarray, pickle protocol 5
}
ALLOWED_GLOBALS = {
    **{(f"{package}.{module}", name): obj
       for package in ("numpy.core", "numpy._core")
       for (module, name), obj in _NUMPY_CORE.items()},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,   # bytes under pickle protocol 2
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("collections", "OrderedDict"): collections.OrderedDict,
}

_HEADER_READERS = {   # version 3.0 differs from 2.0 only in the header's text encoding
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
    (3, 0): npy_format.read_array_header_2_0,
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle refers to a global outside ALLOWED_GLOBALS."""

    def __init__(self, module, name):
        self.qualname = f"{module}.{name}"
        super().__init__(f"refused to load global '{self.qualname}'")


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        # Python 2 names, which pickle protocols < 3 write (e.g. __builtin__.set), as pickle maps them
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None


def load_npy(path) -> np.ndarray:
    """The array stored in the .npy file ``path``, read without running code from it.

    Raises RefusedGlobal for a pickle that needs anything but plain data, ValueError for
    a malformed file (not .npy, or a pickle that does not hold the header's array).
    """
    with open(path, "rb") as fh:
        version = npy_format.read_magic(fh)
        if version not in _HEADER_READERS:
            raise ValueError(f".npy format version {version} is not supported")
        shape, _, dtype = _HEADER_READERS[version](fh)
        if not dtype.hasobject:
            fh.seek(0)
            return npy_format.read_array(fh, allow_pickle=False)
        array = _RestrictedUnpickler(fh, encoding="ASCII").load()
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise ValueError(f"pickled data is not the {tuple(shape)} array the header describes")
    return array
