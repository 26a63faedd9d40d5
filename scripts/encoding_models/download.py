"""Downloading one input file: streamed, retried, checksummed, renamed only when complete."""
from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request

from .io import atomic_path

log = logging.getLogger("encoding_models")


class DownloadError(RuntimeError):
    pass


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


def download(url, path, *, sha256=None, sha256_record=None, attempts=3, backoff=1.0,
             timeout=60, chunk=1 << 20):
    """Fetch ``url`` to ``path``. Nothing appears at ``path`` unless it is complete and verified.

    A pinned ``sha256`` is checked (a mismatch is not retried: the server sends the
    wrong file); otherwise the observed sha256 is recorded in ``sha256_record``.
    HTTP 4xx errors are not retried; dropped connections and 5xx errors are.
    """
    last = None
    for attempt in range(1, attempts + 1):
        try:
            with atomic_path(path) as tmp:
                digest, n = _fetch(url, tmp, timeout, chunk)
                if sha256 and digest != sha256.lower():
                    raise DownloadError(f"sha256 mismatch: expected {sha256}, got {digest}")
            break
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code} {e.reason}"
            if 400 <= e.code < 500:
                break
        except DownloadError as e:
            last = str(e)
            if "sha256 mismatch" in last:
                break
        except (urllib.error.URLError, OSError, ConnectionError) as e:
            last = f"{type(e).__name__}: {e}"
        log.warning("%s: attempt %d/%d failed: %s", path, attempt, attempts, last)
        if attempt < attempts:
            time.sleep(backoff * attempt)
    else:
        raise DownloadError(f"{path}: download of {url} failed after {attempts} attempts: {last}")
    if not os.path.exists(path):
        raise DownloadError(f"{path}: download of {url} failed: {last}")
    if sha256_record:
        with atomic_path(sha256_record) as tmp, open(tmp, "w") as fh:
            fh.write(f"{digest}  {os.path.basename(path)}\n")
    log.info("%s: %d bytes, sha256 %s", path, n, digest)
    return digest
