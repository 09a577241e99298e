"""Saving and loading fitted models, with the versions that made them.

:func:`save_model` writes a fitted pipeline with :func:`joblib.dump`, adding a
record of the skemotion, scikit-learn, scikeras, Keras, TensorFlow, NumPy and
Python versions it was made with; the file stays an ordinary joblib file.
:func:`load_model` reads it back, warns with
:class:`~skemotion.exceptions.ModelVersionWarning` when those versions differ
from the installed ones, and raises
:class:`~skemotion.exceptions.ModelFileError` (naming the file and the
problem) for a file that is missing, empty, truncated, damaged, made by an
incompatible version or not a fitted model.

.. warning::

   Loading a joblib (pickle) file runs code stored in the file. Load only
   model files you trust: from yourself, or from someone you trust, over a
   channel you trust. No check made here can make an untrusted file safe.

A LiteRT file (``.tflite``, written by :func:`~skemotion.export_litert` or
``skemotion export``) is data, not code: :func:`load_model` reads it without
running anything from it, and without TensorFlow. It is the way to share a
model.
"""

from __future__ import annotations

import copy
import os
import platform
import re
import warnings
from importlib import metadata
from pathlib import Path

from ._io import atomic_path
from .exceptions import ModelFileError, ModelVersionWarning

__all__ = ["dependency_versions", "load_model", "save_model"]

#: Attribute of a saved model object holding its version record.
_RECORD_ATTRIBUTE = "_skemotion_saved_with"
#: Identifies the record, and the layout of the record itself.
_RECORD_FORMAT = "skemotion-model"
_RECORD_FORMAT_VERSION = 1
#: Distributions whose versions are recorded, and compared on load.
_DISTRIBUTIONS = {
    "skemotion": "skemotion",
    "scikit-learn": "scikit-learn",
    "scikeras": "scikeras",
    "keras": "keras",
    "tensorflow": "tensorflow",
    "numpy": "numpy",
}
_TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tf-nightly")


def _distribution_version(name: str) -> str | None:
    if name == "skemotion":
        from ._version import __version__

        return __version__
    candidates = _TENSORFLOW_DISTRIBUTIONS if name == "tensorflow" else (name,)
    for candidate in candidates:
        try:
            return metadata.version(candidate)
        except metadata.PackageNotFoundError:
            continue
    return None


def dependency_versions() -> dict[str, str | None]:
    """The installed versions that decide whether a saved model loads the same.

    Returns
    -------
    versions : dict of str to str or None
        ``skemotion``, ``scikit-learn``, ``scikeras``, ``keras``,
        ``tensorflow``, ``numpy`` (None when not installed) and ``python``.
    """
    versions = {
        key: _distribution_version(dist) for key, dist in _DISTRIBUTIONS.items()
    }
    versions["python"] = platform.python_version()
    return versions


def _version_record() -> dict:
    return {
        "format": _RECORD_FORMAT,
        "format_version": _RECORD_FORMAT_VERSION,
        "versions": dependency_versions(),
    }


def save_model(model, path: str | os.PathLike, *, compress: int = 0) -> Path:
    """Save a fitted model with a record of the versions that made it.

    The file is an ordinary joblib file (``joblib.load`` reads it); it is
    written to a temporary file next to ``path`` and renamed, so an
    interrupted save never leaves a truncated model behind.

    Parameters
    ----------
    model : estimator
        A fitted pipeline from :func:`~skemotion.make_emotion_pipeline` (any
        fitted estimator with ``predict_proba`` and ``classes_``).
    path : str or os.PathLike
        Where to write it; missing folders are created.
    compress : int, default=0
        Compression level of joblib, 0 (none, fastest) to 9.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ModelFileError
        If ``model`` is not a fitted model with ``predict_proba`` and
        ``classes_``.

    See Also
    --------
    load_model : read it back, checking the versions.

    Examples
    --------
    >>> from skemotion import save_model, load_model
    >>> save_model(pipe, "model.joblib")  # doctest: +SKIP
    >>> pipe = load_model("model.joblib")  # doctest: +SKIP
    """
    path = Path(os.fspath(path))
    _check_model(model, path, when="save")
    try:
        to_save = copy.copy(model)  # the caller's object is left untouched
        setattr(to_save, _RECORD_ATTRIBUTE, _version_record())
    except (TypeError, AttributeError) as exc:
        raise ModelFileError(
            path, f"cannot record versions on a {type(model).__name__} ({exc})"
        ) from None
    import joblib

    with atomic_path(path) as tmp:
        joblib.dump(to_save, tmp, compress=compress)
    return path


def _check_model(model, path: Path, *, when: str) -> None:
    if not hasattr(model, "predict_proba"):
        what = f"holds a {type(model).__name__}" if when == "load" else "is given"
        raise ModelFileError(
            path,
            f"{what} with no predict_proba: not a skemotion emotion pipeline",
        )
    try:
        classes = model.classes_
    except AttributeError:
        classes = None
    if classes is None:
        raise ModelFileError(
            path,
            f"the {type(model).__name__} {'in the file ' if when == 'load' else ''}"
            "is not fitted (no classes_); train it first",
        )


