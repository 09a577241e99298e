"""The fine-tuner's network: VGG16 with its start weights, split into frozen
and trained blocks with a dense head on top, its predictions, and the plain
VGG16 its trained weights export to.

Every VGG16 here comes from :func:`~skemotion.networks.build_vgg16`;
:func:`assemble` makes no layers of VGG16's own, it wires the builder's
layers into the frozen and the trained part.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..feature_extraction import load_vgg16, preprocess_images
from ..networks import (
    block_of,
    build_vgg16,
    conv_layer_names,
    copy_conv_weights,
    dense_head,
    dtype_policy,
    fold_batch_norm,
    predict_in_batches,
)
from ._augment import predict_views
from ._settings import TuningSettings

__all__ = [
    "Architecture",
    "StartWeights",
    "TuningNetwork",
    "assemble",
    "build_network",
    "export_plain_vgg16",
    "he_rescale",
    "load_start",
    "predict_faces",
    "trained_convs",
]

#: Typical standard deviation of "caffe" inputs (0-255 minus the channel means).
_CAFFE_INPUT_STD = 64.0
#: Rows per call when the network only predicts (no gradients: bigger is fine).
PREDICT_BATCH = 128


class Architecture(NamedTuple):
    """What decides the network's layers (not its weights)."""

    input_shape: tuple[int, int, int]
    trainable_blocks: int
    batch_norm: bool
    precision: str
    pooling: str
    hidden_layer_sizes: tuple[int, ...]
    dropout: float
    n_classes: int

    @classmethod
    def of(cls, settings: TuningSettings, input_shape, n_classes: int):
        """The architecture a run with ``settings`` trains."""
        return cls(
            tuple(input_shape), settings.trainable_blocks, settings.batch_norm,
            settings.precision, settings.pooling, settings.hidden_layer_sizes,
            settings.dropout, n_classes,
        )  # fmt: skip

    @property
    def batch_norm_convs(self) -> list[str]:
        """The convolutions followed by batch norm: the trained ones, or none."""
        return trained_convs(self.trainable_blocks) if self.batch_norm else []


class TuningNetwork(NamedTuple):
    """The fine-tuner's network, in three views that share their layers."""

    whole: Any
    """Image to class probabilities: ``trained(frozen(image))``."""
    frozen: Any
    """The frozen blocks (None when every block trains)."""
    trained: Any
    """The trained blocks, the pooling and the dense head."""


class StartWeights(NamedTuple):
    """Plain VGG16 with the weights training starts from, and what they are."""

    model: Any
    weights_used: str
    """In words ("imagenet", "random He (seed 0)", "file ...")."""
    weights_key: str | None
    """Their identity in checkpoint fingerprints (None: unseeded random)."""
    preprocessing: str
    """The preprocessing resolved: the parameter, else what suits the weights."""


def trained_convs(trainable_blocks: int) -> list[str]:
    """The convolutions of the top ``trainable_blocks`` blocks."""
    first = 6 - trainable_blocks
    return [name for name in conv_layer_names() if block_of(name) >= first]


def he_rescale(model, *, caffe_inputs: bool) -> None:
    """Turn Glorot-uniform kernels into He-uniform ones, from the same draw.

    Glorot's limit ``sqrt(6 / (fan_in + fan_out))`` becomes He's
    ``sqrt(6 / fan_in)``, which keeps the signal's scale through VGG16's 13
    ReLU layers so that training from scratch can start. With ``"caffe"``
    inputs (0-255 minus the channel means) the first layer is also scaled to
    their range.
    """
    for name in conv_layer_names():
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kh, kw, fan_in_ch, fan_out_ch = kernel.shape
        fan_in, fan_out = kh * kw * fan_in_ch, kh * kw * fan_out_ch
        scale = np.sqrt((fan_in + fan_out) / fan_in)
        if name == "block1_conv1" and caffe_inputs:
            scale /= _CAFFE_INPUT_STD
        layer.set_weights([kernel * scale, bias])


def load_start(settings: TuningSettings, input_shape) -> StartWeights:
    """Plain VGG16 (no pooling) with the start weights, and the preprocessing.

    Random start weights (``weights=None``) are drawn from ``settings.seed``
    and, with ``random_init="he"``, rescaled to He-uniform.

    Raises
    ------
    WeightsError
        If the weights cannot be downloaded or loaded.
    """
    loaded = load_vgg16(
        settings.weights, input_shape, pooling="none",
        precision=settings.precision, random_state=settings.seed,
    )  # fmt: skip
    if settings.preprocessing != "auto":
        preprocessing = settings.preprocessing
    elif settings.weights is None:
        preprocessing = "standardize"
    else:
        preprocessing = loaded.info.preprocessing if loaded.info else "caffe"
    used, key = loaded.weights_used, loaded.weights_key
    if settings.weights is None and settings.random_init == "he":
        he_rescale(loaded.model, caffe_inputs=preprocessing == "caffe")
        used = used.replace("random", "random He")
        key = None if key is None else key + ":he"
    return StartWeights(loaded.model, used, key, preprocessing)


