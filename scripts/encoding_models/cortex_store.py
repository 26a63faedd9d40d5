"""A pycortex filestore owned by the workflow.

pycortex reads $XDG_CONFIG_HOME/pycortex/options.cfg when it is imported and writes
one with defaults if it is missing. ``import_cortex(store)`` points XDG_CONFIG_HOME at
<store>/config and writes an options.cfg whose filestore is <store>/db before the
import, so the user's ~/.config is never read or written and every cache pycortex
builds lands in the workflow's own store. The S1 subject that ships with pycortex is
copied into the store on first use.
"""
from __future__ import annotations

import configparser
import contextlib
import fcntl
import importlib.util
import os
import shutil
import sys

from .io import atomic_path
from .layout import STORE_CONFIG_HOME, STORE_DB, STORE_LOCK, STORE_OPTIONS, path


def _package_defaults() -> configparser.ConfigParser:
    spec = importlib.util.find_spec("cortex")
    if spec is None:
        raise RuntimeError("pycortex is not installed (pip install pycortex==1.4.0)")
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(spec.submodule_search_locations[0], "defaults.cfg"))
    return cfg


@contextlib.contextmanager
def store_lock(store):
    """An exclusive lock over the store, for steps that write into it."""
    os.makedirs(store, exist_ok=True)
    with open(path(STORE_LOCK, store=store), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_store(store, subjects=("S1",)):
    """Create <store>/config/pycortex/options.cfg and <store>/db, copying shipped subjects."""
    store = os.path.abspath(store)
    defaults = _package_defaults()
    shipped_db = defaults.get("basic", "filestore")
    db = path(STORE_DB, store=store)
    with store_lock(store):
        os.makedirs(db, exist_ok=True)
        for subject in subjects:
            target = os.path.join(db, subject)
            source = os.path.join(shipped_db, subject)
            if not os.path.isdir(target) and os.path.isdir(source):
                with atomic_path(target) as tmp:
                    shutil.copytree(source, tmp)
        defaults.set("basic", "filestore", db)
        if shutil.which("inkscape") is None:
            defaults.set("dependency_paths", "inkscape", "None")
        with atomic_path(path(STORE_OPTIONS, store=store)) as tmp, open(tmp, "w") as fh:
            defaults.write(fh)
    return store


def import_cortex(store, subjects=("S1",)):
    """Import pycortex bound to the workflow's store (must run before any other import of it)."""
    store = prepare_store(store, subjects)
    if "cortex" in sys.modules:
        cortex = sys.modules["cortex"]
        if os.path.realpath(cortex.db.filestore) != os.path.realpath(path(STORE_DB, store=store)):
            raise RuntimeError(f"pycortex was imported before its store was set (uses {cortex.db.filestore})")
        return cortex
    os.environ["XDG_CONFIG_HOME"] = path(STORE_CONFIG_HOME, store=store)
    import matplotlib
    matplotlib.use("Agg")
    import cortex
    return cortex


def install_subject(store, subject, zip_path=None, ready_file=None):
    """Make ``subject`` available in the store: copied from pycortex (S1) or unzipped.

    The NSD zip may hold the subject folder at its top or one level down; either way
    it ends at <store>/db/<subject>. Written under a temporary name, then renamed.
    """
    import tempfile
    import zipfile
    store = prepare_store(store, subjects=("S1",) if zip_path is None else ())
    target = os.path.join(path(STORE_DB, store=store), subject)
    if zip_path is not None:
        from .download import check_recorded
        check_recorded(zip_path)          # a downloaded zip must still be what was verified
        with store_lock(store):
            if not os.path.isdir(target):
                with tempfile.TemporaryDirectory(dir=path(STORE_DB, store=store)) as tmp:
                    try:
                        with zipfile.ZipFile(zip_path) as zf:
                            zf.extractall(tmp)
                    except zipfile.BadZipFile as e:
                        raise ValueError(f"{zip_path}: not a valid zip file ({e})") from None
                    found = [root for root, dirs, _ in os.walk(tmp)
                             if os.path.basename(root) == subject and "surfaces" in dirs]
                    if not found:
                        raise ValueError(f"{zip_path}: holds no pycortex subject folder '{subject}' (with surfaces/)")
                    os.replace(found[0], target)
    if not os.path.isdir(os.path.join(target, "surfaces")):
        raise ValueError(f"{target}: pycortex subject '{subject}' is not in the store")
    if ready_file:
        with atomic_path(ready_file) as tmp, open(tmp, "w") as fh:
            fh.write(f"{target}\n")