def _check_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelFileError(path, "model file does not exist") from None
    except OSError as exc:
        raise ModelFileError(path, f"cannot be accessed ({exc.strerror})") from None
    if path.is_dir():
        raise ModelFileError(path, "is a directory, not a model file")
    if not os.access(path, os.R_OK):
        raise ModelFileError(path, "permission denied: the file cannot be read")
    if info.st_size == 0:
        raise ModelFileError(path, "model file is empty (0 bytes)")


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(16)


def _is_litert(path: Path) -> bool:
    """A ``.tflite`` file, by its name or by the TFLite identifier it holds."""
    return path.suffix.lower() == ".tflite" or _head(path)[4:8] == b"TFL3"


def _load_litert(path: Path):
    from .engines import CompiledNetwork
    from .pipeline import compiled_pipeline

    return compiled_pipeline(CompiledNetwork.from_file(path))


def _differences(saved: dict, current: dict) -> list[str]:
    return [
        f"{name} {saved.get(name)} (installed: {current.get(name)})"
        for name in _DISTRIBUTIONS
        if saved.get(name) != current.get(name)
    ]


def load_model(path: str | os.PathLike):
    """Load a model saved by :func:`save_model` (or ``joblib.dump``), or a
    ``.tflite`` file written by :func:`~skemotion.export_litert`.

    .. warning::

       Loading a joblib or pickle file runs code stored in it: load only
       model files you trust. The checks below catch damaged files and
       version mismatches, not malicious files. A ``.tflite`` file is data:
       loading it runs no code from the file.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    model : Pipeline
        The fitted pipeline. For a ``.tflite`` file (recognised by its name
        or its content), an :class:`~skemotion.EmotionPipeline` with steps
        ``crop`` and ``gray`` (from the file's record) and ``classify`` (a
        :class:`~skemotion.engines.CompiledNetwork`), predicting without
        TensorFlow.

    Raises
    ------
    ModelFileError
        If the file does not exist, is empty, truncated or damaged, is not a
        joblib/pickle or LiteRT file, refers to code this installation lacks (saved by
        another version of skemotion or its dependencies), or holds something
        other than a fitted model. The message names the file and the
        problem.

    Warns
    -----
    ModelVersionWarning
        When the skemotion, scikit-learn, scikeras, Keras, TensorFlow or
        NumPy versions recorded in the file differ from the installed ones,
        or when the file has no version record (written by plain
        ``joblib.dump``).

    See Also
    --------
    save_model : write a model with its version record.
    """
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    path = Path(os.fspath(path))
    _check_file(path)
    if _is_litert(path):
        return _load_litert(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = joblib.load(path)
        except (ModuleNotFoundError, ImportError, AttributeError) as exc:
            raise ModelFileError(
                path,
                "the model refers to code this installation does not have, so it "
                "was probably saved by another version of skemotion, scikit-learn "
                f"or Keras ({type(exc).__name__}: {exc}); installed: "
                + ", ".join(f"{k} {v}" for k, v in dependency_versions().items()),
            ) from None
        except MemoryError:
            raise ModelFileError(path, "not enough memory to load the model") from None
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, EOFError) or re.search(r"EOF|truncated", str(exc)):
                reason = (
                    "the model file is truncated: it ends before the model does "
                    f"(an interrupted save, copy or download?) ({detail})"
                )
            else:
                reason = (
                    "not a skemotion model file, or a damaged one "
                    f"({detail}; the file starts with {_head(path)!r})"
                )
            raise ModelFileError(path, reason) from None
    sklearn_notes = set()
    for warning in caught:
        if issubclass(warning.category, InconsistentVersionWarning):
            message = warning.message
            sklearn_notes.add(
                (
                    getattr(message, "original_sklearn_version", "?"),
                    getattr(message, "current_sklearn_version", "?"),
                )
            )
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    record = getattr(model, "__dict__", {}).pop(_RECORD_ATTRIBUTE, None)
    _check_model(model, path, when="load")
    _warn_versions(path, record, sklearn_notes)
    return model


def _warn_versions(path: Path, record, sklearn_notes: set) -> None:
    current = dependency_versions()
    problems = []
    if not isinstance(record, dict) or record.get("format") != _RECORD_FORMAT:
        problems.append(
            "the file holds no version record (it was not written by "
            "skemotion.save_model or `skemotion train`), so it cannot be checked "
            "against the installed skemotion, scikit-learn and Keras"
        )
        differences = []
    else:
        differences = _differences(record.get("versions") or {}, current)
        if differences:
            problems.append(
                "the model was saved with other versions than those installed: "
                + "; ".join(differences)
            )
    if sklearn_notes and not any(d.startswith("scikit-learn") for d in differences):
        saved = ", ".join(sorted(str(original) for original, _ in sklearn_notes))
        problems.append(
            f"its scikit-learn objects were pickled with scikit-learn {saved} "
            f"(installed: {current['scikit-learn']})"
        )
    if problems:
        warnings.warn(
            f"{path}: {'; '.join(problems)}. The model may fail or predict "
            "differently; retrain it, or save it again with skemotion.save_model, "
            "using the installed versions.",
            ModelVersionWarning,
            stacklevel=3,
        )
