"""The download step against a real HTTP server on 127.0.0.1."""
import functools
import hashlib
import http.server
import os
import threading

import pytest

from encoding_models import download as download_mod
from encoding_models.download import ChangedInput, DownloadError, check_recorded, download, store_path

PAYLOAD = b"\x89HDF\r\n\x1a\n" + os.urandom(300_000)   # starts like the HDF5 file it stands for
HTML = b"<!DOCTYPE html><html><head><title>Dropbox - Error</title></head><body>link expired</body></html>"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    hits = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path.startswith("/good"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/drop":   # promises the whole file, sends a third, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/flaky":  # drops the first time, then works
            if Handler.hits[self.path] == 1:
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD[:1000])
                self.close_connection = True
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD)
        elif self.path.startswith("/html"):   # what an expired share link answers: 200 and a page
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(HTML)))
            self.end_headers()
            self.wfile.write(HTML)
        elif self.path == "/chunked-drop":     # chunked, hangs up before the terminating chunk
            self._chunked(PAYLOAD[: len(PAYLOAD) // 3], finish=False)
        elif self.path == "/chunked-flaky":    # the same the first time, then complete
            first = Handler.hits[self.path] == 1
            self._chunked(PAYLOAD[:1000] if first else PAYLOAD, finish=not first)
        else:
            self.send_error(404, "Not Found")

    def _chunked(self, body, finish):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), 64_000):
            block = body[i:i + 64_000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
        if finish:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _only(path):
    return sorted(os.listdir(os.path.dirname(path)))


def test_good_file_with_pinned_checksum(server, tmp_path):
    out = tmp_path / "f.hdf5"
    assert download(f"{server}/good", str(out), sha256=SHA, sha256_record=str(out) + ".sha256", backoff=0) == SHA
    assert out.read_bytes() == PAYLOAD
    assert (tmp_path / "f.hdf5.sha256").read_text().split()[0] == SHA
    assert _only(str(out)) == ["f.hdf5", "f.hdf5.sha256"]


def test_good_file_records_observed_checksum(server, tmp_path):
    out = tmp_path / "g.csv"
    download(f"{server}/good2", str(out), sha256_record=str(tmp_path / "g.csv.sha256"), backoff=0)
    assert (tmp_path / "g.csv.sha256").read_text().startswith(SHA)


def test_404_is_a_clear_error_and_leaves_nothing(server, tmp_path):
    out = tmp_path / "missing.npy"
    with pytest.raises(DownloadError, match=r"missing.npy: .*HTTP 404"):
        download(f"{server}/nothing-here", str(out), backoff=0)
    assert os.listdir(tmp_path) == []
    assert Handler.hits["/nothing-here"] == 1      # a 404 is not retried


def test_dropped_connection_is_retried_then_fails_cleanly(server, tmp_path):
    out = tmp_path / "betas.hdf5"
    with pytest.raises(DownloadError, match=r"betas.hdf5: .*failed after 3 attempts"):
        download(f"{server}/drop", str(out), attempts=3, backoff=0)
    assert os.listdir(tmp_path) == []
    assert Handler.hits["/drop"] == 3


def test_dropped_connection_recovers_on_retry(server, tmp_path):
    out = tmp_path / "flaky.bin"
    download(f"{server}/flaky", str(out), sha256=SHA, attempts=3, backoff=0)
    assert out.read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    out = tmp_path / "feat.hdf5"
    with pytest.raises(DownloadError, match=r"feat.hdf5: .*sha256 mismatch"):
        download(f"{server}/good3", str(out), sha256="0" * 64, backoff=0)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["betas.hdf5", "image_info.csv"])
def test_html_page_is_refused_naming_file_and_url(server, tmp_path, name):
    out = tmp_path / name
    with pytest.raises(DownloadError, match=rf"{name}: download of {server}/html-{name} failed: looks like an HTML page.*expired or wrong link"):
        download(f"{server}/html-{name}", str(out), sha256_record=str(out) + ".sha256", backoff=0)
    assert os.listdir(tmp_path) == []
    assert Handler.hits[f"/html-{name}"] == 1      # not retried


