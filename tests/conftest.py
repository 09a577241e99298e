"""Shared fixtures: where the real test images live.

The tests run on real images from the ``shared/data`` folder that sits beside
the checkout on development machines and in CI. Its location is taken from
``SKEMOTION_DATA`` or, failing that, ``../shared/data``. When neither exists the
tests fail loudly rather than skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_data_dir() -> Path:
    env = os.environ.get("SKEMOTION_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for candidate in candidates:
        if (candidate / "seed" / "train").is_dir():
            return candidate.resolve()
    raise RuntimeError(
        "Test data not found: set SKEMOTION_DATA to the folder holding seed/, "
        "fer2013/ and face-count/ (on CI and development machines: ../shared/data)."
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding ``seed/``, ``fer2013/``, ``face-count/`` and the rest."""
    return _shared_data_dir()


@pytest.fixture(scope="session")
def seed_dir(shared_data: Path) -> Path:
    """The original post's 6-class data set (``train/`` and ``validation/``)."""
    return shared_data / "seed"


@pytest.fixture(scope="session")
def face_count_dir(shared_data: Path) -> Path:
    """Photos with no face, one face and several faces."""
    return shared_data / "face-count"
