"""Fixtures of the serve tests: a model file, the photos, a real server on
127.0.0.1 and Debian's Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serving import RunningServer

from skemotion import save_model
from skemotion.engines import export_litert
from skemotion.serve import create_app

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
def compiled_model_file(tiny_model, tmp_path_factory) -> Path:
    """The tiny model compiled for LiteRT, as ``skemotion export`` makes it:
    the engine the server runs the ready model on."""
    folder = tmp_path_factory.mktemp("serve-compiled")
    return export_litert(tiny_model, folder / "tiny.tflite")


@pytest.fixture(scope="module")
def photos(face_count_dir):
    return {
        "one": (face_count_dir / "single_face" / "facerec_obama.jpg").read_bytes(),
        "many": (face_count_dir / "multi_face" / "facerec_two_people.jpg").read_bytes(),
        "none": next((face_count_dir / "no_face").iterdir()).read_bytes(),
    }


@pytest.fixture(scope="module")
def server(model_file):
    """The URL of a real server of the tiny model, on 127.0.0.1."""
    with RunningServer(create_app(model_file)) as running:
        yield running.url


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, driven by Playwright: one for the run."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is installed by .ci/run (apt-get)"
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium):
    """The run's Chromium for one test: each page the test opens has a
    context of its own, closed when the test ends (an open page keeps its
    renderer process, 130-180 MiB, for the rest of the run)."""
    yield chromium
    for context in chromium.contexts:
        context.close()
