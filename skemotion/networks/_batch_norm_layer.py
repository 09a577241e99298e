"""The :class:`FusedBatchNorm` layer, on TensorFlow's fused kernel.

This module imports Keras and TensorFlow as it loads: the networks that put
batch normalisation in (:func:`~skemotion.networks.build_vgg16`) and the
recalibration import it when they run, so that importing
:mod:`skemotion.networks` stays free of TensorFlow.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["FusedBatchNorm"]


@keras.saving.register_keras_serializable(package="skemotion")
class FusedBatchNorm(keras.layers.Layer):
    """Batch normalisation on TensorFlow's fused kernel.

    Keras' own ``BatchNormalization`` computes its moments with separate ops
    and, under a bfloat16 policy, casts to float32 and back around them:
    measured here it makes bfloat16 training of VGG16 slower than float32.
    The fused kernel takes bfloat16 activations with float32 statistics.
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = (int(input_shape[-1]),)
        self.gamma = self.add_weight(shape=channels, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(
            shape=channels, initializer="zeros", name="moving_mean",
            trainable=False,
        )  # fmt: skip
        self.moving_variance = self.add_weight(
            shape=channels, initializer="ones", name="moving_variance",
            trainable=False,
        )  # fmt: skip

    def call(self, x, training=False):
        def f32(variable):
            return tf.cast(variable.value, tf.float32)

        if training:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, f32(self.gamma), f32(self.beta), epsilon=self.epsilon,
                is_training=True,
            )  # fmt: skip
            m = self.momentum
            self.moving_mean.assign(f32(self.moving_mean) * m + mean * (1 - m))
            self.moving_variance.assign(
                f32(self.moving_variance) * m + variance * (1 - m)
            )
            return y
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, f32(self.gamma), f32(self.beta), mean=f32(self.moving_mean),
            variance=f32(self.moving_variance), epsilon=self.epsilon,
            is_training=False,
        )  # fmt: skip
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
        }
