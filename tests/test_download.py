"""The download step against a real HTTP server on 127.0.0.1."""
import hashlib
import http.server
import os
import threading

import pytest

from encoding_models.download import DownloadError, download

PAYLOAD = os.urandom(300_000)
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
        else:
            self.send_error(404, "Not Found")


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


# ------------------------------------------------------------------ the download rule
@pytest.fixture
def served_subject(tmp_path, subject_files):
    """The small subject's files behind a SimpleHTTPRequestHandler on 127.0.0.1."""
    import functools
    root = os.path.dirname(subject_files["betas"])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    handler.log_message = lambda *a: None
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
