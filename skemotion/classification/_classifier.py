"""Pipeline stage 4: feature vectors to emotion labels (``features -> label``).

:class:`EmotionClassifier` is the original post's dense network wrapped as a
scikeras :class:`~scikeras.wrappers.KerasClassifier`, with every choice a
constructor argument, and with fixes for the defects of scikeras 0.13 (its
latest release) under scikit-learn >= 1.7:

* ``is_classifier()`` is False, because scikeras' class order lets
  ``BaseEstimator.__sklearn_tags__`` hide ``ClassifierMixin``'s tags; so
  ``cv=5`` silently used ``KFold`` instead of ``StratifiedKFold`` and
  probability scorers could return NaN. Fixed in :meth:`__sklearn_tags__`.
* ``predict_proba`` on one sample returns shape ``(n_classes,)``; fixed to
  ``(1, n_classes)``.
* a fit with ``random_state`` leaves TensorFlow's op determinism on, so a
  later fit with ``random_state=None`` fails on its unseeded random ops;
  every fit now restores the mode it found.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import defaultdict
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scikeras.wrappers import KerasClassifier
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils._tags import ClassifierTags

from .._keras import PRECISIONS, dtype_policy, resolve_precision
from .._progress import progress_enabled

__all__ = ["EmotionClassifier"]

logger = logging.getLogger(__name__)

_OPTIMIZERS = {"rmsprop", "adam", "adamw", "sgd", "adagrad", "nadam", "adamax"}


@contextlib.contextmanager
def _restore_op_determinism():
    """Leave TensorFlow's op-determinism flag as it was found."""
    from tensorflow.python.framework import config

    was_enabled = config.is_op_determinism_enabled()
    try:
        yield
    finally:
        if config.is_op_determinism_enabled() and not was_enabled:
            config.disable_op_determinism()


def _reject_sparse(X):
    if sp.issparse(X):
        raise TypeError(
            "sparse input is not supported by EmotionClassifier; pass a dense "
            "array, e.g. X.toarray()"
        )
    return X


def _ravel_column(y):
    """A column vector y becomes 1-D with a warning, as scikit-learn's do."""
    if (
        y is not None
        and not sp.issparse(y)
        and np.asarray(y).ndim == 2
        and (np.asarray(y).shape[1] == 1)
    ):
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        return np.ravel(np.asarray(y))
    return y


class _EpochProgress:
    """Keras callback drawing one tqdm bar over the epochs."""

    def __new__(cls, epochs: int):
        import keras
        from tqdm.auto import tqdm

        class _Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(
                    total=epochs, desc="Training", unit="epoch", leave=False
                )

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                shown = {
                    k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "val_loss")
                }
                self.bar.set_postfix(shown)
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return _Callback()


