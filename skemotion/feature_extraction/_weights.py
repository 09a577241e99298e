"""The four kinds of start weights VGG16 takes, loaded and named.

``None`` (random, seeded by ``random_state``), ``"imagenet"`` (Keras'
download), a packaged encoder's name (``"fer2013"``: arrays inside the
package, checked against their sha256) and a weights file (with its record,
when :meth:`~skemotion.VGG16FineTuner.export_weights` wrote it):
:func:`load_vgg16` builds the network and puts them in; :func:`weights_identity`
says what decides their values, for sharing a built network.
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils import check_random_state

from .._io import file_sha256, file_state
from ..exceptions import WeightsError, WeightsWarning
from ..networks import build_vgg16, conv_layer_names, copy_conv_weights
from ..packaged import load_packaged, packaged_state
from ._weights_file import WeightsInfo, read_weights_info

__all__ = [
    "PACKAGED_WEIGHTS",
    "LoadedVGG16",
    "check_against_file",
    "load_vgg16",
    "weights_identity",
]

#: Names of the encoders shipped inside the package (``weights=NAME``) and
#: their packaged files.
PACKAGED_WEIGHTS = {"fer2013": "fer2013-vgg16"}


def _set_seeded_weights(model, random_state) -> None:
    """Glorot-uniform kernels and zero biases (Keras' defaults) from one seed.

    Drawing the weights with NumPy rather than with Keras' initialisers makes
    them depend on ``random_state`` only, never on TensorFlow's global seed,
    and leaves every global random state untouched. Only the convolutions are
    drawn, in network order; other layers (batch norm) keep their start.
    """
    rng = check_random_state(random_state)
    for name in conv_layer_names():
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        receptive = kernel.shape[0] * kernel.shape[1]
        fan_in, fan_out = receptive * kernel.shape[2], receptive * kernel.shape[3]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        drawn = rng.uniform(-limit, limit, size=kernel.shape).astype(np.float32)
        layer.set_weights([drawn, np.zeros_like(bias)])


class LoadedVGG16(NamedTuple):
    """VGG16 with the weights asked for, and where they came from."""

    model: Any
    """The network (``keras.Model``)."""
    weights_used: str
    """The weights in words ("imagenet", "packaged fer2013 (...)",
    "random (seed 0)", "file ...")."""
    weights_key: str | None
    """The weights' identity in cache keys (None for unseeded random weights)."""
    info: WeightsInfo | None
    """The record of an adapted weights file or packaged encoder (else None)."""


def load_vgg16(
    weights, input_shape, *, pooling: str, precision: str, random_state=None
) -> LoadedVGG16:
    """Build plain VGG16 without its top and put the requested weights in.

    The network comes from :func:`~skemotion.networks.build_vgg16`; a caller
    that wants another architecture (batch norm) copies the convolutions'
    weights from it.

    Raises
    ------
    WeightsError
        If the weights cannot be downloaded or loaded.
    """
    model = build_vgg16(input_shape, pooling=pooling, precision=precision)
    if weights is None:
        _set_seeded_weights(model, random_state)
        seed = random_state if isinstance(random_state, Integral) else None
        if seed is None:
            return LoadedVGG16(model, "random (unseeded)", None, None)
        return LoadedVGG16(model, f"random (seed {seed})", f"random:{seed}", None)
    if isinstance(weights, str) and weights in PACKAGED_WEIGHTS:
        return _load_packaged_weights(model, weights)
    if isinstance(weights, str) and weights == "imagenet":
        copy_conv_weights(_imagenet_vgg16(input_shape), model)
        return LoadedVGG16(model, "imagenet", "imagenet", None)
    path = Path(os.fspath(weights))
    info = read_weights_info(path)  # raises WeightsError for a missing file
    try:
        model.load_weights(path)
    except Exception as exc:
        raise WeightsError(
            f"{path}: not a weights file for VGG16 without its top "
            f"({type(exc).__name__}: {exc})"
        ) from None
    digest = file_sha256(path)
    return LoadedVGG16(
        model, f"file {path} (sha256 {digest[:12]})", f"file:{digest}", info
    )


def weights_identity(weights, random_state) -> tuple | None:
    """What decides the weights' values, or None when it cannot be known
    without loading them (unseeded random weights, an unreadable file)."""
    if weights is None:
        seeded = isinstance(random_state, Integral)
        return ("random", int(random_state)) if seeded else None
    if isinstance(weights, str) and weights == "imagenet":
        return ("imagenet",)
    if isinstance(weights, str) and weights in PACKAGED_WEIGHTS:
        state = packaged_state(PACKAGED_WEIGHTS[weights])
        return None if state is None else ("packaged", state)
    # a file rewritten in place has another state
    state = file_state(weights)
    return None if state is None else ("file", *state)


def _imagenet_vgg16(input_shape):
    """Keras' VGG16 with its ImageNet weights: Keras downloads them (once, into
    ``~/.keras/models``), checks them and loads them."""
    import keras

    try:
        return keras.applications.VGG16(
            include_top=False, weights="imagenet", input_shape=input_shape
        )
    except Exception as exc:
        raise WeightsError(
            "ImageNet weights for VGG16 could not be obtained: Keras "
            "downloads them once into ~/.keras/models and the download "
            f"failed ({type(exc).__name__}: {exc}). Offline, use "
            "weights=None (random weights seeded by random_state) or "
            "weights='<path to a VGG16 weights file>'."
        ) from None


def _load_packaged_weights(model, name: str) -> LoadedVGG16:
    """Put a packaged encoder's weights (checked, expanded) into ``model``."""
    packaged = load_packaged(PACKAGED_WEIGHTS[name])
    for layer in conv_layer_names():
        kernel = packaged.arrays[f"{layer}/kernel"]
        bias = packaged.arrays[f"{layer}/bias"]
        model.get_layer(layer).set_weights([kernel, bias])
    info = WeightsInfo.from_dict(packaged.record["weights_info"])
    digest = packaged.sha256
    used = f"packaged {name} ({packaged.record['storage']}, sha256 {digest[:12]})"
    return LoadedVGG16(model, used, f"packaged:{digest}", info)


def check_against_file(
    info: WeightsInfo | None, weights, preprocessing: str, size: tuple[int, int]
) -> str:
    """The preprocessing to use; warns where the pipeline and the file disagree."""
    if info is None:
        return "caffe" if preprocessing == "auto" else preprocessing
    path = os.fspath(weights)
    if tuple(size) != tuple(info.input_size):
        h, w = info.input_size
        warnings.warn(
            f"{path} was trained on {h}x{w} face crops but this encoder gets "
            f"{size[0]}x{size[1]} images: its features will be worse than they "
            f"can be. Crop to the same size: make_emotion_pipeline(crop__size="
            f"{h if h == w else (h, w)}, encode__weights=...) or "
            f"FaceCropper(size={h if h == w else (h, w)}).",
            WeightsWarning,
            stacklevel=4,
        )
    if preprocessing == "auto":
        return info.preprocessing
    if preprocessing != info.preprocessing:
        warnings.warn(
            f"{path} was trained with preprocessing={info.preprocessing!r}, "
            f"but preprocessing={preprocessing!r} was asked for; "
            "preprocessing='auto' uses the file's",
            WeightsWarning,
            stacklevel=4,
        )
    return preprocessing
