"""Running a network for predictions: one compiled function per network."""

from __future__ import annotations

import weakref

import numpy as np

__all__ = ["compiled_predict", "predict_in_batches"]

#: One compiled function per network, kept outside the estimators so that
#: predicting never changes an estimator's state.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_predict(model):
    """``model`` in inference mode as one compiled TensorFlow function.

    Built on first use and kept as long as the network lives; as fast as
    ``model.predict`` on big batches and much faster on small ones.
    """
    fn = _COMPILED.get(model)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        _COMPILED[model] = fn
    return fn


def padded_rows(n: int) -> int:
    """The rows a batch of ``n`` is run with: 1, 2, 4 or 8, else the next
    multiple of 8.

    TensorFlow and oneDNN keep compiled kernels for each input shape they
    meet, about 1 MiB a batch size for VGG16 at 48x48 (measured: 64 sizes
    grew a process by 67 MiB), so a process that sees every batch size (a
    server: faces per batch vary) grew for hours. Padded, a batch of up to
    32 rows has one of 7 shapes; the padding costs at most 7 rows (or 3 of
    8, or 1 of 4), and a single image none.
    """
    if n <= 8:
        return 1 << (n - 1).bit_length()
    return -(-n // 8) * 8


def _run_padded(fn, rows: np.ndarray) -> np.ndarray:
    n = len(rows)
    target = padded_rows(n)
    if target != n:
        pad = np.zeros((target - n, *rows.shape[1:]), dtype=rows.dtype)
        rows = np.concatenate([rows, pad])
    return np.asarray(fn(rows), dtype=np.float32)[:n]


def predict_in_batches(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Run ``model`` on ``x`` ``batch_size`` rows at a time, each batch padded
    to :func:`padded_rows` (the padding's outputs dropped); float32 numpy out."""
    fn = compiled_predict(model)
    parts = [
        _run_padded(fn, x[start : start + batch_size])
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts) if parts else np.empty((0,), np.float32)
