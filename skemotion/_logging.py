"""TensorFlow's chatter, kept off a user's terminal unless they ask for it.

TensorFlow prints lines at start-up and while it works that look like
failures to a newcomer ("WARNING: All log messages before absl::InitializeLog()
...", "oneDNN custom operations are on ...", "NodeDef mentions attribute
use_unbounded_threadpool ..."), and warnings about retracing functions. Some of
them come from C++ before any log level applies, so only silencing the
process's standard error while TensorFlow is imported keeps them away.

* Importing skemotion, when the user has not set ``TF_CPP_MIN_LOG_LEVEL``,
  sets it to 2 (warnings and errors of TensorFlow's C++ code) and silences
  standard error while TensorFlow is imported (:func:`silence_tensorflow_import`:
  its start-up lines ignore the level), whoever imports it first.
* The command line calls :func:`quiet_tensorflow` unless ``--verbose``: C++
  log level 3, TensorFlow's and absl's Python loggers at ERROR, and standard
  error silenced while TensorFlow is imported. A user who set
  ``TF_CPP_MIN_LOG_LEVEL`` themselves keeps what they chose.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import threading

__all__ = [
    "quiet_tensorflow", "set_default_log_level", "silence_tensorflow_import",
    "stderr_silenced",
]  # fmt: skip

_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
#: Whether the user set TensorFlow's C++ log level before skemotion was imported.
_USER_SET_LEVEL = _LEVEL in os.environ


def set_default_log_level() -> None:
    """TensorFlow's C++ code logs warnings and errors only, unless set already."""
    os.environ.setdefault(_LEVEL, "2")


#: Held while the process's standard error is sent to the null device.
_SILENCING = threading.Lock()


@contextlib.contextmanager
def stderr_silenced():
    """Send the process's standard error (file descriptor 2, which C++ code
    writes to) to the null device for the block.

    For native libraries that print what no setting turns off (TensorFlow's
    start-up lines, LiteRT's "Created TensorFlow Lite XNNPACK delegate"); a
    Python error still raises with its message. One block at a time in a
    process; where descriptor 2 cannot be duplicated, nothing is changed.
    """
    with _SILENCING:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield
            return
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with stderr_silenced():
            self._loader.exec_module(module)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports ``tensorflow`` (when something first does) with stderr silenced."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; find the real module
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def silence_tensorflow_import() -> None:
    """Import TensorFlow, when something first does, with standard error
    silenced (its start-up lines), unless the user set
    ``TF_CPP_MIN_LOG_LEVEL`` before skemotion was imported or TensorFlow is
    imported already. A Python error in the import still raises."""
    if _USER_SET_LEVEL or "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up lines, C++ logs and Python warnings away.

    Does nothing to the C++ log level when the user set
    ``TF_CPP_MIN_LOG_LEVEL`` before skemotion was imported; TensorFlow's own
    import is silenced only when it has not happened yet.
    """
    if not _USER_SET_LEVEL:
        os.environ[_LEVEL] = "3"
        silence_tensorflow_import()
    for name in ("tensorflow", "absl"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)
