"""Downloading one input file: streamed, retried, checksummed, renamed only when complete.

A verified download is kept in a content store that no rule declares as output
(STORE_PATTERN). The declared output is a hard link to it, so when Snakemake deletes the
output before rerunning the download (after a code change, --forcerun, ...), the rerun
links the verified copy back into place without touching the network.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import time
import urllib.error
import urllib.request

from .io import atomic_path

log = logging.getLogger("encoding_models")

# Where the verified bytes of a URL live, relative to the workflow's working directory.
from .layout import DOWNLOAD_STORE as STORE_PATTERN

# What a file must start with, by extension. A 200 response carrying an HTML page (an
# expired share link) must never be renamed into place as data; text files (.csv, .cfg)
# must not start like HTML.
SIGNATURES = {".hdf5": b"\x89HDF\r\n\x1a\n", ".h5": b"\x89HDF\r\n\x1a\n", ".npy": b"\x93NUMPY", ".zip": b"PK\x03\x04"}
HEAD_BYTES = 1024


class DownloadError(RuntimeError):
    pass


class _Refused(DownloadError):
    """The server answered, but with the wrong content: retrying will not help."""


def store_path(url, name):
    """The content store's path for ``url`` (keyed by the URL's sha256) and file ``name``."""
    return STORE_PATTERN.format(url_sha256=hashlib.sha256(url.encode()).hexdigest(), name=os.path.basename(name))


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_html(head):
    start = head.lstrip().lower()
    return start.startswith(b"<") or b"<html" in start


def content_problem(name, head: bytes):
    """Why ``head`` (the first bytes of a download) cannot be the file ``name``; None if it can."""
    ext = os.path.splitext(name)[1].lower()
    signature = SIGNATURES.get(ext)
    if signature is not None and head.startswith(signature):
        return None
    if _looks_like_html(head):
        return "looks like an HTML page, not the data file (an expired or wrong link?)"
    if signature is not None:
        return f"is not a {ext} file (starts with {head[:16]!r})"
    return None


def file_stamp(path):
    """(size, mtime in ns) of a file: recorded with its sha256, so that a file whose stamp
    has not changed need not be hashed again before use."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def read_record(path):
    """(sha256, stamp or None) of a checksum record, or (None, None) if it cannot be read.

    A record is ``sha256sum``'s line ``<sha256>  <name>``, then a comment line
    ``# size=<bytes> mtime_ns=<ns>`` (``sha256sum -c`` skips it) giving the file's stamp
    when it was verified; records without it (older ones) make every check hash the file.
    """
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
        digest = lines[0].split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None, None
    stamp = None
    for line in lines[1:]:
        fields = dict(f.split("=", 1) for f in line.lstrip("#").split() if "=" in f)
        try:
            stamp = int(fields["size"]), int(fields["mtime_ns"])
        except (KeyError, ValueError):
            continue
    return digest, stamp


def _write_record(path, digest, name, stamp=None):
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write(f"{digest}  {os.path.basename(name)}\n")
        if stamp is not None:
            fh.write(f"# size={stamp[0]} mtime_ns={stamp[1]}\n")


def _refuse_links(*paths):
    links = [p for p in paths if os.path.islink(p)]
    if links:
        raise DownloadError(f"{links[0]}: is a symbolic link; the download store keeps only the files it fetched "
                            "(a link's target can change behind its record): delete it to download the file again")


def verified_copy(stored, sha256=None):
    """The sha256 of the stored file if it verifies (matches its record and the pin), else None.

    Cheap when nothing changed: a file whose size and mtime are those recorded with its
    sha256 is not hashed again; otherwise it is, and a mismatch means fetching it again.
    A symbolic link in the store (file or record) is refused (DownloadError).
    """
    _refuse_links(stored, stored + ".sha256")
    recorded, stamp = read_record(stored + ".sha256")
    if recorded is None or not os.path.isfile(stored) or (sha256 and recorded != sha256.lower()):
        return None
    if stamp is not None and stamp == file_stamp(stored):
        return recorded
    if sha256_of(stored) != recorded:
        log.warning("%s: does not match its recorded sha256, fetching it again", stored)
        return None
    _write_record(stored + ".sha256", recorded, stored, file_stamp(stored))
    return recorded


