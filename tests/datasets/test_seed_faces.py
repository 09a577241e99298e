"""fetch_seed_faces against a local HTTP server serving the real seed files.

No test reaches the internet: the server listens on 127.0.0.1 and serves the
shared copy of the data set, with faults injected on request.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import socket
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from skemotion.datasets import _seed_faces as seed_faces
from skemotion.datasets._seed_faces import (
    SEED_FACES_COMMIT,
    SEED_FACES_URL,
    fetch_seed_faces,
)
from skemotion.exceptions import ChecksumError, DownloadError

N_FILES = 365
LABELS = ["angry", "disgust", "happy", "sad", "scared", "shocked"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif"}


def _manifest_rows() -> list[dict[str, str]]:
    text = (
        resources.files("skemotion.datasets")
        .joinpath("manifests/seed_faces.csv")
        .read_text(encoding="utf-8")
    )
    return list(csv.DictReader(text.splitlines()))


def _images_in(seed_dir: Path) -> list[str]:
    """Relative paths of the images under seed_dir's split folders."""
    return sorted(
        p.relative_to(seed_dir).as_posix()
        for split in ("train", "validation")
        for p in (seed_dir / split).rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


class SeedServer:
    """Serves ``seed_dir`` over HTTP on 127.0.0.1 and records each request.

    ``corrupt``: relative paths served with one byte changed. ``broken``:
    relative path -> how many more times to promise the whole file in
    Content-Length, send half of it and hang up (``-1``: always).
    """

    def __init__(self, seed_dir: Path) -> None:
        self.seed_dir = seed_dir
        self.requests: list[str] = []
        self.corrupt: set[str] = set()
        self.broken: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                rel = urllib.parse.unquote(self.path.lstrip("/"))
                with server.lock:
                    server.requests.append(rel)
                    breaks = server.broken.get(rel, 0)
                    if breaks > 0:
                        server.broken[rel] = breaks - 1
                path = server.seed_dir / rel
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                if rel in server.corrupt:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if breaks:  # promise everything, send half, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> SeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(seed_dir):
    with SeedServer(seed_dir) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fast_and_isolated(monkeypatch):
    """No retry pauses, and no user setting of the download address."""
    monkeypatch.setattr(seed_faces, "_RETRY_DELAY", 0.0)
    monkeypatch.delenv("SKEMOTION_SEED_URL", raising=False)


def _copy_seed(seed_dir: Path, data_home: Path, *, leave_out=()) -> None:
    """Put a verified copy of the seed files in data_home, except leave_out."""
    for row in _manifest_rows():
        if row["path"] in leave_out:
            continue
        dest = data_home / "seed" / row["path"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed_dir / row["path"], dest)


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_manifest_matches_the_shared_copy(seed_dir):
    rows = _manifest_rows()
    paths = [r["path"] for r in rows]
    assert paths == sorted(paths)
    assert paths == _images_in(seed_dir)
    assert all(
        "\\" not in p and p.split("/")[0] in ("train", "validation") for p in paths
    )
    for row in rows:
        data = (seed_dir / row["path"]).read_bytes()
        assert len(data) == int(row["size"]), row["path"]
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row["path"]


def test_default_url_is_pinned():
    assert SEED_FACES_COMMIT in SEED_FACES_URL
    assert SEED_FACES_URL == (
        "https://raw.githubusercontent.com/sethuiyer/mlhub/"
        "6be271c0070a0c0bb90dd92aceb344e7415bb1db/Multi%20Emotion%20Detector/data"
    )


def test_good_download_then_cached(server, seed_dir, tmp_path):
    rows = _manifest_rows()
    data = fetch_seed_faces(tmp_path, base_url=server.url, progress=False)
    assert len(data.filenames) == len(rows) == len(_images_in(seed_dir)) == N_FILES
    assert sorted(server.requests) == [r["path"] for r in rows]
    assert data.root == tmp_path / "seed"
    assert data.target_names == LABELS
    assert Counter(data.split) == {"train": 353, "validation": 12}
    assert Counter(data.target[data.split == "validation"]) == dict.fromkeys(LABELS, 2)
    assert Counter(data.target[data.split == "train"]) == {
        **dict.fromkeys(LABELS, 59),
        "scared": 58,
    }
    for path, row, label, split in zip(
        data.filenames, rows, data.target, data.split, strict=True
    ):
        assert Path(path).is_absolute()
        assert Path(path) == data.root / row["path"]
        assert Path(path).read_bytes() == (seed_dir / row["path"]).read_bytes()
        assert row["path"].startswith(f"{split}/{label}_face/")
    assert not list(data.root.rglob("*.part"))
    assert SEED_FACES_COMMIT in data.DESCR and "MIT" in data.DESCR
    assert "33%" in data.DESCR and "15 groups" in data.DESCR

    # a second call finds everything verified on disk and asks for nothing
    server.requests.clear()
    again = fetch_seed_faces(tmp_path, base_url=server.url)
    assert server.requests == []
    assert list(again.filenames) == list(data.filenames)

    # a damaged local file (same size, other bytes) is downloaded again, alone
    damaged = Path(data.filenames[7])
    raw = bytearray(damaged.read_bytes())
    raw[0] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    fetch_seed_faces(tmp_path, base_url=server.url)
    assert server.requests == [rows[7]["path"]]
    assert damaged.read_bytes() == (seed_dir / rows[7]["path"]).read_bytes()


def test_checksum_mismatch_is_refused(server, tmp_path):
    rows = _manifest_rows()
    bad = rows[3]["path"]
    server.corrupt.add(bad)
    with pytest.raises(ChecksumError) as info:
        fetch_seed_faces(tmp_path, base_url=server.url)
    message = str(info.value)
    assert bad in message
    assert rows[3]["sha256"] in message  # expected
    corrupt = bytearray((server.seed_dir / bad).read_bytes())
    corrupt[-1] ^= 0xFF
    assert hashlib.sha256(corrupt).hexdigest() in message  # actual
    assert isinstance(info.value, DownloadError) and isinstance(info.value, OSError)
    assert server.requests.count(bad) == 1  # a wrong file is not fetched again
    dest = tmp_path / "seed" / bad
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()
    # the files before it were verified and kept, nothing after it was fetched
    assert all((tmp_path / "seed" / r["path"]).is_file() for r in rows[:3])
    assert sorted(p.name for p in dest.parent.iterdir()) == sorted(
        Path(r["path"]).name for r in rows[:3]
    )


def test_broken_connection_then_resume(server, tmp_path):
    rows = _manifest_rows()
    broken = rows[10]["path"]
    server.broken[broken] = -1  # breaks every time: retries do not help
    with pytest.raises(DownloadError) as info:
        fetch_seed_faces(tmp_path, base_url=server.url)
    assert not isinstance(info.value, ChecksumError)
    message = str(info.value)
    assert broken in message and "connection closed" in message
    assert server.requests.count(broken) == 1 + seed_faces._RETRIES
    dest = tmp_path / "seed" / broken
    assert not dest.exists()
    assert not list((tmp_path / "seed").rglob("*.part"))
    assert all((tmp_path / "seed" / r["path"]).is_file() for r in rows[:10])

    # a second run with a healthy server fetches only what is still missing
    server.broken.clear()
    server.requests.clear()
    data = fetch_seed_faces(tmp_path, base_url=server.url)
    assert server.requests == [r["path"] for r in rows[10:]]
    assert len(data.filenames) == N_FILES
    assert dest.read_bytes() == (server.seed_dir / broken).read_bytes()


def test_transient_break_is_retried(server, seed_dir, tmp_path):
    flaky = _manifest_rows()[20]["path"]
    _copy_seed(seed_dir, tmp_path, leave_out={flaky})
    stale = tmp_path / "seed" / (flaky + ".part")  # left by a killed run
    stale.write_bytes(b"junk")
    server.broken[flaky] = 1  # breaks once, then serves the file
    data = fetch_seed_faces(tmp_path, base_url=server.url)
    assert not stale.exists()
    assert server.requests == [flaky, flaky]
    assert (data.root / flaky).read_bytes() == (seed_dir / flaky).read_bytes()


def test_offline_without_a_copy_says_how_to_supply_one(tmp_path):
    # a port on loopback where nobody listens: connection refused, as offline
    with pytest.raises(DownloadError) as info:
        fetch_seed_faces(tmp_path, base_url=f"http://127.0.0.1:{_unused_port()}")
    assert not isinstance(info.value, ChecksumError)
    message = str(info.value)
    assert "SKEMOTION_DATA" in message and "data_home" in message
    assert "seed/train/<label>_face" in message and "seed/validation" in message
    assert f"{N_FILES} of {N_FILES} files" in message
    assert SEED_FACES_URL in message
    assert not list(tmp_path.rglob("*"))  # not even empty folders


def test_skemotion_data_points_at_an_existing_copy(shared_data, server, monkeypatch):
    monkeypatch.setenv("SKEMOTION_DATA", str(shared_data))
    data = fetch_seed_faces(download_if_missing=False, base_url=server.url)
    assert data.root == shared_data / "seed"
    assert server.requests == []
    assert len(data.filenames) == N_FILES
    assert all(Path(p).is_file() for p in data.filenames)


def test_relative_skemotion_data_gives_absolute_paths(shared_data, monkeypatch):
    monkeypatch.chdir(shared_data.parent)
    monkeypatch.setenv("SKEMOTION_DATA", shared_data.name)
    data = fetch_seed_faces(download_if_missing=False)
    assert data.root == shared_data / "seed"
    assert all(Path(p).is_absolute() for p in data.filenames)


def test_no_download_when_not_allowed(tmp_path, server):
    with pytest.raises(DownloadError, match=f"{N_FILES} of {N_FILES} files") as info:
        fetch_seed_faces(tmp_path, download_if_missing=False, base_url=server.url)
    assert "SKEMOTION_DATA" in str(info.value)
    assert server.requests == []


def test_no_download_when_not_allowed_counts_what_is_missing(
    tmp_path, seed_dir, server
):
    rows = _manifest_rows()
    _copy_seed(seed_dir, tmp_path, leave_out={rows[0]["path"], rows[-1]["path"]})
    with pytest.raises(DownloadError, match=f"2 of {N_FILES} files"):
        fetch_seed_faces(tmp_path, download_if_missing=False, base_url=server.url)
    assert server.requests == []


def test_seed_url_environment_variable(server, seed_dir, tmp_path, monkeypatch):
    missing = _manifest_rows()[-1]["path"]
    _copy_seed(seed_dir, tmp_path, leave_out={missing})
    monkeypatch.setenv("SKEMOTION_SEED_URL", server.url + "/")
    fetch_seed_faces(tmp_path)
    assert server.requests == [missing]


def test_progress_bar_only_when_asked(server, seed_dir, tmp_path, capsys):
    rows = _manifest_rows()
    _copy_seed(seed_dir, tmp_path, leave_out={rows[1]["path"], rows[2]["path"]})
    fetch_seed_faces(tmp_path, base_url=server.url, progress=True)
    assert "Downloading seed faces" in capsys.readouterr().err
    (tmp_path / "seed" / rows[1]["path"]).unlink()
    fetch_seed_faces(tmp_path, base_url=server.url, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert len(server.requests) == 3


def test_target_is_an_array_of_labels(shared_data):
    data = fetch_seed_faces(shared_data, download_if_missing=False)
    assert isinstance(data.target, np.ndarray) and isinstance(data.split, np.ndarray)
    assert set(data.target) == set(LABELS)
    assert all(isinstance(t, str) for t in data.target)