def test_dropped_chunked_transfer_is_retried_then_fails_cleanly(server, tmp_path):
    out = tmp_path / "roi.npy"
    with pytest.raises(DownloadError, match=rf"roi.npy: download of {server}/chunked-drop failed after 3 attempts: IncompleteRead"):
        download(f"{server}/chunked-drop", str(out), attempts=3, backoff=0)
    assert os.listdir(tmp_path) == []
    assert Handler.hits["/chunked-drop"] == 3


def test_dropped_chunked_transfer_recovers_on_retry(server, tmp_path):
    out = tmp_path / "feat.hdf5"
    download(f"{server}/chunked-flaky", str(out), sha256=SHA, attempts=3, backoff=0)
    assert out.read_bytes() == PAYLOAD
    assert Handler.hits["/chunked-flaky"] == 2


def test_verified_copy_in_the_store_is_linked_without_fetching(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                     # the store's pattern is relative
    url, out = f"{server}/good-stored", tmp_path / "resources" / "s" / "betas.hdf5"
    stored = store_path(url, "betas.hdf5")
    download(url, str(out), sha256_record=f"{out}.sha256", stored=stored, backoff=0)
    assert os.path.samefile(out, stored) and Handler.hits["/good-stored"] == 1
    for f in (out, f"{out}.sha256"):                # what Snakemake does before a rerun
        os.remove(f)
    assert download(url, str(out), sha256=SHA, sha256_record=f"{out}.sha256", stored=stored) == SHA
    assert out.read_bytes() == PAYLOAD and Handler.hits["/good-stored"] == 1
    assert (tmp_path / "resources" / "s" / "betas.hdf5.sha256").read_text().split()[0] == SHA


def test_store_copy_that_does_not_verify_is_fetched_again(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url, out = f"{server}/good-restored", tmp_path / "betas.hdf5"
    stored = store_path(url, "betas.hdf5")
    download(url, str(out), stored=stored, backoff=0)
    os.remove(out)
    with open(stored, "r+b") as fh:                 # bit rot
        fh.seek(100)
        fh.write(b"x")
    download(url, str(out), stored=stored, backoff=0)
    assert out.read_bytes() == PAYLOAD and Handler.hits["/good-restored"] == 2


def _flip_byte(path, offset=-100):
    with open(path, "r+b") as fh:
        fh.seek(offset, os.SEEK_END if offset < 0 else os.SEEK_SET)
        b = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([b[0] ^ 0xFF]))


def test_input_is_verified_before_use_cheaply(server, tmp_path, monkeypatch):
    """Issue 20: the input (a hard link of the store's copy) is checked against its record
    before use; unchanged size and mtime: no hashing; a flipped byte: refused, naming it."""
    monkeypatch.chdir(tmp_path)
    url, out = f"{server}/good-checked", tmp_path / "resources" / "s" / "features" / "Conv1.hdf5"
    stored = store_path(url, "Conv1.hdf5")
    download(url, str(out), sha256_record=f"{out}.sha256", stored=stored, backoff=0)
    record = open(f"{out}.sha256").read()
    assert record.startswith(f"{SHA}  Conv1.hdf5\n# size={len(PAYLOAD)} mtime_ns=")
    calls = []
    real = download_mod.sha256_of
    monkeypatch.setattr(download_mod, "sha256_of", lambda p, *a: calls.append(p) or real(p, *a))
    assert check_recorded(str(out)) == SHA and calls == []          # stamp unchanged: not hashed
    os.utime(out)                                                  # touched, same bytes: hashed, accepted
    assert check_recorded(str(out)) == SHA and calls == [str(out)]
    _flip_byte(stored)                                             # the store's copy is the input's inode
    with pytest.raises(ChangedInput, match=rf"{out}: sha256 [0-9a-f]{{64}} differs from {SHA}, recorded in {out}.sha256"):
        check_recorded(str(out))
    assert check_recorded(str(tmp_path / "no-record.hdf5")) is None   # not a download: nothing to check
    # the contract's readers check it too, naming the file
    from encoding_models import contract
    with pytest.raises(contract.DataContractError, match=rf"{out}: sha256 .* differs"):
        contract.load_features(str(out))
    # deleting the input (as the message says) fetches it again: the store's copy no longer verifies
    os.remove(out)
    os.remove(f"{out}.sha256")
    download(url, str(out), sha256_record=f"{out}.sha256", stored=stored, backoff=0)
    assert out.read_bytes() == PAYLOAD and Handler.hits["/good-checked"] == 2 and check_recorded(str(out)) == SHA


def test_symlink_in_the_store_is_refused(server, tmp_path, monkeypatch):
    """A link whose target matches the recorded sha256 is still refused: its target can change behind the record."""
    monkeypatch.chdir(tmp_path)
    url, out = f"{server}/good-linked", tmp_path / "betas.hdf5"
    stored = store_path(url, "betas.hdf5")
    os.makedirs(os.path.dirname(stored))
    (tmp_path / "elsewhere.hdf5").write_bytes(PAYLOAD)
    os.symlink(tmp_path / "elsewhere.hdf5", stored)
    with open(stored + ".sha256", "w") as fh:
        fh.write(f"{SHA}  betas.hdf5\n")
    with pytest.raises(DownloadError, match=r"betas.hdf5: is a symbolic link"):
        download(url, str(out), stored=stored, backoff=0)
    assert not out.exists() and Handler.hits.get("/good-linked", 0) == 0


# ------------------------------------------------------------------ the download rule
class SubjectHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the subject's files and counts requests; once ``expired``, answers every
    request with a 200 HTML page, as an expired share link does."""
    requests = []
    expired = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        SubjectHandler.requests.append(self.path)
        if not SubjectHandler.expired:
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Length", str(len(HTML)))
        self.end_headers()
        self.wfile.write(HTML)


@pytest.fixture
def served_subject(tmp_path, subject_files):
    """The small subject's files behind a counting SimpleHTTPRequestHandler on 127.0.0.1."""
    root = os.path.dirname(subject_files["betas"])
    SubjectHandler.requests, SubjectHandler.expired = [], False
    handler = functools.partial(SubjectHandler, directory=root)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def _download_config(url, sha=None):
    layers = ["Conv1", "Conv2", "Conv3", "Conv4", "Conv5"]
    subject = {"source": "download", "split_seed": 42102,
               "urls": {"betas": f"{url}/betas_avg_bigmask.hdf5", "image_info": f"{url}/image_info.csv",
                        "roi_info": f"{url}/voxel_roi_info.npy",
                        "features": {l: f"{url}/features/{l}.hdf5" for l in layers}}}
    if sha:
        subject["sha256"] = sha
    return {"subjects": {"subj02": subject}, "layers": layers, "rois": ["all", "V1v", "FFA-1"],
            "maps": {"enabled": False}}


@pytest.mark.workflow
def test_download_rule_feeds_the_workflow(served_subject, tmp_path):
    from workflow_helpers import snakemake, write_config
    url, root = served_subject
    wd = tmp_path / "wd"
    write_config(wd, _download_config(url))
    snakemake(wd, "-c2", "results/subj02/fits/Conv1+Conv2.h5")
    for name in ("betas_avg_bigmask.hdf5", "image_info.csv", "voxel_roi_info.npy", "features/Conv2.hdf5"):
        got = (wd / "resources" / "subj02" / name).read_bytes()
        assert got == open(os.path.join(root, name), "rb").read()
        recorded = (wd / "resources" / "subj02" / f"{name}.sha256").read_text().split()[0]
        assert recorded == hashlib.sha256(got).hexdigest()

    # issue 20: one byte flipped in the store's copy (the input is a hard link of it) is
    # refused by the next run before crossprod uses it, naming the file
    stored = wd / store_path(f"{url}/features/Conv1.hdf5", "Conv1.hdf5")
    assert os.path.samefile(stored, wd / "resources" / "subj02" / "features" / "Conv1.hdf5")
    crossprod = wd / "results" / "subj02" / "crossprod" / "Conv1.h5"
    before = crossprod.read_bytes()
    _flip_byte(stored)
    res = snakemake(wd, "-c1", "results/subj02/fits/Conv1+Conv2.h5", check=False)
    out = res.stdout + res.stderr + (wd / "logs" / "subj02" / "fit_layer" / "Conv1.log").read_text()
    assert res.returncode != 0 and "features/Conv1.hdf5: sha256" in out and "differs from" in out, out[-3000:]
    assert not crossprod.exists() or crossprod.read_bytes() == before
    # deleting the input, as the message says, fetches it again and the run goes through
    os.remove(wd / "resources" / "subj02" / "features" / "Conv1.hdf5")
    snakemake(wd, "-c2", "results/subj02/crossprod/Conv1.h5")
    assert (wd / "resources" / "subj02" / "features" / "Conv1.hdf5").read_bytes() == \
        open(os.path.join(root, "features", "Conv1.hdf5"), "rb").read()


@pytest.mark.workflow
def test_download_rule_checksum_mismatch_fails_cleanly(served_subject, tmp_path):
    from workflow_helpers import snakemake, write_config
    url, _ = served_subject
    wd = tmp_path / "wd"
    write_config(wd, _download_config(url, sha={"image_info": "0" * 64}))
    res = snakemake(wd, "-c1", "resources/subj02/image_info.csv", check=False)
    assert res.returncode != 0
    log = (wd / "logs" / "subj02" / "download" / "image_info.csv.log").read_text()
    assert "image_info.csv" in log and "sha256 mismatch" in log
    assert not (wd / "resources" / "subj02" / "image_info.csv").exists()
    subject_dir = wd / "resources" / "subj02"
    assert not (subject_dir.exists() and list(subject_dir.glob("*image_info*")))   # nothing half-written


@pytest.mark.workflow
def test_download_survives_an_update_of_the_download_code(served_subject, tmp_path):
    """Download, change the download code (as git pull would), take the links away, rerun:
    the verified files are linked back from the store, nothing is fetched, the run succeeds."""
    import shutil
    from workflow_helpers import ROOT, snakemake, write_config
    url, root = served_subject
    repo = tmp_path / "repo"                   # a copy of the workflow whose code we can change
    for name in ("workflow", "scripts", "envs"):
        shutil.copytree(os.path.join(ROOT, name), repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(os.path.join(ROOT, "Snakefile"), repo / "Snakefile")
    wd = tmp_path / "wd"
    write_config(wd, _download_config(url))
    names = ["betas_avg_bigmask.hdf5", "image_info.csv", "voxel_roi_info.npy"]
    targets = [f"resources/subj02/{n}" for n in names]
    run = functools.partial(snakemake, wd, "-c1", *targets, snakefile=repo / "Snakefile")
    run()
    assert sorted(SubjectHandler.requests) == sorted(f"/{n}" for n in names)
    original = {n: open(os.path.join(root, n), "rb").read() for n in names}

    with open(repo / "scripts" / "download.py", "a") as fh:
        fh.write("# changed by an update\n")
    SubjectHandler.expired = True              # every link now answers with an HTML page
    res = run()
    assert "Code has changed" in res.stdout + res.stderr      # the download jobs did rerun
    assert len(SubjectHandler.requests) == len(names)         # ... without fetching anything
    for n in names:
        assert (wd / "resources" / "subj02" / n).read_bytes() == original[n]
        assert (wd / "resources" / "subj02" / f"{n}.sha256").read_text().split()[0] == hashlib.sha256(original[n]).hexdigest()

    SubjectHandler.expired = False             # a new URL is fetched again
    cfg = _download_config(url)
    cfg["subjects"]["subj02"]["urls"]["image_info"] += "?v=2"
    write_config(wd, cfg)
    run()
    assert SubjectHandler.requests[len(names):] == ["/image_info.csv?v=2"]
    assert (wd / "resources" / "subj02" / "image_info.csv").read_bytes() == original["image_info.csv"]