class ChangedInput(ValueError):
    """An input file no longer matches the sha256 recorded when it was downloaded.
    str() names the file and the problem."""

    def __init__(self, path, problem):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def check_recorded(path, suffix=".sha256"):
    """Verify an input file against the checksum record beside it (``<path>.sha256``,
    written by ``download``) before it is used; return its sha256, or None where there is
    no record (a file that was not downloaded, e.g. the demo's).

    Cheap: when the file's size and mtime are those recorded, it is not hashed again.
    Raises ChangedInput (naming the file and the record) when the file's sha256 differs
    from the recorded one: the file changed after it was verified (a byte flipped in the
    store, whose file it is a hard link of, or an edit by hand).
    """
    record = path + suffix
    if not os.path.lexists(record):
        return None
    recorded, stamp = read_record(record)
    if recorded is None:
        raise ChangedInput(path, f"its checksum record {record} cannot be read; delete both to download it again")
    if stamp is not None and os.path.isfile(path) and stamp == file_stamp(path):
        return recorded
    actual = sha256_of(path)
    if actual != recorded:
        raise ChangedInput(path, f"sha256 {actual} differs from {recorded}, recorded in {record} when it was "
                                 "downloaded: the file changed since (it is a hard link of the copy in "
                                 "resources/.downloads); delete it to download it again")
    return recorded


def link_into_place(src, dst):
    """Make ``dst`` a hard link to ``src`` (a copy where linking fails), atomically."""
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _fetch(url, tmp, timeout, chunk):
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
        expected = resp.headers.get("Content-Length")
        n = 0
        while True:
            block = resp.read(chunk)
            if not block:
                break
            fh.write(block)
            digest.update(block)
            n += len(block)
    if expected is not None and n != int(expected):
        raise DownloadError(f"connection closed after {n} of {expected} bytes")
    return digest.hexdigest(), n


def _check(path, tmp, digest, sha256):
    with open(tmp, "rb") as fh:
        problem = content_problem(path, fh.read(HEAD_BYTES))
    if problem:
        raise _Refused(problem)
    if sha256 and digest != sha256.lower():
        raise _Refused(f"sha256 mismatch: expected {sha256}, got {digest}")


def fetch(url, path, *, sha256=None, label=None, attempts=3, backoff=1.0, timeout=60, chunk=1 << 20):
    """Fetch ``url`` to ``path``, retried; nothing appears at ``path`` unless complete and checked.

    HTTP 4xx errors, a sha256 mismatch and content of the wrong kind (an HTML page) are
    not retried; dropped connections (incomplete reads included) and 5xx errors are.
    Messages name ``label`` (default: ``path``), the file the user asked for.
    """
    label = label or path
    last = None
    for attempt in range(1, attempts + 1):
        try:
            with atomic_path(path) as tmp:
                digest, n = _fetch(url, tmp, timeout, chunk)
                _check(label, tmp, digest, sha256)
            log.info("%s: %d bytes from %s, sha256 %s", label, n, url, digest)
            return digest
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code} {e.reason}"
            if 400 <= e.code < 500:
                break
        except _Refused as e:
            last = str(e)
            break
        except (DownloadError, urllib.error.URLError, OSError, http.client.HTTPException) as e:
            last = str(e) if isinstance(e, DownloadError) else f"{type(e).__name__}: {e}"
        log.warning("%s: attempt %d/%d failed: %s", label, attempt, attempts, last)
        if attempt < attempts:
            time.sleep(backoff * attempt)
    else:
        raise DownloadError(f"{label}: download of {url} failed after {attempts} attempts: {last}")
    raise DownloadError(f"{label}: download of {url} failed: {last}")


def download(url, path, *, sha256=None, sha256_record=None, stored=None, **fetch_options):
    """Put the verified file of ``url`` at ``path``; return its sha256.

    ``stored``: the content store's path for this URL (see store_path). If it holds a copy
    that verifies, ``path`` becomes a link to it and nothing is fetched; otherwise the file
    is fetched into the store (with its ``.sha256`` record) and then linked. Without
    ``stored`` the file is fetched straight to ``path``. A pinned ``sha256`` is checked;
    ``sha256_record`` receives the observed sha256.
    """
    digest = verified_copy(stored, sha256) if stored else None
    if digest:
        log.info("%s: verified copy in %s (sha256 %s), not fetched again", path, stored, digest)
    else:
        digest = fetch(url, stored or path, sha256=sha256, label=path, **fetch_options)
        if stored:
            _write_record(stored + ".sha256", digest, stored, file_stamp(stored))
    if stored:
        link_into_place(stored, path)
    if sha256_record:
        _write_record(sha256_record, digest, path, file_stamp(path))
    return digest
