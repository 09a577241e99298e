"""Shared fixtures: where the real test images live.

The tests run on real images from the ``shared/data`` folder that sits beside
the checkout on development machines and in CI. Its location is taken from
``SKEMOTION_DATA`` or, failing that, ``../shared/data``. When neither exists the
tests fail loudly rather than skip.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# the run in lanes: groups of test files in fresh processes (tests/lanes_plugin.py)
pytest_plugins = ["lanes_plugin"]


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


@pytest.fixture(scope="session")
def tiny_model(seed_dir: Path):
    """A small fitted emotion pipeline (2 classes, 32x32 HOG crops, random VGG16).

    Real seed photos, seeded random weights and one epoch: fast to fit, and
    enough to exercise every code path from file to prediction.
    """
    from skemotion import load_image_folder, make_emotion_pipeline

    paths, labels = load_image_folder(
        seed_dir / "train", strip_suffix="_face", on_unreadable="keep"
    )
    keep = [i for c in ("happy", "sad") for i in list(np.flatnonzero(labels == c))[:3]]
    pipe = make_emotion_pipeline(
        crop__size=32, crop__progress=False, encode__weights=None,
        encode__random_state=0, encode__pooling="avg", encode__progress=False,
        classify__epochs=1, classify__random_state=0, classify__progress=False,
    )  # fmt: skip
    return pipe.fit(paths[keep], labels[keep])


@pytest.fixture(scope="session")
def tiny_model_file(tiny_model, tmp_path_factory) -> Path:
    """``tiny_model`` saved with :func:`skemotion.save_model`."""
    from skemotion import save_model

    return save_model(tiny_model, tmp_path_factory.mktemp("tiny") / "tiny.joblib")


def _give_memory_back() -> None:
    """Collect the garbage (Keras models sit in reference cycles) and return
    freed pages to the system (glibc's ``malloc_trim``; it keeps them
    otherwise)."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def _freeze_what_lives() -> None:
    """Once TensorFlow is imported, at the end of a module: move every object
    alive (modules, TensorFlow's and Keras' own, session fixtures) out of the
    collector's sight (``gc.freeze``), so that each later full collection
    walks only what tests made since. Measured on the default run: full
    collections 0.35 s each instead of 0.64, the run 9.2 instead of 10.3
    minutes, its peak 5.96 instead of 5.80 GiB (what is frozen is never
    collected; see benchmarks/README.md)."""
    gc.collect()
    gc.freeze()


def _resident_mib() -> float | None:
    """This process's resident memory, MiB (None where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


#: How much a test may leave the process grown before the garbage is
#: collected (measured on the caching, encoder, classifier and video tests:
#: 12 collections, 4 s, and a peak of 2.3 instead of 3.2 GiB; collecting after
#: every test costs about 0.2 s a test).
_GROWTH_BEFORE_COLLECTING_MIB = 64
_resident_after_last_test: list[float] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a test and its fixtures are torn down: where the process grew by
    more than :data:`_GROWTH_BEFORE_COLLECTING_MIB` since the last test, give
    back what it freed, so that networks a test dropped do not pile up; at
    the end of the first module after TensorFlow's import, freeze what lives
    (:func:`_freeze_what_lives`)."""
    yield
    if (
        not gc.get_freeze_count()
        and "tensorflow" in sys.modules
        and (nextitem is None or nextitem.module is not item.module)
    ):
        _freeze_what_lives()
    now = _resident_mib()
    if now is None:
        return
    if _resident_after_last_test and (
        now - _resident_after_last_test[-1] > _GROWTH_BEFORE_COLLECTING_MIB
    ):
        _give_memory_back()
        now = _resident_mib() or now
    _resident_after_last_test[:] = [now]


@pytest.fixture(autouse=True, scope="module")
def _memory_back_between_modules():
    """What a module leaves behind is given back when it ends, so that the
    run needs what one module needs, not what all of them left:

    - worker processes left idle (joblib's reusable loky pool keeps them for
      5 minutes, each holding what it imported: TensorFlow for MTCNN, about
      1 GB) are stopped;
    - the memory the module's networks freed is returned to the system
      (``malloc_trim``: glibc keeps freed pages otherwise; 600 MB after the
      encoder's tests).
    """
    yield
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    _give_memory_back()
