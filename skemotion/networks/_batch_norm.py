"""Batch normalisation around VGG16's convolutions: the layer, folding it into
the convolution before it, and re-estimating its statistics after training."""

from __future__ import annotations

import numpy as np

__all__ = ["fold_batch_norm", "fused_batch_norm_layer", "recalibrate_batch_norm"]


def fused_batch_norm_layer():
    """The :class:`FusedBatchNorm` layer class (importing it loads TensorFlow)."""
    from ._batch_norm_layer import FusedBatchNorm

    return FusedBatchNorm


def fold_batch_norm(
    kernel: np.ndarray,
    bias: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    epsilon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold inference-mode batch normalisation into the convolution before it.

    ``bn(conv(x))`` = ``gamma * (conv(x) - mean) / sqrt(variance + epsilon) +
    beta`` is itself a convolution, with the kernel scaled per output channel.

    Returns
    -------
    kernel, bias : ndarray
        The folded convolution's weights (float32).
    """
    scale = np.asarray(gamma, np.float64) / np.sqrt(
        np.asarray(variance, np.float64) + epsilon
    )
    folded_kernel = np.asarray(kernel, np.float64) * scale  # last axis: outputs
    folded_bias = (np.asarray(bias, np.float64) - mean) * scale + beta
    return folded_kernel.astype(np.float32), folded_bias.astype(np.float32)


def recalibrate_batch_norm(model, batches, *, momentum: float = 0.9) -> int:
    """Re-estimate the batch-norm statistics of ``model`` on ``batches``.

    The moving averages kept during training lag behind the weights, and on
    a small data set (a few steps per epoch) they hardly move from their
    start. Running the final network in training mode over some batches
    with a short memory (``momentum``) gives statistics of the final
    weights; dropout, which comes after every batch norm, does not change
    them.

    Parameters
    ----------
    model : keras.Model
    batches : iterable of ndarray
        Network inputs, not augmented.
    momentum : float, default=0.9
        Memory of the running averages during the recalibration.

    Returns
    -------
    n_layers : int
        Batch-norm layers recalibrated (0: none in ``model``).
    """
    import tensorflow as tf

    layer_class = fused_batch_norm_layer()
    layers = [layer for layer in _all_layers(model) if isinstance(layer, layer_class)]
    if not layers:
        return 0
    kept = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = momentum  # read when the function below is traced
        step = tf.function(lambda x: model(x, training=True))
        for x in batches:
            step(x)
    finally:
        for layer, value in zip(layers, kept, strict=True):
            layer.momentum = value
    return len(layers)


def _all_layers(model) -> list:
    """Every layer of ``model``, inside nested models too."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found
