"""Keras pieces shared by skemotion's networks: precision, VGG16, batch norm, pickling.

Nothing here changes Keras' global state: each network is built with a dtype
policy given to its own layers, so a user's other models keep the global
policy (``keras.config.dtype_policy()``), and every network's output is
float32 whatever it computes in.
"""

from __future__ import annotations

import functools
import logging
import platform
import subprocess
import weakref

import numpy as np

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "KerasNetworkMixin",
    "bfloat16_support",
    "build_vgg16",
    "compiled_predict",
    "conv_layer_names",
    "dense_head",
    "dtype_policy",
    "fold_batch_norm",
    "make_optimizer",
    "predict_in_batches",
    "recalibrate_batch_norm",
    "resolve_precision",
]

logger = logging.getLogger(__name__)

#: Values of every ``precision`` parameter.
PRECISIONS = ("auto", "float32", "bfloat16")
#: Keras dtype policy of each resolved precision: bfloat16 computes in
#: bfloat16 and keeps its variables in float32 (Keras' mixed precision).
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
#: CPU features with native bfloat16 matrix instructions, used by oneDNN.
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")

#: VGG16's convolutional blocks: (convolutions, filters).
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def conv_layer_names(block: int | None = None) -> list[str]:
    """Names of VGG16's convolutions (``block1_conv1`` ...), of one block or all."""
    blocks = range(1, 6) if block is None else (block,)
    return [
        f"block{b}_conv{i + 1}" for b in blocks for i in range(VGG16_BLOCKS[b - 1][0])
    ]


# --------------------------------------------------------------------- precision
def _cpu_flags() -> set[str]:
    """The CPU's feature flags, lower case (empty when they cannot be read)."""
    system = platform.system()
    try:
        if system == "Linux":
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        return set(line.split(":", 1)[1].lower().split())
        elif system == "Darwin":
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"],
                capture_output=True, text=True, timeout=5, check=False,
            )  # fmt: skip
            return set(out.stdout.lower().replace(".", "_").split())
    except (OSError, subprocess.SubprocessError):
        pass
    return set()


