"""Saliency from gradients, through the Keras networks of a skemotion pipeline.

What :func:`~skemotion.prediction.explain` uses for ``"gradient"`` and
``"gradcam"``: the steps between the cropper and the encoder run as they are
(numpy), the encoder's preprocessing, its network and the classifier's
network run in one :class:`tf.GradientTape`, and the score explained is the
target class's temperature-scaled log-probability, the number
``predict_proba`` gives. TensorFlow is imported only here, when a map is
asked for.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np

from ..feature_extraction import graph_preprocessing

__all__ = ["KerasParts", "gradient_maps", "keras_parts"]

#: One compiled function per encoder network and layer (held weakly, as
#: :func:`~skemotion.networks.compiled_predict` holds its networks).
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class KerasParts(NamedTuple):
    """The pieces of a pipeline that gradients go through.

    Attributes
    ----------
    before : list of estimators
        The fitted steps between the cropper and the encoder (gray).
    encoder : VGG16Encoder
        Its ``model_`` (a Keras network) and ``preprocessing_``.
    classifier : EmotionClassifier
        Its ``model_`` (features to probabilities) and ``temperature_``.
    mirrored : bool
        Whether the pipeline averages each face's probabilities with its
        mirror image's (``tta="flip"``): the gradient is then that of the
        average, through both views.
    """

    before: list
    encoder: object
    classifier: object
    mirrored: bool = False


def _is_keras(network) -> bool:
    return all(hasattr(network, a) for a in ("get_layer", "inputs", "layers"))


def keras_parts(model) -> KerasParts | str:
    """The pipeline's Keras pieces, or why gradients cannot go through it.

    Duck-typed on public attributes: the last step must be a classifier with
    a Keras ``model_`` (not, say, a compiled engine's), right after an
    encoder with a Keras ``model_`` and a ``preprocessing_``. A pipeline that
    averages a face with its mirror (``tta="flip"``) is differentiated
    through both; one that averages resized corner crops (``"crops"``...)
    is explained by occlusion, through the probabilities it gives.
    """
    tta = getattr(model, "tta", None)  # EmotionPipeline(tta=...)
    if tta not in (None, "flip"):
        return (
            f"it averages resized crops of each face (tta={tta!r}), which "
            "gradients through one view would not explain"
        )
    steps = [step for _, step in model.steps[1:] if step not in (None, "passthrough")]
    if len(steps) < 2:
        return "the pipeline has no encoder and classifier after its cropper"
    encoder, classifier = steps[-2], steps[-1]
    if not _is_keras(getattr(classifier, "model_", None)):
        return (
            f"its last step ({type(classifier).__name__}) has no Keras network "
            "(model_) to take gradients through"
        )
    if not _is_keras(getattr(encoder, "model_", None)) or not hasattr(
        encoder, "preprocessing_"
    ):
        return (
            f"the step before its classifier ({type(encoder).__name__}) is not a "
            "fitted VGG16Encoder with a Keras network (model_)"
        )
    return KerasParts(steps[:-2], encoder, classifier, tta == "flip")


def _compiled(parts: KerasParts, layer: str | None):
    """``f(x, targets, temperature) -> (activations, their gradients, input
    gradients)``; activations are the network's features when ``layer`` is
    None."""
    network = parts.encoder.model_
    head = parts.classifier.model_
    key = (layer, parts.encoder.preprocessing_, bool(parts.encoder.flip_tta),
           parts.mirrored)  # fmt: skip
    per_network = _COMPILED.setdefault(network, {})
    found = per_network.get(key)
    if found is not None and found[0]() is head:
        return found[1]
    import tensorflow as tf

    keras = tf.keras
    if layer is None:
        inner = weakref.ref(network)
    else:
        try:
            output = network.get_layer(layer).output
        except ValueError as exc:
            names = [w.name for w in network.layers if "conv" in w.name]
            raise ValueError(
                f"the encoder has no layer {layer!r}; its convolutions: {names}"
            ) from exc
        sub = keras.Model(network.inputs, [output, network.output])
        inner = lambda: sub  # noqa: E731  (the sub-network lives with the function)
    head_ref = weakref.ref(head)
    method, flip, mirrored = key[1], key[2], key[3]
    _, h, w, c = network.input_shape
    preprocess = graph_preprocessing(method, (h, w, c))

    def features_of(z):
        out = inner()(z, training=False)
        acts, features = (out, out) if layer is None else out
        if flip:  # the encoder averages each face with its mirror image
            mirror = inner()(z[:, :, ::-1], training=False)
            features = (features + (mirror if layer is None else mirror[1])) / 2
        return acts, features

    def calibrated(features, temperature):
        proba = tf.cast(head_ref()(tf.cast(features, tf.float32), training=False),
                        tf.float32)  # fmt: skip
        return tf.nn.softmax(tf.math.log(proba + 1e-12) / temperature)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, h, w, c], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.float32),
        ]
    )
    def run(x, targets, temperature):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            z = preprocess(x)
            acts, features = features_of(z)
            proba = calibrated(features, temperature)
            if mirrored:  # the pipeline averages each face's probabilities
                other = calibrated(features_of(z[:, :, ::-1])[1], temperature)
                proba = (proba + other) / 2
            log_p = tf.math.log(proba + 1e-12)
            score = tf.reduce_sum(tf.gather(log_p, targets, batch_dims=1))
        return (
            tf.cast(acts, tf.float32),
            tf.cast(tape.gradient(score, acts), tf.float32),
            tape.gradient(score, x),
        )

    per_network[key] = (head_ref, run)
    return run


def _before(parts: KerasParts, crops: np.ndarray) -> np.ndarray:
    x = crops
    for step in parts.before:
        x = step.transform(x)
    return np.asarray(x, dtype=np.float32)


def _grayed_pixels(copies: int, size: tuple, share: float, seed: int) -> np.ndarray:
    """Which pixels each of ``copies`` copies grays, a random ``share`` of
    them, drawn from ``seed`` alone: shape ``(copies, h, w)``. The same for
    every image (the k-th copy of each grays the same pixels), so a face's
    map does not depend on the faces beside it in the batch."""
    return np.random.default_rng(seed).random((copies, *size)) < share


def _grayed_copies(x: np.ndarray, grayed: np.ndarray, baseline: float) -> np.ndarray:
    """A copy of each image per mask of ``grayed``, its pixels there set to
    ``baseline``: shape ``(copies, n, h, w, c)``."""
    where = grayed[:, np.newaxis, ..., np.newaxis]
    return np.where(where, np.float32(baseline), x[np.newaxis]).astype(x.dtype)


def gradient_maps(
    parts: KerasParts,
    crops: np.ndarray,
    targets: np.ndarray,
    *,
    layer: str | None,
    baseline: float = 128.0,
    copies: int = 0,
    share: float = 0.15,
    seed: int = 0,
    batch_size: int = 32,
) -> np.ndarray:
    """Raw (signed, unsmoothed) maps of a batch of crops.

    ``layer=None``: gradient times (input - ``baseline``), summed over
    channels: what graying each pixel changes in the target's
    log-probability, to first order. With ``copies``, the gradient is the
    mean of those at ``copies`` copies of the face with a random ``share``
    of their pixels grayed (drawn from ``seed``, the same for every face: the
    same face gives the same map whatever the batch), the
    regime in which pixels are deleted, rather than at the face alone. A
    layer name: Grad-CAM there (the channel-mean gradient weighting the
    activations), at the layer's resolution.
    """
    run = _compiled(parts, layer)
    temperature = np.float32(getattr(parts.classifier, "temperature_", 1.0))
    x_all = _before(parts, crops)
    out = []
    step = max(1, batch_size // max(1, copies))
    if copies:
        grayed = _grayed_pixels(copies, x_all.shape[1:-1], share, seed)
    for start in range(0, len(x_all), step):
        x = x_all[start : start + step]
        t = np.asarray(targets[start : start + step], dtype=np.int32)
        if layer is not None:
            acts, grads, _ = run(x, t, temperature)
            weights = grads.numpy().mean(axis=(1, 2), keepdims=True)
            out.append((weights * acts.numpy()).sum(axis=-1))
            continue
        if copies:
            batch = _grayed_copies(x, grayed, baseline)
            _, _, grads = run(batch.reshape(-1, *x.shape[1:]), np.tile(t, copies),
                              temperature)  # fmt: skip
            grads = grads.numpy().reshape(batch.shape).mean(axis=0)
        else:
            grads = run(x, t, temperature)[2].numpy()
        out.append((grads * (x - baseline)).sum(axis=-1))
    return np.concatenate(out)
