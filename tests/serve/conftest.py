"""Fixtures of the serve tests: a model file, the photos, a real server on
127.0.0.1 and Debian's Chromium."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from skemotion import save_model
from skemotion.serve import create_app, server_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def model_file(tiny_model, tmp_path_factory) -> Path:
    return save_model(tiny_model, tmp_path_factory.mktemp("serve") / "tiny.joblib")


@pytest.fixture(scope="module")
def photos(face_count_dir):
    return {
        "one": (face_count_dir / "single_face" / "facerec_obama.jpg").read_bytes(),
        "many": (face_count_dir / "multi_face" / "facerec_two_people.jpg").read_bytes(),
        "none": next((face_count_dir / "no_face").iterdir()).read_bytes(),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not come up in {seconds} s")


class RunningServer:
    """A real server on 127.0.0.1 in a thread of this process, as
    :func:`skemotion.serve.run_server` runs it (``server_config``)."""

    def __init__(self, app, http: str = "auto") -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(server_config(app, port=self.port, http=http))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        wait_until_up(self.url)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def server(model_file):
    """The URL of a real server of the tiny model, on 127.0.0.1."""
    with RunningServer(create_app(model_file)) as running:
        yield running.url


@pytest.fixture
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is installed by .ci/run (apt-get)"
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
