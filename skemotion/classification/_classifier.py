"""Pipeline stage 4: feature vectors to emotion labels (``features -> label``).

:class:`EmotionClassifier` is the original post's dense network wrapped as a
scikeras :class:`~scikeras.wrappers.KerasClassifier`, with every choice a
constructor argument. scikeras 0.13 (its last release) has defects under
scikit-learn >= 1.7; their fixes, each with its reason, are in
``_scikeras.py`` (:class:`ScikerasFixes`, first among the bases).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from numbers import Integral, Real

import numpy as np
from scikeras.wrappers import KerasClassifier
from sklearn.utils._param_validation import Interval, StrOptions

from .._progress import progress_enabled
from .._validation import (
    check_classes,
    check_hidden_layer_sizes,
    stratified_holdout,
)
from ..networks import (
    OPTIMIZERS,
    PRECISIONS,
    dense_head,
    make_optimizer,
    predict_in_batches,
    resolve_precision,
)
from ._keras_data import data_arguments
from ._scikeras import ScikerasFixes
from ._temperature import apply_temperature, fit_temperature

__all__ = ["EmotionClassifier"]

logger = logging.getLogger(__name__)

#: Rows per compiled call of the network in predict_proba (its size is a
#: fixed shape for the compiled function; fewer rows are one call).
_PREDICT_BATCH = 256


def _epoch_progress(epochs: int):
    """A Keras callback drawing one tqdm bar over the epochs."""
    import keras
    from tqdm.auto import tqdm

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc="Training", unit="epoch", leave=False)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = {
                k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "val_loss")
            }
            self.bar.set_postfix(shown)
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochProgress()


class EmotionClassifier(ScikerasFixes, KerasClassifier):
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
        Keras optimizer name; ``"sgd"`` uses Nesterov momentum 0.9.
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
    calibration : {"temperature"} or None, default=None
        ``"temperature"``: after training, fit one temperature ``T`` on the
        hold-out (``validation_split`` must be above 0) by minimising its
        log loss; :meth:`predict_proba` then returns the softmax of the
        network's log-probabilities divided by ``T`` (temperature scaling:
        the same labels, probabilities that mean what they say). The hold-out
        also drives early stopping. None: ``T = 1``.
    class_weight : "balanced", dict or None, default=None
        ``"balanced"`` or ``{label: weight above 0}``: each sample's weight
        in the loss is multiplied by its class's.
    shuffle : bool, default=True
        Shuffle the training rows every epoch.
    validation_batch_size : int or None, default=None
        Rows per step when the hold-out is scored (None: ``batch_size``).
    callbacks : list of keras.callbacks.Callback or None, default=None
        Run during training, beside the early stopping and the progress bar.
    warm_start : bool, default=False
        A refit continues from the trained weights instead of new ones.
    run_eagerly : bool, default=False
        Train without compiling the steps (slow; for debugging).
    model, build_fn, loss, metrics : None
        scikeras' own; the network is built and compiled here, so only
        None is taken.
    **kwargs
        ``fit__name=value``: passed to Keras' ``Model.fit`` (e.g.
        ``fit__validation_freq=2``).

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
    temperature_ : float
        The temperature :meth:`predict_proba` applies (1.0 without
        ``calibration``).
    n_classes_ : int
        Number of classes.
    X_dtype_, y_dtype_ : numpy dtype
        Data types of the training features and labels (kept by scikeras).
    X_shape_ : tuple of int
        Shape of the training features.
    y_ndim_ : int
        Dimensions of the training labels.
    target_type_ : str
        scikit-learn's type of the target (``"binary"``, ``"multiclass"``).
    n_outputs_, n_outputs_expected_ : int
        Outputs of the network, as scikeras counts them.
    feature_encoder_, target_encoder_ : transformer
        scikeras' encoders of the features and of the labels (labels to class
        indices and back).

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
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 0, None, closed="left"), None],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "verbose": [Interval(Integral, 0, 2, closed="both")],
        "progress": ["boolean", None],
        "precision": [StrOptions(set(PRECISIONS))],
        "calibration": [StrOptions({"temperature"}), None],
        # scikeras' own parameters. The network is built and compiled here,
        # so scikeras' model, build_fn, loss and metrics would be ignored:
        # only their default, None, is accepted.
        "model": [None],
        "build_fn": [None],
        "loss": [None],
        "metrics": [None],
        "warm_start": ["boolean"],
        "validation_batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "callbacks": [list, tuple, None],
        "shuffle": ["boolean"],
        "run_eagerly": ["boolean"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
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
        calibration: str | None = None,
        *,
        class_weight: str | dict | None = None,
        shuffle: bool = True,
        validation_batch_size: int | None = None,
        callbacks: list | None = None,
        warm_start: bool = False,
        run_eagerly: bool = False,
        model: None = None,
        build_fn: None = None,
        loss: None = None,
        metrics: None = None,
        **kwargs,
    ) -> None:
        super().__init__(
            model=model,
            build_fn=build_fn,
            warm_start=warm_start,
            random_state=random_state,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            validation_batch_size=validation_batch_size,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            shuffle=shuffle,
            run_eagerly=run_eagerly,
            epochs=epochs,
            class_weight=class_weight,
            **kwargs,
        )
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.patience = patience
        self.progress = progress
        self.precision = precision
        self.calibration = calibration

    # -- scikit-learn contract -------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    def _check_params(self) -> None:
        self._validate_params()  # _parameter_constraints
        check_hidden_layer_sizes(self.hidden_layer_sizes)
        if isinstance(self.class_weight, dict) and not all(
            isinstance(w, Real) and w > 0 for w in self.class_weight.values()
        ):
            raise ValueError(
                "class_weight's weights must be numbers above 0, got "
                f"{self.class_weight!r} (to leave a class out, drop its rows)"
            )
        if self.calibration is not None and not self.validation_split:
            raise ValueError(
                f"calibration={self.calibration!r} fits its temperature on the "
                "hold-out: set validation_split above 0 (e.g. 0.1)"
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
            Passed to Keras' ``Model.fit`` (``validation_freq=2``,
            ``steps_per_epoch``, ``epochs`` for this call, ...); ``callbacks``
            given here run beside those of the ``callbacks`` parameter. The
            data and the hold-out are this method's own: ``x``, ``y``,
            ``validation_data`` and ``validation_split`` are refused.

        Returns
        -------
        self : EmotionClassifier

        Raises
        ------
        TypeError
            If ``kwargs`` names the data or the hold-out.
        ValueError
            If ``y`` holds fewer than 2 classes (after dropping the rows of
            weight 0).
        """
        self._check_params()
        self.precision_ = resolve_precision(self.precision)
        self.temperature_ = 1.0
        _refuse_fit_kwargs(kwargs)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None"
            )
        X, y, sample_weight = _without_weightless_rows(X, y, sample_weight)
        labels = np.asarray(y)
        if labels.ndim == 1:
            check_classes(list(dict.fromkeys(labels.tolist())), len(labels))
        # the hold-out is drawn once, here, so that training watches the rows
        # the temperature is then fitted on
        _, held_out = stratified_holdout(
            _stratify_by(y), self.validation_split, self.random_state
        )
        super().fit(
            X, y, sample_weight=sample_weight, **kwargs, **{_HELD_OUT: held_out}
        )
        if self.calibration == "temperature":
            X_val, y_val = np.asarray(X)[held_out], np.asarray(y)[held_out]
            logp = np.log(np.clip(super().predict_proba(X_val), 1e-12, None))
            codes = self.target_encoder_.transform(np.asarray(y_val))
            self.temperature_ = fit_temperature(logp, np.ravel(codes).astype(int))
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None, **kwargs):
        """Train for one more epoch (see scikeras' ``partial_fit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors.
        y : array-like of shape (n_samples,)
            Labels.
        classes : array-like of shape (n_classes,), optional
            Every class, on the first call.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples in the loss.
        **kwargs
            Passed to Keras' ``Model.fit``, as for :meth:`fit`.

        Returns
        -------
        self : EmotionClassifier
        """
        self._check_params()
        _refuse_fit_kwargs(kwargs)
        if not hasattr(self, "precision_"):
            self.precision_ = resolve_precision(self.precision)
            self.temperature_ = 1.0
        return super().partial_fit(
            X, y, classes=classes, sample_weight=sample_weight, **kwargs
        )

    def predict_proba(self, X, **kwargs) -> np.ndarray:
        """Probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors.
        **kwargs
            Passed to scikeras' ``predict_proba``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; always 2-D, one sample included;
            temperature-scaled with ``calibration="temperature"``.
        """
        proba = super().predict_proba(X, **kwargs)
        return apply_temperature(proba, getattr(self, "temperature_", 1.0))

    def _predict_raw(self, X, **kwargs):
        """The network's probabilities: one compiled call per batch of 256
        rather than Keras' ``predict``, whose set-up costs 40-70 ms a call
        (what a video's or a server's small batches paid per batch)."""
        if kwargs or not getattr(self, "initialized_", False):
            return super()._predict_raw(X, **kwargs)
        X, _ = self._validate_data(X=X, y=None)
        X = np.asarray(self.feature_encoder_.transform(X), dtype=np.float32)
        return predict_in_batches(self.model_, X, _PREDICT_BATCH)

    def predict(self, X, **kwargs) -> np.ndarray:
        """Most probable label of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors.
        **kwargs
            Passed to :meth:`predict_proba`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X, **kwargs)
        return np.asarray(self.classes_)[proba.argmax(axis=1)]

    # -- Keras model ---------------------------------------------------------------
    def _keras_build_fn(self, meta, compile_kwargs):
        import keras

        inputs = keras.Input(shape=(meta["n_features_in_"],), name="features")
        outputs = dense_head(
            inputs, self.hidden_layer_sizes, meta["n_classes_"],
            activation=self.activation, dropout=self.dropout,
            precision=getattr(self, "precision_", "float32"),
        )  # fmt: skip
        model = keras.Model(inputs, outputs, name="emotion_classifier")
        model.compile(
            optimizer=make_optimizer(self.optimizer, self.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            run_eagerly=self.run_eagerly,
        )
        return model

    def _hold_out(self, X, y, sample_weight, held_out):
        """Split the rows ``held_out`` off the training data (None: draw a
        stratified hold-out of ``validation_split``)."""
        if held_out is None:
            _, held_out = stratified_holdout(
                _stratify_by(y), self.validation_split, self.random_state
            )
        if not len(held_out):
            return X, y, sample_weight, None
        train = np.setdiff1d(np.arange(len(y)), held_out)
        val = (X[held_out], y[held_out])
        if sample_weight is not None:
            val = (*val, sample_weight[held_out])
            sample_weight = sample_weight[train]
        return X[train], y[train], sample_weight, val

    def _fit_keras_model(
        self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
    ):
        """Keras' ``fit`` with this estimator's settings (scikeras' own would
        pass ``validation_split`` to Keras, which takes the last rows, not a
        stratified sample, and has no early stopping or progress bar)."""
        import keras
        from scikeras.utils.random_state import tensorflow_random_state

        held_out = kwargs.pop(_HELD_OUT, None)
        X_train, y_train, sw_train, validation = self._hold_out(
            X, y, sample_weight, held_out
        )
        callbacks = [*(self._fit_callbacks or []), *kwargs.pop("callbacks", [])]
        if self.patience is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss" if validation is not None else "loss",
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        if self.verbose == 0 and progress_enabled(self.progress):
            callbacks.append(_epoch_progress(epochs))
        fit_args = dict(
            batch_size=self.batch_size,
            validation_batch_size=self.validation_batch_size,
            verbose=self.verbose,
            shuffle=self.shuffle,
        )
        # fit__name=value parameters, then what this call was given
        fit_args.update(
            (name.removeprefix("fit__"), value)
            for name, value in self.get_params().items()
            if name.startswith("fit__")
        )
        fit_args.update(kwargs)
        settings = ("batch_size", "validation_batch_size", "shuffle")
        data = data_arguments(
            (X_train, y_train, sw_train), validation, seed=self._random_state,
            **{name: fit_args.pop(name) for name in settings},
        )  # fmt: skip
        fit_args.update(
            data,
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch,
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


#: The keyword by which fit hands its hold-out down to _fit_keras_model.
_HELD_OUT = "_skemotion_held_out_rows"
#: Keras fit arguments that fit decides itself.
_OWN_FIT_ARGUMENTS = ("x", "y", "validation_data", "validation_split", _HELD_OUT)


def _refuse_fit_kwargs(kwargs: dict) -> None:
    named = sorted(set(kwargs) & set(_OWN_FIT_ARGUMENTS))
    if named:
        raise TypeError(
            f"fit() does not take {', '.join(named)}: the data are X and y, and "
            "the hold-out is the validation_split parameter's"
        )


def _without_weightless_rows(X, y, sample_weight):
    """Drop the rows of weight 0 (as scikit-learn's estimators ignore them),
    before the hold-out is drawn: its row numbers then hold all the way down
    (scikeras would drop them later and shift every row after them). The
    caller's ``sample_weight`` is copied, never changed (scikeras multiplies
    it by the class weights in place)."""
    if sample_weight is None:
        return X, y, None
    sample_weight = np.array(sample_weight, dtype=np.float64)
    keep = sample_weight != 0
    if sample_weight.ndim == 1 and len(keep) and not keep.any():
        raise ValueError("every sample weight is zero: there is nothing to train on")
    if sample_weight.ndim != 1 or keep.all():
        return X, y, sample_weight  # scikeras checks the shape and says so
    return np.asarray(X)[keep], np.asarray(y)[keep], sample_weight[keep]


def _stratify_by(y) -> np.ndarray:
    """The labels to stratify a hold-out by: ``y``, or each row's class for
    one-hot targets."""
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] > 1:
        return y_arr.argmax(axis=1)
    return y_arr.reshape(len(y_arr))
