"""fetch_seed_faces against a local HTTP server serving the real seed files.

No test reaches the internet: the server listens on 127.0.0.1 and serves the
shared copy of the data set, with faults injected on request.
"""

from __future__ import annotations

import csv
import hashlib
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from skemotion import ChecksumError, DownloadError, fetch_seed_faces
from skemotion.seed_faces import SEED_FACES_COMMIT, SEED_FACES_URL


def _manifest_rows():
    text = resources.files("skemotion").joinpath("manifests/seed_faces.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


class SeedServer:
    """Serves ``seed_dir``; ``corrupt`` and ``break_after`` hold relative paths."""

    def __init__(self, seed_dir: Path) -> None:
        self.seed_dir = seed_dir
        self.requests: list[str] = []
        self.corrupt: set[str] = set()
        self.broken: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                rel = urllib.parse.unquote(self.path.lstrip("/"))
                server.requests.append(rel)
                path = server.seed_dir / rel
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                if rel in server.corrupt:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if rel in server.broken:  # promise everything, send half, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(seed_dir):
    with SeedServer(seed_dir) as srv:
        yield srv


def test_manifest_matches_the_shared_copy(seed_dir):
    rows = _manifest_rows()
    on_disk = sorted(
        p.relative_to(seed_dir).as_posix()
        for split in ("train", "validation")
        for p in (seed_dir / split).rglob("*")
        if p.is_file()
    )
    assert [r["path"] for r in rows] == on_disk
    for row in rows:
        data = (seed_dir / row["path"]).read_bytes()
        assert len(data) == int(row["size"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"]


def test_default_url_is_pinned():
    assert SEED_FACES_COMMIT in SEED_FACES_URL
    assert SEED_FACES_URL.startswith(
        "https://raw.githubusercontent.com/sethuiyer/mlhub/"
    )


def test_good_download_then_cached(server, seed_dir, tmp_path):
    data = fetch_seed_faces(tmp_path, base_url=server.url, progress=False)
    rows = _manifest_rows()
    assert len(data.filenames) == len(rows) == 365
    assert len(server.requests) == 365
    assert data.target_names == [
        "angry",
        "disgust",
        "happy",
        "sad",
        "scared",
        "shocked",
    ]
    assert int(np.sum(data.split == "train")) == 353
    assert int(np.sum(data.split == "validation")) == 12
    for path, row in zip(data.filenames, rows, strict=True):
        assert Path(path).read_bytes() == (seed_dir / row["path"]).read_bytes()
    assert data.root == tmp_path / "seed"
    assert "33%" in data.DESCR
    assert not list(data.root.rglob("*.part"))
    # a second call finds everything verified on disk and asks for nothing
    server.requests.clear()
    again = fetch_seed_faces(tmp_path, base_url=server.url)
    assert server.requests == []
    assert list(again.filenames) == list(data.filenames)


def test_checksum_mismatch_is_refused(server, tmp_path):
    bad = _manifest_rows()[3]["path"]
    server.corrupt.add(bad)
    with pytest.raises(ChecksumError) as info:
        fetch_seed_faces(tmp_path, base_url=server.url)
    assert bad in str(info.value) and "sha256" in str(info.value)
    assert isinstance(info.value, OSError)
    dest = tmp_path / "seed" / bad
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()
    # the files before it were verified and kept
    kept = [r["path"] for r in _manifest_rows()[:3]]
    assert all((tmp_path / "seed" / rel).is_file() for rel in kept)


def test_broken_connection_then_resume(server, tmp_path):
    rows = _manifest_rows()
    broken = rows[10]["path"]
    server.broken.add(broken)
    with pytest.raises(DownloadError) as info:
        fetch_seed_faces(tmp_path, base_url=server.url)
    assert broken in str(info.value)
    assert not (tmp_path / "seed" / broken).exists()
    assert not list((tmp_path / "seed").rglob("*.part"))
    # a second run with a healthy server fetches only what is still missing
    server.broken.clear()
    server.requests.clear()
    data = fetch_seed_faces(tmp_path, base_url=server.url)
    assert sorted(server.requests) == sorted(r["path"] for r in rows[10:])
    assert len(data.filenames) == 365


def test_offline_without_a_copy_says_how_to_supply_one(tmp_path):
    # a port on loopback where nobody listens: connection refused, as offline
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError) as info:
        fetch_seed_faces(tmp_path, base_url=f"http://127.0.0.1:{port}")
    message = str(info.value)
    assert "SKEMOTION_DATA" in message and "seed/train/<label>_face" in message
    assert "365 of 365 files" in message


def test_skemotion_data_points_at_an_existing_copy(shared_data, server, monkeypatch):
    monkeypatch.setenv("SKEMOTION_DATA", str(shared_data))
    data = fetch_seed_faces(download_if_missing=False, base_url=server.url)
    assert data.root == shared_data / "seed"
    assert server.requests == []
    assert len(data.filenames) == 365


def test_no_download_when_not_allowed(tmp_path, server):
    with pytest.raises(DownloadError, match="365 of 365 files"):
        fetch_seed_faces(tmp_path, download_if_missing=False, base_url=server.url)
    assert server.requests == []


def test_seed_url_environment_variable(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SKEMOTION_SEED_URL", server.url)
    fetch_seed_faces(tmp_path / "home")
    assert len(server.requests) == 365
