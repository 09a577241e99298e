"""Running a network for predictions: one compiled function per network."""

from __future__ import annotations

import functools
import logging
import weakref

import numpy as np

__all__ = ["compiled_predict", "predict_in_batches"]

#: One compiled function per network, kept outside the estimators so that
#: predicting never changes an estimator's state.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _OwnRetracing(logging.Filter):
    """Drops TensorFlow's "N out of the last N calls to <function
    compiled_predict.<locals>.run> triggered tf.function retracing" warning:
    each network has a function of its own, traced once per batch shape
    (:func:`batch_pieces` bounds them), so a grid search over encoders is not
    "retracing" in the sense it warns of, and the warning only alarms users."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("retracing" in message and _RUN_NAME in message)


_RUN_NAME = "compiled_predict.<locals>.run"


@functools.cache
def _quiet_own_retracing() -> None:
    logging.getLogger("tensorflow").addFilter(_OwnRetracing())


def compiled_predict(model):
    """``model`` in inference mode as one compiled TensorFlow function.

    Built on first use and kept as long as the network lives; as fast as
    ``model.predict`` on big batches and much faster on small ones.
    """
    fn = _COMPILED.get(model)
    if fn is None:
        import tensorflow as tf

        _quiet_own_retracing()

        # The function holds the network weakly: a value that referred to its
        # key would keep the key, and every network ever run, alive for good.
        network = weakref.ref(model)

        def run(x):
            return network()(x, training=False)

        fn = tf.function(run, reduce_retracing=True)
        _COMPILED[model] = fn
    return fn


def batch_pieces(n: int, batch_size: int) -> list[int]:
    """The batches ``n`` rows run in: full batches of ``batch_size``, then
    the rest in powers of two, largest first (23 rows at 32: 16, 4, 2, 1).

    The network then meets at most ``log2(batch_size) + 2`` input shapes,
    whatever the numbers of rows (a server's faces per batch vary), and no
    row is computed in vain, as padding to a few sizes would (17 rows padded
    to 24 cost a 224x224 encoder 40% more). A process that meets many
    numbers of rows still grows, about 1 MiB for each new one until it has
    met them all (VGG16 at 48x48: 64 numbers, 58-60 MiB, then flat, with or
    without the pieces): that is bounded, and not from the shapes.
    """
    pieces = [batch_size] * (n // batch_size)
    rest = n % batch_size
    while rest:
        piece = 1 << (rest.bit_length() - 1)
        pieces.append(piece)
        rest -= piece
    return pieces


def predict_in_batches(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Run ``model`` on ``x`` in the batches of :func:`batch_pieces`;
    float32 numpy out."""
    fn = compiled_predict(model)
    parts, start = [], 0
    for piece in batch_pieces(len(x), batch_size):
        rows = np.ascontiguousarray(x[start : start + piece])
        parts.append(np.asarray(fn(rows), dtype=np.float32))
        start += piece
    return np.concatenate(parts) if parts else np.empty((0,), np.float32)
