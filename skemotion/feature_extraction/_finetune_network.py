"""The fine-tuner's network: VGG16 split into frozen and trained blocks, a
dense head on top, and the plain VGG16 its trained weights export to."""

from __future__ import annotations

import numpy as np

from .._keras import (
    build_vgg16,
    conv_layer_names,
    dense_head,
    dtype_policy,
    fold_batch_norm,
)

__all__ = ["assemble", "export_plain_vgg16", "he_rescale", "trained_convs"]

#: Typical standard deviation of "caffe" inputs (0-255 minus the channel means).
_CAFFE_INPUT_STD = 64.0


def block_of(layer_name: str) -> int:
    """The VGG16 block (1-5) a layer belongs to (``block3_conv2_bn`` -> 3)."""
    return int(layer_name[len("block")])


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


def assemble(
    start,
    *,
    trainable_blocks: int,
    pooling: str,
    hidden_layer_sizes,
    dropout: float,
    n_classes: int,
    precision: str,
    seed: int,
):
    """Split ``start`` (VGG16 without pooling) into a frozen and a trained part.

    Returns
    -------
    whole, frozen, trained : keras.Model
        ``whole`` = ``trained(frozen(image))``: image to class probabilities;
        ``frozen`` (None when every block trains) holds the frozen blocks;
        ``trained`` the trained blocks, the pooling and the dense head. The
        three share their layers.
    """
    import keras
    from keras import layers

    policy = dtype_policy(precision)
    first_trained = 6 - trainable_blocks
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
        }[pooling]
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
        run(middle, trained_layers), hidden_layer_sizes, n_classes,
        dropout=dropout, input_dropout=True, precision=precision, seed=seed,
    )  # fmt: skip
    trained = keras.Model(middle, probabilities, name="trained")
    whole = keras.Model(
        image, trained(frozen(image) if frozen is not None else image), name="whole"
    )
    return whole, frozen, trained


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
