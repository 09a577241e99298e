"""Dense heads and their optimizers: feature vectors to class probabilities.

Used by :class:`~skemotion.EmotionClassifier` on encoder features and by
:class:`~skemotion.VGG16FineTuner` on top of VGG16.
"""

from __future__ import annotations

from ._precision import dtype_policy

__all__ = ["OPTIMIZERS", "dense_head", "make_optimizer"]

#: Optimizer names of every ``optimizer`` parameter (see :func:`make_optimizer`).
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