def build_network(architecture: Architecture, *, seed: int, start=None):
    """The :class:`TuningNetwork` of ``architecture``, from ``start``'s weights.

    ``start`` (plain VGG16 without pooling, or None: convolutions at zero,
    as when unpickling sets the weights after) is used as it is when no
    convolution has batch norm; otherwise VGG16 is built with batch norm and
    ``start``'s convolutions are copied into it.
    """
    convs = architecture.batch_norm_convs
    if start is not None and not convs:
        vgg = start
    else:
        vgg = build_vgg16(
            architecture.input_shape, pooling="none",
            precision=architecture.precision, batch_norm=convs,
        )  # fmt: skip
        if start is not None:
            copy_conv_weights(start, vgg)
    return assemble(vgg, architecture, seed=seed)


def assemble(start, architecture: Architecture, *, seed: int) -> TuningNetwork:
    """Split ``start`` (VGG16 without pooling) into a frozen and a trained part.

    The frozen blocks' layers are set untrainable; the trained part gets the
    pooling and the dense head (seeded by ``seed``). The three views share
    their layers.
    """
    import keras
    from keras import layers

    policy = dtype_policy(architecture.precision)
    first_trained = 6 - architecture.trainable_blocks
    chain = [layer for layer in start.layers[1:] if layer.name != "features"]
    frozen_layers = [lay for lay in chain if block_of(lay.name) < first_trained]
    trained_layers = [lay for lay in chain if block_of(lay.name) >= first_trained]
    for layer in frozen_layers:
        layer.trainable = False
    trained_layers.append(
        {
            "flatten": layers.Flatten(dtype=policy, name="head_flatten"),
            "avg": layers.GlobalAveragePooling2D(dtype=policy, name="head_avg"),
            "max": layers.GlobalMaxPooling2D(dtype=policy, name="head_max"),
        }[architecture.pooling]
    )

    def run(tensor, stack):
        for layer in stack:
            tensor = layer(tensor)
        return tensor

    input_shape = tuple(start.inputs[0].shape[1:])
    image = keras.Input(shape=input_shape, name="image")
    frozen = None
    if frozen_layers:
        frozen = keras.Model(image, run(image, frozen_layers), name="frozen")
        middle = keras.Input(shape=frozen.output_shape[1:], name="frozen_output")
    else:
        middle = keras.Input(shape=input_shape, name="image_in")
    probabilities = dense_head(
        run(middle, trained_layers), architecture.hidden_layer_sizes,
        architecture.n_classes, dropout=architecture.dropout, input_dropout=True,
        precision=architecture.precision, seed=seed,
    )  # fmt: skip
    trained = keras.Model(middle, probabilities, name="trained")
    whole = keras.Model(
        image, trained(frozen(image) if frozen is not None else image), name="whole"
    )
    return TuningNetwork(whole, frozen, trained)


def predict_faces(
    model, X: np.ndarray, *, preprocessing: str, flip_tta: bool, n_classes: int,
    crop: int | None = None, crop_tta: bool = False,
) -> np.ndarray:  # fmt: skip
    """Class probabilities of checked face crops, ``PREDICT_BATCH`` at a time.

    A network trained on random ``crop`` windows sees the centre window (with
    ``crop_tta``: the centre and the four corners, probabilities averaged);
    with ``flip_tta`` each view's mirror image too.
    """
    proba = np.empty((len(X), n_classes), dtype=np.float32)
    for s in range(0, len(X), PREDICT_BATCH):
        views = predict_views(X[s : s + PREDICT_BATCH], crop, crops=crop_tta)
        p = 0.0
        for view in views:
            x = preprocess_images(view, preprocessing)
            p = p + predict_in_batches(model, x, PREDICT_BATCH)
            if flip_tta:
                p = p + predict_in_batches(model, x[:, :, ::-1], PREDICT_BATCH)
        proba[s : s + len(p)] = p / (len(views) * (2 if flip_tta else 1))
    return proba


def _layers_by_name(whole) -> dict:
    found = {}
    for part in whole.layers:
        for layer in getattr(part, "layers", []):
            found[layer.name] = layer
    return found


def export_plain_vgg16(whole, input_shape):
    """Plain float32 VGG16 without its top, holding ``whole``'s convolutions.

    A batch norm after a convolution is folded into its kernel and bias, so
    the result computes what ``whole``'s blocks compute in inference.
    """
    by_name = _layers_by_name(whole)
    plain = build_vgg16(input_shape, pooling="none", precision="float32")
    for name in conv_layer_names():
        kernel, bias = by_name[name].get_weights()
        bn = by_name.get(f"{name}_bn")
        if bn is not None:
            gamma, beta, mean, variance = bn.get_weights()
            kernel, bias = fold_batch_norm(
                kernel, bias, gamma, beta, mean, variance, bn.epsilon
            )
        plain.get_layer(name).set_weights([kernel, bias])
    return plain