def _gpu_bfloat16() -> tuple[bool, str] | None:
    """bfloat16 support of the first GPU TensorFlow sees, or None without one."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
    except (RuntimeError, ValueError):  # pragma: no cover - driver specific
        details = {}
    name = details.get("device_name", "GPU")
    capability = details.get("compute_capability")
    if capability is not None and tuple(capability) >= (8, 0):
        return True, f"{name} (compute capability {capability[0]}.{capability[1]})"
    return False, f"{name} without bfloat16 matrix units (compute capability < 8.0)"


@functools.cache
def bfloat16_support() -> tuple[bool, str]:
    """Whether this machine runs bfloat16 natively, and why, in words.

    A GPU, when TensorFlow sees one, decides (NVIDIA compute capability 8.0
    and above: Ampere, Hopper...); otherwise the CPU does (x86 with AMX-BF16
    or AVX512-BF16, which TensorFlow's oneDNN kernels use). Elsewhere bfloat16
    would be emulated, slower than float32.

    Returns
    -------
    supported : bool
    reason : str
    """
    gpu = _gpu_bfloat16()
    if gpu is not None:
        return gpu
    flags = _cpu_flags()
    found = [flag for flag in _BF16_CPU_FLAGS if flag in flags]
    machine = platform.machine() or "unknown"
    if found:
        return True, f"{machine} CPU with {' and '.join(found)}"
    if not flags:
        return False, f"{machine} CPU whose features could not be read"
    return False, f"{machine} CPU without AMX-BF16 or AVX512-BF16"


def resolve_precision(precision: str) -> str:
    """``"float32"`` or ``"bfloat16"`` for a ``precision`` parameter.

    ``"auto"`` is bfloat16 where :func:`bfloat16_support` finds native
    support, float32 elsewhere; the others are taken as they are.
    """
    if precision == "auto":
        supported, reason = bfloat16_support()
        chosen = "bfloat16" if supported else "float32"
        logger.info("precision='auto': %s (%s)", chosen, reason)
        return chosen
    if precision not in _POLICIES:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def dtype_policy(precision: str) -> str:
    """The Keras dtype policy name of a resolved precision."""
    return _POLICIES[precision]


# ------------------------------------------------------------------ batch norm
def _batch_norm_class():
    """A batch normalisation layer on TensorFlow's fused kernel.

    Keras' own ``BatchNormalization`` computes its moments with separate ops
    and, under a bfloat16 policy, casts to float32 and back around them:
    measured here it makes bfloat16 training of VGG16 slower than float32.
    The fused kernel takes bfloat16 activations with float32 statistics.
    """
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="skemotion")
    class FusedBatchNorm(keras.layers.Layer):
        def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
            super().__init__(**kwargs)
            self.momentum = momentum
            self.epsilon = epsilon

        def build(self, input_shape):
            channels = (int(input_shape[-1]),)
            self.gamma = self.add_weight(
                shape=channels, initializer="ones", name="gamma"
            )
            self.beta = self.add_weight(
                shape=channels, initializer="zeros", name="beta"
            )
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

    return FusedBatchNorm


@functools.cache
def fused_batch_norm_layer():
    """The :class:`FusedBatchNorm` layer class (defined once TensorFlow loads)."""
    return _batch_norm_class()


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

    layers = [
        layer
        for layer in _all_layers(model)
        if isinstance(layer, fused_batch_norm_layer())
    ]
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


# ----------------------------------------------------------------------- VGG16
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
    written by or for it load into this network and the other way round.

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
                x = layers.Conv2D(filters, 3, padding="same", dtype=policy, name=conv)(
                    x
                )
                x = batch_norm_cls(dtype=policy, name=f"{conv}_bn")(x)
                x = layers.Activation("relu", dtype=policy, name=f"{conv}_relu")(x)
            else:
                x = layers.Conv2D(
                    filters, 3, padding="same", activation="relu", dtype=policy,
                    name=conv,
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


# ------------------------------------------------------------- dense networks
#: Optimizer names of every ``optimizer`` parameter, and their Keras classes.
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "adagrad", "nadam", "adamax")


def make_optimizer(name: str, learning_rate):
    """The Keras optimizer called ``name``.

    ``learning_rate`` is a number or a Keras learning-rate schedule.
    ``"sgd"`` is stochastic gradient descent with Nesterov momentum 0.9
    (plain SGD without momentum trains these networks too slowly to be of
    use); the others have Keras' defaults.
    """
    import keras

    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    classes = {
        "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop, "adagrad": keras.optimizers.Adagrad,
        "nadam": keras.optimizers.Nadam, "adamax": keras.optimizers.Adamax,
    }  # fmt: skip
    if name not in classes:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    return classes[name](learning_rate)


def dense_head(
    x,
    hidden_layer_sizes,
    n_classes: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    input_dropout: bool = False,
    precision: str = "float32",
    seed: int | None = None,
):
    """The dense layers that turn a feature vector into class probabilities.

    ``[Dropout] -> (Dense -> Dropout) per hidden layer -> Dense softmax``: the
    original post's network, used by :class:`EmotionClassifier` on encoder
    features and by :class:`VGG16FineTuner` on top of VGG16.

    Parameters
    ----------
    x : keras tensor
        The feature vectors.
    hidden_layer_sizes : sequence of int
    n_classes : int
    activation : str, default="relu"
        Of the hidden layers.
    dropout : float, default=0.0
        Rate of the dropout after each hidden layer (0: none).
    input_dropout : bool, default=False
        Also drop out the input features (at the same rate).
    precision : {"float32", "bfloat16"}
        What the hidden layers compute in; the softmax is float32.
    seed : int or None
        Seeds every initialiser and dropout layer (None: Keras' global seed).

    Returns
    -------
    probabilities : keras tensor
    """
    import keras
    from keras import layers

    policy = dtype_policy(precision)

    def init(offset):
        if seed is None:
            return "glorot_uniform"
        return keras.initializers.GlorotUniform(seed + offset)

    def drop(offset, name):
        return layers.Dropout(
            dropout, seed=None if seed is None else seed + 100 + offset,
            dtype=policy, name=name,
        )  # fmt: skip

    if dropout > 0 and input_dropout:
        x = drop(0, "dropout_input")(x)
    for i, units in enumerate(hidden_layer_sizes):
        x = layers.Dense(
            int(units), activation=activation, dtype=policy,
            kernel_initializer=init(i + 1), name=f"dense_{i}",
        )(x)  # fmt: skip
        if dropout > 0:
            x = drop(i + 1, f"dropout_{i}")(x)
    return layers.Dense(
        n_classes, activation="softmax", dtype="float32",
        kernel_initializer=init(len(hidden_layer_sizes) + 1), name="emotion",
    )(x)  # fmt: skip


# ----------------------------------------------------------------- prediction
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


def predict_in_batches(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Run ``model`` on ``x`` ``batch_size`` rows at a time; float32 numpy out."""
    fn = compiled_predict(model)
    parts = [
        np.asarray(fn(x[start : start + batch_size]), dtype=np.float32)
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts) if parts else np.empty((0,), np.float32)


class KerasNetworkMixin:
    """Pickle a fitted network (``model_``) as its weight values.

    Keras networks do not pickle; an estimator holding one in ``model_``
    pickles its weight values instead and rebuilds the network when it is
    unpickled, with :meth:`_build_network` (from its fitted attributes), so a
    reloaded estimator predicts at once, identically, without a download.
    """

    def _build_network(self):
        """The network's architecture, from the fitted attributes."""
        raise NotImplementedError

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter self
        model = state.pop("model_", None)
        if model is not None:
            state["_network_weights"] = [np.asarray(w) for w in model.get_weights()]
        return state

    def __setstate__(self, state):
        state = dict(state)
        # "_weight_values" with "model_": None: files of skemotion 0.1
        weights = state.pop("_network_weights", state.pop("_weight_values", None))
        if state.get("model_", False) is None:
            del state["model_"]
        super().__setstate__(state)
        if weights is not None:
            model = self._build_network()
            model.set_weights(weights)
            self.model_ = model
