"""VGG16 without its top: the one builder of every VGG16 in skemotion.

:func:`build_vgg16` builds the graph, nothing else (as Keras'
``applications/vgg16.py`` does before it loads weights): the encoder, the
fine-tuner and the fine-tuner's export all build their VGG16 with it, and
each puts its own weights in (so it draws none: its convolutions start at
zero).
"""

from __future__ import annotations

from ._batch_norm import fused_batch_norm_layer
from ._precision import dtype_policy

__all__ = [
    "MIN_INPUT_SIZE",
    "VGG16_BLOCKS",
    "block_of",
    "build_vgg16",
    "conv_layer_names",
    "copy_conv_weights",
]

#: VGG16's convolutional blocks: (convolutions, filters).
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
#: VGG16's smallest input side without its top (five 2x2 poolings).
MIN_INPUT_SIZE = 32


def conv_layer_names(block: int | None = None) -> list[str]:
    """Names of VGG16's convolutions (``block1_conv1`` ...), of one block or all."""
    blocks = range(1, 6) if block is None else (block,)
    return [
        f"block{b}_conv{i + 1}" for b in blocks for i in range(VGG16_BLOCKS[b - 1][0])
    ]


def block_of(layer_name: str) -> int:
    """The VGG16 block (1-5) a layer belongs to (``block3_conv2_bn`` -> 3)."""
    return int(layer_name[len("block")])


def build_vgg16(
    input_shape: tuple[int, int, int],
    *,
    pooling: str = "flatten",
    precision: str = "float32",
    batch_norm: bool | list[str] = False,
    name: str = "vgg16",
):
    """VGG16 without its top, with its layers' own dtype policy.

    The layers and their order are those of
    :func:`keras.applications.VGG16` (``include_top=False``), so weights files
    written by or for it load into this network and the other way round
    (without batch norm). The convolutions start at zero: callers put their
    weights in (drawing Keras' random ones first cost about 0.1 s a network,
    two thirds of building it at 48x48).

    Parameters
    ----------
    input_shape : tuple of (int, int, int)
    pooling : {"flatten", "avg", "max", "none"}
        How the last block becomes a vector ("none": the 4-D activations).
    precision : {"float32", "bfloat16"}
        A resolved precision (see :func:`resolve_precision`).
    batch_norm : bool or list of str
        Put a :class:`FusedBatchNorm` layer (named ``<conv>_bn``) between
        each convolution (True) or the named convolutions and its ReLU.
    name : str

    Returns
    -------
    model : keras.Model
        Its output is float32.
    """
    import keras
    from keras import layers

    policy = dtype_policy(precision)
    with_bn = set(conv_layer_names() if batch_norm is True else batch_norm or ())
    batch_norm_cls = fused_batch_norm_layer() if with_bn else None
    image = keras.Input(shape=input_shape, name="input_layer")
    x = image
    for block, (n_convs, filters) in enumerate(VGG16_BLOCKS, start=1):
        for i in range(n_convs):
            conv = f"block{block}_conv{i + 1}"
            if conv in with_bn:
                x = layers.Conv2D(
                    filters, 3, padding="same", kernel_initializer="zeros",
                    dtype=policy, name=conv,
                )(x)  # fmt: skip
                x = batch_norm_cls(dtype=policy, name=f"{conv}_bn")(x)
                x = layers.Activation("relu", dtype=policy, name=f"{conv}_relu")(x)
            else:
                x = layers.Conv2D(
                    filters, 3, padding="same", activation="relu",
                    kernel_initializer="zeros", dtype=policy, name=conv,
                )(x)  # fmt: skip
        x = layers.MaxPooling2D(2, strides=2, dtype=policy, name=f"block{block}_pool")(
            x
        )
    if pooling == "flatten":
        x = layers.Flatten(dtype=policy, name="flatten")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(dtype=policy, name="average_pooling")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(dtype=policy, name="max_pooling")(x)
    # the output in float32, whatever the network computes in
    x = layers.Activation("linear", dtype="float32", name="features")(x)
    return keras.Model(image, x, name=name)


def copy_conv_weights(source, model) -> None:
    """Copy the convolutions' weights of ``source`` into ``model`` by name.

    ``source`` is any VGG16 without its top (Keras' own, or one of
    :func:`build_vgg16`'s); ``model`` may have batch norm, which keeps its
    start.
    """
    for name in conv_layer_names():
        model.get_layer(name).set_weights(source.get_layer(name).get_weights())
