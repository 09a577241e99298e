"""Predicting with a compiled network: :class:`CompiledNetwork` on LiteRT.

Imports neither TensorFlow nor Keras: the network runs on ``ai-edge-litert``'s
interpreter (XNNPACK kernels). Where that package has no wheel, TensorFlow's
own interpreter (``tf.lite``) runs the same file.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._litert import litert_available, resize_input
from ..exceptions import ModelFileError
from ._metadata import METADATA_NAME, read_flatbuffer

__all__ = ["RECORD_FORMAT", "CompiledNetwork"]

logger = logging.getLogger(__name__)

#: The ``format`` of skemotion's record in a ``.tflite`` file, and its version.
RECORD_FORMAT = "skemotion-litert"
_RECORD_VERSION = 1
#: What each quantization computes in, in words.
_PRECISIONS = {"dynamic": "int8 (dynamic range)", "float32": "float32"}
#: The most threads an interpreter uses by default.
_MAX_THREADS = 8


def _default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        n = os.cpu_count() or 1
    return max(1, min(n, _MAX_THREADS))


@functools.cache
def _interpreter_class():
    if litert_available():
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    logger.warning(
        "ai-edge-litert is not installed for this platform: the compiled "
        "network runs on TensorFlow's interpreter"
    )
    import tensorflow as tf

    return tf.lite.Interpreter


def _check_record(record: Any, network_sha256: str, path: str) -> dict:
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ModelFileError(
            path, "a LiteRT model without skemotion's record: export it with "
            "skemotion.export_litert (or `skemotion export`)",
        )  # fmt: skip
    if record.get("format_version", 0) > _RECORD_VERSION:
        raise ModelFileError(
            path, f"record version {record.get('format_version')} is newer than "
            "this skemotion reads: upgrade skemotion",
        )  # fmt: skip
    missing = [k for k in ("classes", "input_shape", "crop", "gray") if k not in record]
    if missing:
        raise ModelFileError(path, f"its record lacks {', '.join(missing)}")
    if record.get("network_sha256") != network_sha256:
        raise ModelFileError(
            path, "damaged: the network's bytes do not match the sha256 its "
            "record holds (a changed or truncated copy?)",
        )  # fmt: skip
    return record


class CompiledNetwork(ClassifierMixin, BaseEstimator):
    """A compiled emotion network: gray face crops to class probabilities.

    The network part of a fitted pipeline (encoder, dense head, temperature,
    softmax) compiled into one LiteRT flatbuffer by
    :func:`~skemotion.export_litert`, run by LiteRT's interpreter without
    TensorFlow. It predicts only: made by :meth:`from_file` (or
    :func:`~skemotion.load_model` on a ``.tflite`` file, which puts it in a
    pipeline behind the file's cropper), never trained.

    Parameters
    ----------
    num_threads : int or None, default=None
        Threads of each interpreter; None: the CPUs this process may use, at
        most 8.
    batch_size : int, default=16
        Crops run through the network together. Larger batches are no faster
        on LiteRT's CPU kernels and hold more memory (the ready model on 2
        cores: 508 crops/s at 1, 559 at 16, 533 at 64; resident memory +16,
        +28 and +64 MiB).

    Attributes
    ----------
    classes_ : ndarray of str
        The labels, in the probabilities' column order.
    record_ : dict
        The file's record: labels, crop and gray settings, how it was made
        (source, quantization, weights' sha256, date), the temperature.
    network_ : bytes
        The flatbuffer.
    input_shape_ : tuple of (int, int, int)
        ``(height, width, channels)`` of the crops it takes.
    n_features_in_ : int
        Values per crop.
    source_ : str
        Where it was read from.
    weights_used_ : str
        The encoder's weights it was compiled from, and how, in words.
    precision_ : str
        What it computes in: ``"int8 (dynamic range)"`` or ``"float32"``.

    Notes
    -----
    Pickles as its bytes; each thread builds its own interpreter on first
    use, so one network serves a threaded server. A ``.tflite`` file is data:
    loading one runs no code from it (unlike a joblib file).

    Examples
    --------
    >>> from skemotion import load_model
    >>> model = load_model("model.tflite")  # doctest: +SKIP
    >>> model.named_steps["classify"]  # doctest: +SKIP
    CompiledNetwork()
    """

    _parameter_constraints: dict = {
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    #: What runs it (a pipeline's records and reports say so).
    engine = "litert"

    def __init__(self, num_threads: int | None = None, batch_size: int = 16) -> None:
        self.num_threads = num_threads
        self.batch_size = batch_size

    # -- made from a file ------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>", **params):
        """A compiled network from a ``.tflite`` file's bytes.

        Parameters
        ----------
        data : bytes
            The file's content.
        source : str, default="<bytes>"
            Where the bytes come from, for messages.
        **params
            ``num_threads``, ``batch_size``.

        Returns
        -------
        network : CompiledNetwork
            Ready to predict.

        Raises
        ------
        ModelFileError
            If the bytes are not a LiteRT model, are truncated or damaged, or
            hold no skemotion record.
        """
        try:
            contents = read_flatbuffer(data)
        except ValueError as exc:
            raise ModelFileError(source, f"truncated or damaged ({exc})") from None
        raw = contents.metadata.get(METADATA_NAME)
        try:
            record = None if raw is None else json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelFileError(source, f"its record is damaged ({exc})") from None
        record = _check_record(record, contents.network_sha256, source)
        network = cls(**params)
        network.network_ = bytes(data)
        network.record_ = record
        network.classes_ = np.asarray(record["classes"])
        network.input_shape_ = tuple(int(n) for n in record["input_shape"])
        network.n_features_in_ = int(np.prod(network.input_shape_))
        network.source_ = source
        made = record.get("made", {})
        quantization = made.get("quantization", "?")
        network.precision_ = _PRECISIONS.get(quantization, quantization)
        network.weights_used_ = (
            f"{record.get('encoder', {}).get('weights', '?')}; compiled for "
            f"LiteRT, {network.precision_}"
        )
        network._local = threading.local()
        try:  # built here once, so a damaged network fails on load
            network._interpreter()
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(source, f"LiteRT cannot load it ({exc})") from None
        return network

    @classmethod
    def from_file(cls, path: str | os.PathLike, **params):
        """A compiled network read from a ``.tflite`` file.

        Parameters
        ----------
        path : str or os.PathLike
        **params
            ``num_threads``, ``batch_size``.

        Returns
        -------
        network : CompiledNetwork

        Raises
        ------
        ModelFileError
            If the file is missing, unreadable, truncated or damaged, or holds
            no skemotion record.
        """
        path = Path(os.fspath(path))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(path, f"cannot be read ({exc.strerror})") from None
        return cls.from_bytes(data, source=str(path), **params)

    # -- the estimator -------------------------------------------------
    def fit(self, X, y=None):
        """Refused: a compiled network predicts only.

        Parameters
        ----------
        X : array-like
            Ignored.
        y : array-like or None, default=None
            Ignored.

        Raises
        ------
        NotImplementedError
            Always. Train the TensorFlow pipeline
            (``load_pretrained(engine="tensorflow")`` or
            :func:`~skemotion.make_emotion_pipeline`) and export it again.
        """
        raise NotImplementedError(
            "a compiled network (LiteRT) predicts only and cannot be trained: "
            "refit with engine='tensorflow' (load_pretrained(engine='tensorflow') "
            "or make_emotion_pipeline), then export it again with "
            "skemotion.export_litert"
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags

    def _interpreter(self):
        local = self.__dict__.setdefault("_local", threading.local())
        interpreter = getattr(local, "interpreter", None)
        if interpreter is None:
            threads = self.num_threads or _default_threads()
            interpreter = _interpreter_class()(
                model_content=self.network_, num_threads=threads
            )
            local.interpreter = interpreter
            local.batch = None
            local.input = interpreter.get_input_details()[0]["index"]
            local.output = interpreter.get_output_details()[0]["index"]
        return local

    def _run(self, batch: np.ndarray) -> np.ndarray:
        local = self._interpreter()
        interpreter = local.interpreter
        if local.batch != len(batch):
            resize_input(interpreter, local.input, batch.shape,
                         first=local.batch is None)  # fmt: skip
            local.batch = len(batch)
        interpreter.set_tensor(local.input, batch)
        interpreter.invoke()
        return interpreter.get_tensor(local.output).copy()

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class for each gray crop.

        Parameters
        ----------
        X : array-like of shape (n_crops, height, width, channels)
            Gray crops, 0-255, as :class:`~skemotion.GrayscaleConverter`
            gives them.

        Returns
        -------
        proba : ndarray of shape (n_crops, n_classes), dtype float32
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 4 or tuple(X.shape[1:]) != self.input_shape_:
            h, w, c = self.input_shape_
            raise ValueError(
                f"the compiled network takes crops of shape (n, {h}, {w}, {c}), "
                f"got {X.shape}; crop every face to {h}x{w} (FaceCropper(size=...))"
            )
        X = np.ascontiguousarray(X, dtype=np.float32)
        out = np.empty((len(X), len(self.classes_)), dtype=np.float32)
        for start in range(0, len(X), self.batch_size):
            out[start : start + self.batch_size] = self._run(
                X[start : start + self.batch_size]
            )
        return out

    def predict_log_proba(self, X) -> np.ndarray:
        """Log-probability of each class for each gray crop.

        Parameters
        ----------
        X : array-like of shape (n_crops, height, width, channels)
            Gray crops, 0-255.

        Returns
        -------
        log_proba : ndarray of shape (n_crops, n_classes)
        """
        return np.log(np.clip(self.predict_proba(X), 1e-12, None))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each gray crop.

        Parameters
        ----------
        X : array-like of shape (n_crops, height, width, channels)
            Gray crops, 0-255.

        Returns
        -------
        labels : ndarray of shape (n_crops,)
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_crops, height, width, channels)
            Gray crops, 0-255.
        y : array-like of shape (n_crops,)
            Their labels.
        sample_weight : array-like of shape (n_crops,), default=None
            Weight of each crop in the accuracy.

        Returns
        -------
        accuracy : float
        """
        return super().score(X, y, sample_weight=sample_weight)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_local", None)  # interpreters are rebuilt on first use
        return state
