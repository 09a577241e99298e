"""Shared set-up for the benchmarks: real images, the machine, peak memory."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    """The folder with seed/ and fer2013/ (SKEMOTION_DATA or ../shared/data)."""
    env = os.environ.get("SKEMOTION_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    if not (path / "seed").is_dir():
        sys.exit(f"benchmark data not found in {path}: set SKEMOTION_DATA")
    return path.resolve()


def machine() -> str:
    """One line about this machine, for the results table."""
    import tensorflow as tf

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}"
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
