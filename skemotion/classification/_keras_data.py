"""How :class:`~skemotion.classification.EmotionClassifier` hands its rows
to Keras' ``fit``: up to :data:`LEAN_DATA_BYTES`, as datasets of their own;
larger, as arrays."""

from __future__ import annotations

import numpy as np

__all__ = ["LEAN_DATA_BYTES", "data_arguments"]

#: The most bytes of rows (training and hold-out together) that fit gives
#: Keras as a dataset of its own; larger data go to Keras as arrays.
LEAN_DATA_BYTES = 256 * 2**20


def data_arguments(
    train, validation, *, batch_size, validation_batch_size, shuffle, seed
) -> dict:
    """Keras ``fit``'s arguments for the rows ``train`` and ``validation``
    (``(X, y)`` or ``(X, y, sample_weight)``; ``validation`` may be None).

    Up to :data:`LEAN_DATA_BYTES`: datasets of the rows themselves, shuffled
    in full every epoch where ``shuffle`` (seeded by ``seed``), floats as
    Keras' ``floatx``. Keras' own pipeline for arrays draws a permutation and
    gathers each batch through functions that TensorFlow instantiates again
    at the start of every epoch and of every scoring of the hold-out, about
    10 ms each time: most of an epoch on a few hundred rows (measured: 15
    epochs on 329 rows of 512 features took 2.2-2.9 s as arrays, 1.0 s so).
    Larger data go to Keras as arrays, with these settings: a full shuffle
    holds a second copy of the rows, which Keras' gathering does not.
    """
    import tensorflow as tf

    train = _as_floatx(train)
    validation = _as_floatx(validation) if validation is not None else None
    size = sum(a.nbytes for rows in (train, validation or ()) for a in rows)
    if size > LEAN_DATA_BYTES:
        x, y, *weights = train
        return dict(
            x=x, y=y, sample_weight=weights[0] if weights else None,
            validation_data=validation, batch_size=batch_size,
            validation_batch_size=validation_batch_size, shuffle=shuffle,
        )  # fmt: skip
    options = tf.data.Options()
    # no rewriting of the pipeline's graph (with the rows in it) per epoch
    options.experimental_optimization.apply_default_optimizations = False

    def batches(rows, size, mix):
        data = tf.data.Dataset.from_tensor_slices(rows)
        if mix:
            data = data.shuffle(len(rows[0]), seed=seed, reshuffle_each_iteration=True)
        return data.batch(size).with_options(options)

    return dict(
        x=batches(train, batch_size, bool(shuffle)),
        shuffle=False,  # the dataset shuffles itself (Keras would only warn)
        validation_data=(
            None
            if validation is None
            else batches(validation, validation_batch_size or batch_size, False)
        ),
    )


def _as_floatx(rows: tuple) -> tuple:
    """``rows`` without the missing sample weights, as arrays; floats in
    Keras' ``floatx`` (as Keras' own arrays pipeline gives them)."""
    import keras

    floatx = keras.config.floatx()
    out = []
    for a in rows:
        if a is None:
            continue
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.dtype != floatx:
            a = a.astype(floatx)
        out.append(a)
    return tuple(out)