class EmotionClassifier(KerasClassifier):
    """The original post's dense network as a scikit-learn classifier.

    Dense layers (256-64-16 by default) with ReLU and dropout, then a softmax
    over the classes found in ``y``; RMSprop with learning rate 1e-4; up to
    15 epochs of batch 16; early stopping on the validation loss of a
    stratified hold-out taken from the training data.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 64, 16)
        Units of each hidden dense layer.
    activation : str, default="relu"
        Activation of the hidden layers (any Keras activation name).
    dropout : float, default=0.5
        Dropout rate after each hidden layer (0 disables it).
    learning_rate : float, default=1e-4
        Learning rate of the optimizer.
    optimizer : {"rmsprop", "adam", "adamw", "sgd", "adagrad", "nadam", "adamax"}, \
default="rmsprop"
        Keras optimizer name.
    epochs : int, default=15
        Maximum number of epochs.
    batch_size : int, default=16
        Samples per gradient step.
    patience : int or None, default=3
        Epochs without improvement of the validation loss before training
        stops (the best weights are kept). ``None`` disables early stopping.
    validation_split : float, default=0.1
        Fraction of the training data held out (stratified by class when
        every class allows it) to watch the validation loss. 0 trains on all
        data and early stopping watches the training loss.
    random_state : int or None, default=None
        Seed of the weights, dropout, shuffling and hold-out split; with an
        int, fits are reproducible.
    verbose : int, default=0
        Keras' verbosity (0 silent, 1 progress bar, 2 one line per epoch).
    progress : bool or None, default=None
        Show a tqdm bar over epochs; ``None`` shows one when stderr is a
        terminal and ``verbose`` is 0.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the hidden layers compute in, as in :class:`VGG16Encoder`
        (``"auto"``: bfloat16 where the hardware runs it natively). The
        softmax and the probabilities are float32 either way, and the layers
        never take Keras' global dtype policy.
    **kwargs
        Other scikeras parameters (``class_weight``, ``callbacks``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen in :meth:`fit`, sorted.
    model_ : keras.Model
        The trained network.
    history_ : dict of list
        Loss (and ``val_loss``, ``accuracy``...) per epoch.
    n_features_in_ : int
        Length of the input feature vectors.
    precision_ : {"float32", "bfloat16"}
        What the hidden layers computed in (``precision`` resolved).

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion import EmotionClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 8)), rng.normal(3, 1, (20, 8))]
    >>> y = np.array(["sad"] * 20 + ["happy"] * 20)
    >>> clf = EmotionClassifier(hidden_layer_sizes=(16,), learning_rate=0.01,
    ...                         epochs=30, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 2)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [tuple, list],
        "activation": [str],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(_OPTIMIZERS)],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 0, None, closed="left"), None],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "verbose": [Interval(Integral, 0, 2, closed="both")],
        "progress": ["boolean", None],
        "precision": [StrOptions(set(PRECISIONS))],
    }

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (256, 64, 16),
        activation: str = "relu",
        dropout: float = 0.5,
        learning_rate: float = 1e-4,
        optimizer: str = "rmsprop",
        epochs: int = 15,
        batch_size: int = 16,
        patience: int | None = 3,
        validation_split: float = 0.1,
        random_state: int | None = None,
        verbose: int = 0,
        progress: bool | None = None,
        precision: str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(
            optimizer=optimizer,
            epochs=epochs,
            batch_size=batch_size,
            validation_split=validation_split,
            random_state=random_state,
            verbose=verbose,
            **kwargs,
        )
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.patience = patience
        self.progress = progress
        self.precision = precision

    # -- scikit-learn contract -------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=True, poor_score=True)
        tags.transformer_tags = None
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        return tags

    def _validate_own_params(self) -> None:
        validate_parameter_constraints(
            self._parameter_constraints,
            {k: getattr(self, k) for k in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        sizes = self.hidden_layer_sizes
        if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive ints, got {sizes!r}"
            )

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Train the network on feature vectors ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors, e.g. from :class:`VGG16Encoder`.
        y : array-like of shape (n_samples,)
            Labels (any hashable values, e.g. strings).
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples in the loss.
        **kwargs
            Passed to scikeras' ``fit``.

        Returns
        -------
        self : EmotionClassifier
        """
        self._validate_own_params()
        X = _reject_sparse(X)
        y = _ravel_column(y)
        self.precision_ = resolve_precision(self.precision)
        with _restore_op_determinism():
            return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def partial_fit(self, X, y, classes=None, sample_weight=None, **kwargs):
        """Train for one more epoch (see scikeras' ``partial_fit``)."""
        self._validate_own_params()
        X = _reject_sparse(X)
        y = _ravel_column(y)
        if not hasattr(self, "precision_"):
            self.precision_ = resolve_precision(self.precision)
        with _restore_op_determinism():
            return super().partial_fit(
                X, y, classes=classes, sample_weight=sample_weight, **kwargs
            )

    def predict_proba(self, X, **kwargs) -> np.ndarray:
        """Probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; always 2-D, one sample included.
        """
        X = _reject_sparse(X)
        n_samples = np.shape(np.asarray(X))[0]
        with _restore_op_determinism():
            proba = super().predict_proba(X, **kwargs)
        # scikeras squeezes (1, n_classes) and (n_samples, 1) to 1-D
        return np.asarray(proba).reshape(n_samples, -1)

    def predict(self, X, **kwargs) -> np.ndarray:
        """Most probable label of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X, **kwargs)
        return np.asarray(self.classes_)[proba.argmax(axis=1)]

    def _validate_data(self, X=None, y=None, reset=False, y_numeric=False):
        # scikit-learn's wording for a wrong number of features, checked first
        if X is not None and not reset and hasattr(self, "n_features_in_"):
            shape = np.shape(np.asarray(X))
            if len(shape) == 2 and shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {shape[1]} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input"
                )
        return super()._validate_data(X=X, y=y, reset=reset, y_numeric=y_numeric)

    # -- Keras model ---------------------------------------------------------------
    def _keras_build_fn(self, meta, compile_kwargs):
        import keras

        n_features = meta["n_features_in_"]
        n_classes = meta["n_classes_"]
        policy = dtype_policy(getattr(self, "precision_", "float32"))
        inputs = keras.Input(shape=(n_features,), name="features")
        x = inputs
        for i, units in enumerate(self.hidden_layer_sizes):
            x = keras.layers.Dense(
                int(units), activation=self.activation, dtype=policy, name=f"dense_{i}"
            )(x)
            if self.dropout > 0:
                x = keras.layers.Dropout(
                    self.dropout, dtype=policy, name=f"dropout_{i}"
                )(x)
        outputs = keras.layers.Dense(
            n_classes, activation="softmax", dtype="float32", name="emotion"
        )(x)
        model = keras.Model(inputs, outputs, name="emotion_classifier")
        optimizer = keras.optimizers.get(
            {
                "class_name": self.optimizer,
                "config": {"learning_rate": self.learning_rate},
            }
        )
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def _hold_out(self, X, y, sample_weight):
        """Split a stratified validation set off the training data."""
        n = len(y)
        labels = y.argmax(axis=1) if y.ndim == 2 else y
        n_val = round(n * self.validation_split)
        if self.validation_split <= 0 or n_val < 1 or n - n_val < 1:
            return X, y, sample_weight, None
        index = np.arange(n)
        counts = np.bincount(np.asarray(labels, dtype=int).ravel())
        counts = counts[counts > 0]
        stratify = labels if counts.min() >= 2 and n_val >= len(counts) else None
        train_idx, val_idx = train_test_split(
            index,
            test_size=n_val,
            stratify=stratify,
            random_state=self.random_state,
        )
        val = (X[val_idx], y[val_idx])
        if sample_weight is not None:
            val = (*val, sample_weight[val_idx])
            sample_weight = sample_weight[train_idx]
        return X[train_idx], y[train_idx], sample_weight, val

    def _fit_keras_model(
        self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
    ):
        import keras
        from scikeras.utils.random_state import tensorflow_random_state

        X_train, y_train, sw_train, validation = self._hold_out(X, y, sample_weight)
        callbacks = list(self._fit_callbacks or [])
        if self.patience is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss" if validation is not None else "loss",
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        if self.verbose == 0 and progress_enabled(self.progress):
            callbacks.append(_EpochProgress(epochs))
        fit_args = dict(
            x=X_train,
            y=y_train,
            sample_weight=sw_train,
            validation_data=validation,
            batch_size=self.batch_size,
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch,
            verbose=self.verbose,
            shuffle=True,
            callbacks=callbacks,
        )
        if self._random_state is not None:
            with tensorflow_random_state(self._random_state):
                hist = self.model_.fit(**fit_args)
        else:
            hist = self.model_.fit(**fit_args)
        if not warm_start or not hasattr(self, "history_") or initial_epoch == 0:
            self.history_ = defaultdict(list)
        for key, values in hist.history.items():
            self.history_[key] += list(values)
