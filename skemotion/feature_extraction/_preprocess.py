"""VGG16's input: 0-255 images made what the network expects, one of
:data:`~skemotion.feature_extraction.PREPROCESSING`'s ways."""

from __future__ import annotations

import numpy as np

from ._weights_file import PREPROCESSING

__all__ = ["preprocess_images"]

#: The ImageNet channel means (BGR) subtracted by Keras' VGG16 preprocessing.
_VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess_images(batch: np.ndarray, method: str = "caffe") -> np.ndarray:
    """Turn 0-255 images into VGG16 input.

    Parameters
    ----------
    batch : ndarray of shape (n, height, width, 3) or (n, height, width, 1)
        Pixel values 0-255 (any numeric dtype); one channel is repeated.
    method : {"caffe", "standardize"}, default="caffe"
        ``"caffe"``: Keras' ``vgg16.preprocess_input`` (RGB to BGR, minus the
        ImageNet channel means), what ImageNet and random weights expect.
        ``"standardize"``: each image minus its mean, divided by its standard
        deviation (per-image contrast normalisation: a dim photo and a
        contrasty one of the same face give the same input).

    Returns
    -------
    x : ndarray of float32, same shape with 3 channels
    """
    x = np.asarray(batch, dtype=np.float32).copy()
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if method == "caffe":
        x = x[..., ::-1]
        x -= _VGG_MEAN_BGR
        return x
    if method != "standardize":
        raise ValueError(f"method must be one of {PREPROCESSING}, got {method!r}")
    n_values = np.prod(x.shape[1:])
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    x -= mean
    x /= np.maximum(std, 1.0 / np.sqrt(n_values))  # a flat image stays 0
    return x


def graph_preprocessing(method: str, shape: tuple[int, int, int]):
    """:func:`preprocess_images` as Keras operations, for a network's graph.

    What a compiled network runs before VGG16, and what gradients go through
    (the per-image mean and deviation included); for inputs of ``shape``
    ``(height, width, channels)``, one channel repeated to three.

    Parameters
    ----------
    method : {"caffe", "standardize"}
        As for :func:`preprocess_images`.
    shape : tuple of (int, int, int)
        The input's ``(height, width, channels)``.

    Returns
    -------
    preprocess : callable
        ``preprocess(x) -> x`` on float tensors of shape ``(n, *shape)``.
    """
    from keras import ops

    if method not in PREPROCESSING:
        raise ValueError(f"method must be one of {PREPROCESSING}, got {method!r}")
    floor = float(1.0 / np.sqrt(shape[0] * shape[1] * 3))  # a flat image stays 0

    def preprocess(x):
        if shape[2] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if method == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(_VGG_MEAN_BGR)
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        std = ops.std(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) / ops.maximum(std, floor)

    return preprocess
