"""Adapt the encoder: train VGG16 and a dense head on labelled faces.

:class:`VGG16FineTuner` takes the place of ``encode`` + ``classify`` in a
pipeline (``crop -> gray -> finetune``). It trains the top ``trainable_blocks``
convolutional blocks of VGG16 (all five: from scratch) together with a dense
head, then :meth:`VGG16FineTuner.export_weights` writes the adapted
convolutional weights, with a record of how they were made and how to use
them (:class:`~skemotion.WeightsInfo`), to a file that
``VGG16Encoder(weights=FILE)`` loads: the standard pipeline, grid searches and
persistence work unchanged on adapted features.

The recipe for faces (each part a parameter, each measured in
``benchmarks/finetune_ablation.py``): per-image contrast normalisation,
batch normalisation after each trained convolution (folded into the
convolution at export, so the file is plain VGG16), a linear warm-up then a
cosine decay of the learning rate, label smoothing, face augmentation, and
bfloat16 where the hardware runs it natively.

Speed: the frozen blocks (those below the trained ones) never change, so with
``cache_frozen=True`` their activations are computed once, before the first
epoch, for every training image and for ``augment_copies`` augmented copies of
it; each epoch then draws one of those versions per image. ``cache_frozen=
False`` augments every batch afresh and runs the frozen blocks every epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from datetime import datetime, timezone
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from .._io import strings_sha256
from .._keras import (
    OPTIMIZERS,
    PRECISIONS,
    KerasNetworkMixin,
    build_vgg16,
    make_optimizer,
    predict_in_batches,
    recalibrate_batch_norm,
    resolve_precision,
)
from .._progress import progress_enabled
from .._validation import (
    check_hidden_layer_sizes,
    check_image_batch,
    stratified_holdout,
)
from .._version import __version__
from ..exceptions import CheckpointError
from ._activation_cache import frozen_activations
from ._checkpoints import CheckpointStore
from ._encoder import MIN_INPUT_SIZE, load_vgg16, preprocess_images
from ._finetune_network import (
    assemble,
    export_plain_vgg16,
    he_rescale,
    trained_convs,
)
from ._training import (
    batch_rng,
    best_epoch_callback,
    epoch_log,
    face_batches,
    warmup_schedule,
)
from ._weights_file import PREPROCESSING, WeightsInfo, write_weights_file

__all__ = ["VGG16FineTuner", "augment_faces"]

logger = logging.getLogger(__name__)

#: Rows per call when the network only predicts (no gradients: bigger is fine).
_PREDICT_BATCH = 128
#: Batches of training images that re-estimate the batch-norm statistics.
_RECALIBRATION_BATCHES = 50


def augment_faces(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    flip: bool = True,
    shift: float = 0.1,
    rotation: float = 10.0,
    zoom: float = 0.1,
    brightness: float = 0.2,
) -> np.ndarray:
    """Randomly flip, shift, rotate, zoom and brighten a batch of face crops.

    Geometric changes are one affine warp per image (borders reflected), so
    faces stay upright and whole; every draw comes from ``rng``, so a seeded
    generator gives the same batch every time.

    Parameters
    ----------
    images : ndarray of shape (n, height, width, channels)
        Pixel values 0-255 (any numeric dtype).
    rng : numpy.random.Generator
        Source of every random draw.
    flip : bool, default=True
        Mirror half of the images left-right.
    shift : float, default=0.1
        Largest shift, as a fraction of the side, in each direction.
    rotation : float, default=10.0
        Largest rotation in degrees, either way.
    zoom : float, default=0.1
        Largest zoom in or out, as a fraction (0.1: scale 0.9 to 1.1).
    brightness : float, default=0.2
        Largest brightness change, as a fraction of the pixel values.

    Returns
    -------
    augmented : ndarray of shape (n, height, width, channels), dtype float32
    """
    import cv2

    x = np.asarray(images, dtype=np.float32)
    n, h, w = x.shape[:3]
    out = np.empty_like(x)
    center = (w / 2.0, h / 2.0)
    for i in range(n):
        angle = rng.uniform(-rotation, rotation) if rotation else 0.0
        scale = 1.0 + (rng.uniform(-zoom, zoom) if zoom else 0.0)
        matrix = cv2.getRotationMatrix2D(center, angle, scale)
        if shift:
            matrix[0, 2] += rng.uniform(-shift, shift) * w
            matrix[1, 2] += rng.uniform(-shift, shift) * h
        if flip and rng.random() < 0.5:
            # mirror after the warp: x' = w - 1 - x
            matrix[0] = -matrix[0]
            matrix[0, 2] += w - 1
        warped = cv2.warpAffine(
            x[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
        if warped.ndim == 2:
            warped = warped[..., np.newaxis]
        if brightness:
            warped = warped * (1.0 + rng.uniform(-brightness, brightness))
        out[i] = np.clip(warped, 0.0, 255.0)
    return out


def _digest_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


class VGG16FineTuner(KerasNetworkMixin, ClassifierMixin, BaseEstimator):
    """Train VGG16 (all blocks or the top ones) with a dense head on faces.

    A classifier on face crops (the output of ``GrayscaleConverter``), so it
    ends a pipeline ``crop -> gray -> finetune`` and works with
    ``cross_val_score`` and ``GridSearchCV``. After :meth:`fit`,
    :meth:`export_weights` writes the adapted convolutional weights for
    ``VGG16Encoder(weights=FILE)``.

    The defaults are a recipe for faces measured on FER2013 (see the user
    guide, "Adapting the encoder"). From ImageNet weights (the faster route,
    for users with internet) the network starts from features that already
    work and ``learning_rate="auto"`` is 1e-4; from random weights (offline)
    it trains with batch normalisation and per-image standardisation, and
    ``learning_rate="auto"`` is 1e-3.

    Parameters
    ----------
    weights : "imagenet", "fer2013", None or path, default="imagenet"
        Where training starts, as in :class:`VGG16Encoder`: ImageNet weights
        (downloaded once), the packaged face encoder (offline, 48x48),
        random weights seeded by ``random_state``, or a weights file.
    random_init : {"he", "glorot"}, default="he"
        How random start weights (``weights=None``) are scaled. ``"he"``
        (He-uniform) keeps the signal's scale through VGG16's 13 ReLU layers,
        so training from scratch can start; ``"glorot"`` gives exactly
        ``VGG16Encoder(weights=None, random_state=...)``'s weights.
    trainable_blocks : int, default=2
        How many of VGG16's 5 convolutional blocks train, from the top
        (``5``: all, ``2``: blocks 4 and 5, ``0``: only the head). The blocks
        below stay frozen.
    batch_norm : "auto" or bool, default="auto"
        Batch normalisation after each trained convolution, folded into the
        convolution by :meth:`export_weights` (the file is plain VGG16).
        ``"auto"``: on when training starts from random weights (plain VGG16
        trains slowly from scratch), off otherwise.
    preprocessing : {"auto", "caffe", "standardize"}, default="auto"
        How images become network input (:func:`preprocess_images`), stored
        in the exported file for :class:`VGG16Encoder` to apply. ``"auto"``:
        ``"standardize"`` (per-image contrast normalisation) from random
        weights; the start's own from ImageNet (``"caffe"``) or a file.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the network computes in, as in :class:`VGG16Encoder`; bfloat16
        trains 1.7x (AVX512-BF16) to 2.9x (AMX) faster on CPUs that run it
        natively. Weights stay float32.
    hidden_layer_sizes : tuple of int, default=(256,)
        The dense head's hidden layers.
    dropout : float, default=0.5
        Dropout before each dense layer of the head.
    pooling : {"flatten", "avg", "max"}, default="flatten"
        How the last block becomes the head's input vector (and the pooling
        to use with the exported weights).
    optimizer : {"adam", "adamw", "rmsprop", "sgd", "adagrad", "nadam", \
"adamax"}, default="adam"
        Keras optimizer name; ``"sgd"`` uses Nesterov momentum 0.9.
    learning_rate : float or "auto", default="auto"
        The peak learning rate (after the warm-up); ``"auto"``: 1e-3 from
        random weights, 1e-4 from ImageNet or a file.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        After the warm-up: a cosine decay to 0 at the last epoch, or constant.
    warmup_epochs : float, default=1.0
        Epochs of linear rise of the learning rate at the start.
    label_smoothing : float, default=0.1
        Share of each target spread evenly over the classes (FER2013's labels
        are noisy; smoothing keeps the network from trusting them fully).
    epochs : int, default=30
        Most epochs; early stopping may end sooner.
    batch_size : int, default=64
        Images per gradient step.
    patience : int or None, default=5
        Epochs without a better validation loss before training stops; the
        weights of the best epoch are kept. ``None``: never stop early.
    validation_split : float, default=0.1
        Fraction of the training images held out (stratified) to watch the
        validation loss and report ``heldout_accuracy_``. 0 trains on all.
    class_weight : "balanced", dict or None, default=None
        Weight of each class in the loss; ``"balanced"`` weighs classes
        inversely to their frequency.
    augment : bool, default=True
        Augment training images with :func:`augment_faces`.
    flip, shift, rotation, zoom, brightness :
        Augmentation ranges, see :func:`augment_faces`.
    cache_frozen : bool, default=True
        Compute the frozen blocks' activations once (for each image and
        ``augment_copies`` augmented copies) instead of every epoch. They are
        kept in memory as float32: ``(augment_copies + 1) x images x`` the
        frozen output's size (at 48x48 with ``trainable_blocks=2``: 36 KiB
        per image and copy; at 224x224, 784 KiB).
    augment_copies : int, default=4
        Augmented copies per image kept in the frozen-activation cache.
    flip_tta : bool, default=False
        :meth:`predict_proba` averages each image's probabilities with its
        mirror image's (test-time augmentation, twice the cost).
    checkpoint_dir : str, path or None, default=None
        Save the state after every epoch into this folder; a later ``fit``
        with the same parameters and data resumes after the last completed
        epoch (weights, optimizer state and learning-rate schedule,
        early-stopping state and history). Delete the folder to start over.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start weights (``weights=None``), the head, the
        validation split, the order of batches and every augmentation draw.
    progress : bool or None, default=None
        Show progress; ``None`` shows it when stderr is a terminal.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Values per input image.
    input_shape_ : tuple of (int, int, int)
    model_ : keras.Model
        The whole network, image to class probabilities.
    history_ : dict of list of float
        ``loss``, ``accuracy`` (and ``val_loss``, ``val_accuracy`` with a
        hold-out) and ``seconds`` (wall time) per epoch, resumed epochs
        included.
    epoch_seconds_ : list of float
        Wall time of each epoch run in this call of :meth:`fit`.
    frozen_cache_seconds_ : float
        Time spent computing the cached frozen activations (0 when none).
    n_epochs_ : int
        Epochs trained in all (resumed ones included).
    best_epoch_ : int
        The epoch (1-based) whose weights were kept.
    resumed_from_epoch_ : int
        Completed epochs found in ``checkpoint_dir`` (0: a fresh start).
    heldout_accuracy_ : float or None
        Accuracy of the kept weights on the held-out images (None without).
    n_heldout_ : int
        Images held out.
    weights_used_ : str
        The starting weights, in words.
    precision_ : {"float32", "bfloat16"}
        The precision the network computed in.
    preprocessing_ : {"caffe", "standardize"}
        The preprocessing applied.
    batch_norm_ : bool
        Whether the trained convolutions had batch normalisation.
    learning_rate_ : float
        The peak learning rate used.
    training_data_sha256_ : str
        sha256 of the training crops and labels.
    n_training_images_ : int
        Images trained on (the hold-out excluded).

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion import VGG16FineTuner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    >>> y = np.array(["happy", "sad"] * 4)
    >>> tuner = VGG16FineTuner(weights=None, trainable_blocks=1, epochs=1,
    ...                        validation_split=0, random_state=0, progress=False)
    >>> tuner.fit(X, y).predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        "weights": [str, os.PathLike, None],  # "imagenet" or a file
        "random_init": [StrOptions({"he", "glorot"})],
        "trainable_blocks": [Interval(Integral, 0, 5, closed="both")],
        "batch_norm": [StrOptions({"auto"}), "boolean"],
        "preprocessing": [StrOptions({"auto", *PREPROCESSING})],
        "precision": [StrOptions(set(PRECISIONS))],
        "hidden_layer_sizes": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "pooling": [StrOptions({"flatten", "avg", "max"})],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "warmup_epochs": [Interval(Real, 0, None, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "augment": ["boolean"],
        "flip": ["boolean"],
        "shift": [Interval(Real, 0, 0.5, closed="both")],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "zoom": [Interval(Real, 0, 0.9, closed="both")],
        "brightness": [Interval(Real, 0, 1, closed="both")],
        "cache_frozen": ["boolean"],
        "augment_copies": [Interval(Integral, 0, None, closed="left")],
        "flip_tta": ["boolean"],
        "checkpoint_dir": [str, os.PathLike, None],
        "random_state": ["random_state"],
        "progress": ["boolean", None],
    }

    def __init__(
        self,
        weights: str | os.PathLike | None = "imagenet",
        random_init: str = "he",
        trainable_blocks: int = 2,
        batch_norm="auto",
        preprocessing: str = "auto",
        precision: str = "auto",
        hidden_layer_sizes: tuple[int, ...] = (256,),
        dropout: float = 0.5,
        pooling: str = "flatten",
        optimizer: str = "adam",
        learning_rate="auto",
        lr_schedule: str = "cosine",
        warmup_epochs: float = 1.0,
        label_smoothing: float = 0.1,
        epochs: int = 30,
        batch_size: int = 64,
        patience: int | None = 5,
        validation_split: float = 0.1,
        class_weight=None,
        augment: bool = True,
        flip: bool = True,
        shift: float = 0.1,
        rotation: float = 10.0,
        zoom: float = 0.1,
        brightness: float = 0.2,
        cache_frozen: bool = True,
        augment_copies: int = 4,
        flip_tta: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state=None,
        progress: bool | None = None,
    ) -> None:
        self.weights = weights
        self.random_init = random_init
        self.trainable_blocks = trainable_blocks
        self.batch_norm = batch_norm
        self.preprocessing = preprocessing
        self.precision = precision
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.pooling = pooling
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.label_smoothing = label_smoothing
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_split = validation_split
        self.class_weight = class_weight
        self.augment = augment
        self.flip = flip
        self.shift = shift
        self.rotation = rotation
        self.zoom = zoom
        self.brightness = brightness
        self.cache_frozen = cache_frozen
        self.augment_copies = augment_copies
        self.flip_tta = flip_tta
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None
        return tags

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on face crops.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Face crops, 0-255, at least 32x32 (``GrayscaleConverter``'s output).
        y : array-like of shape (n_images,)
            Labels.

        Returns
        -------
        self : VGG16FineTuner

        Raises
        ------
        WeightsError
            If the starting weights cannot be obtained.
        CheckpointError
            If ``checkpoint_dir`` holds a run with other parameters or data.
        """
        X, codes = self._check_training_data(X, y)
        seed = self._seed()
        train_idx, val_idx = stratified_holdout(codes, self.validation_split, seed)
        whole, frozen, trained = self._network(X, seed)
        self._fingerprint_value = self._fingerprint(X, codes, seed)
        self.training_data_sha256_ = _digest_arrays(X[train_idx], codes[train_idx])
        self.n_training_images_ = len(train_idx)
        cached = frozen if self.cache_frozen and frozen is not None else None
        fitted = trained if cached is not None else whole
        self._compile(fitted, math.ceil(len(train_idx) / self.batch_size))
        store = self._checkpoint_store()
        record = store.load(fitted, fitted.optimizer) if store else None
        self.resumed_from_epoch_ = int(record["epoch"]) if record else 0
        best = best_epoch_callback(
            self.patience if len(val_idx) else None,
            record["best"] if record else None,
            record["best_weights"] if record else None,
        )
        history = record["history"] if record else {}
        self.frozen_cache_seconds_, self.epoch_seconds_ = 0.0, []
        if self.resumed_from_epoch_ < self.epochs and not best.exhausted:
            self._train(fitted, cached, X, codes, (train_idx, val_idx), seed,
                        callbacks=(best, store, history))  # fmt: skip
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.items()}
        self.n_epochs_ = len(self.history_.get("loss", []))
        if best.best_weights is not None:
            fitted.set_weights(best.best_weights)
        self.best_epoch_ = best.best.best_epoch
        self.model_ = whole
        if self.batch_norm_:
            self._recalibrate(X[train_idx], seed)
        self.n_heldout_ = len(val_idx)
        self.heldout_accuracy_ = (
            float(self.score(X[val_idx], self.classes_[codes[val_idx]]))
            if len(val_idx) else None
        )  # fmt: skip
        return self

    def _train(self, fitted, frozen, X, codes, split, seed, *, callbacks) -> None:
        """Keras' fit over seeded batches, from the epoch a checkpoint ended."""
        best, store, history = callbacks
        train_idx, val_idx = split
        targets = np.eye(len(self.classes_), dtype=np.float32)[codes]
        sample_w = self._class_weights(codes[train_idx])[codes].astype(np.float32)
        validation = None
        if len(val_idx):
            val_x = preprocess_images(X[val_idx], self.preprocessing_)
            if frozen is not None:
                val_x = predict_in_batches(frozen, val_x, _PREDICT_BATCH)
            validation = (val_x, targets[val_idx], sample_w[val_idx])
        batches = face_batches(
            n_images=len(train_idx), batch_size=self.batch_size, seed=seed,
            first_epoch=self.resumed_from_epoch_, targets=targets[train_idx],
            sample_weight=sample_w[train_idx],
            make_inputs=self._inputs(X[train_idx], frozen, seed),
        )  # fmt: skip
        log = epoch_log(self.epochs, progress_enabled(self.progress), history)
        steps = [best, log]
        if store is not None:
            steps.append(_checkpoint_callback(store, best, history))
        if self.resumed_from_epoch_:
            logger.info("resuming after epoch %d", self.resumed_from_epoch_)
        fitted.fit(
            batches, validation_data=validation, epochs=self.epochs,
            initial_epoch=self.resumed_from_epoch_, callbacks=steps,
            shuffle=False,  # the batches come in a seeded order already
            verbose=0,
        )  # fmt: skip
        self.epoch_seconds_ = log.seconds

    def _recalibrate(self, images: np.ndarray, seed: int) -> None:
        """Batch-norm statistics of the kept weights, on training images."""
        order = np.random.default_rng([seed, 9]).permutation(len(images))
        size = self.batch_size
        batches = (
            preprocess_images(images[order[s : s + size]], self.preprocessing_)
            for s in range(0, min(len(images), _RECALIBRATION_BATCHES * size), size)
        )
        recalibrate_batch_norm(self.model_, batches)

    def _check_training_data(self, X, y):
        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(
                f"y must hold one label per image: {len(X)} images, "
                f"y of shape {y.shape}"
            )
        check_hidden_layer_sizes(self.hidden_layer_sizes)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"at least 2 classes are needed, got {self.classes_!r}")
        return X, encoder.transform(y).astype(np.int64)

    def _seed(self) -> int:
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    # --------------------------------------------------------------- network
    def _network(self, X: np.ndarray, seed: int):
        """Resolve the recipe, load the start weights, assemble the network.

        Sets ``input_shape_``, ``n_features_in_``, ``precision_``,
        ``batch_norm_``, ``preprocessing_``, ``weights_used_`` and
        ``learning_rate_``; returns ``(whole, frozen, trained)``.
        """
        self.input_shape_ = (int(X.shape[1]), int(X.shape[2]), 3)
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.precision_ = resolve_precision(self.precision)
        self.batch_norm_ = (
            self.weights is None if self.batch_norm == "auto" else bool(self.batch_norm)
        )
        start, used, key, info = load_vgg16(
            self.weights, self.input_shape_, pooling="none",
            precision=self.precision_, random_state=seed,
            batch_norm=self._batch_norm_convs(),
        )  # fmt: skip
        if self.preprocessing != "auto":
            self.preprocessing_ = self.preprocessing
        elif self.weights is None:
            self.preprocessing_ = "standardize"
        else:
            self.preprocessing_ = info.preprocessing if info else "caffe"
        if self.weights is None and self.random_init == "he":
            he_rescale(start, caffe_inputs=self.preprocessing_ == "caffe")
            used = used.replace("random", "random He")
            key = None if key is None else key + ":he"
        self.weights_used_, self._weights_key = used, key
        self.learning_rate_ = (
            (1e-3 if self.weights is None else 1e-4)
            if self.learning_rate == "auto" else float(self.learning_rate)
        )  # fmt: skip
        return self._assemble(start, seed)

    def _batch_norm_convs(self) -> list[str]:
        """The convolutions followed by batch norm: the trained ones, or none."""
        return trained_convs(self.trainable_blocks) if self.batch_norm_ else []

    def _assemble(self, start, seed: int):
        return assemble(
            start, trainable_blocks=self.trainable_blocks, pooling=self.pooling,
            hidden_layer_sizes=self.hidden_layer_sizes, dropout=self.dropout,
            n_classes=len(self.classes_), precision=self.precision_, seed=seed,
        )  # fmt: skip

    def _build_network(self):
        """The architecture again (for unpickling): weights are set after."""
        start = build_vgg16(
            self.input_shape_, pooling="none", precision=self.precision_,
            batch_norm=self._batch_norm_convs(),
        )  # fmt: skip
        whole, _, _ = self._assemble(start, 0)
        return whole

    def _compile(self, model, steps_per_epoch: int) -> None:
        import keras

        schedule = warmup_schedule(
            self.learning_rate_,
            warmup_steps=round(self.warmup_epochs * steps_per_epoch),
            total_steps=self.epochs * steps_per_epoch,
            kind=self.lr_schedule,
        )
        model.compile(
            optimizer=make_optimizer(self.optimizer, schedule),
            loss=keras.losses.CategoricalCrossentropy(
                label_smoothing=self.label_smoothing
            ),
            weighted_metrics=["accuracy"],
        )

    # ------------------------------------------------------------------ data
    def _augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment_faces(
            images, rng, flip=self.flip, shift=self.shift, rotation=self.rotation,
            zoom=self.zoom, brightness=self.brightness,
        )  # fmt: skip

    def _inputs(self, images: np.ndarray, frozen, seed: int):
        """``make_inputs(rows, epoch, batch)`` for :func:`face_batches`."""

        def preprocess(batch):
            return preprocess_images(batch, self.preprocessing_)

        if frozen is None:

            def live(rows, epoch, batch):
                chosen = images[rows]
                if self.augment:
                    rng = batch_rng(seed, epoch, batch, "augment")
                    chosen = self._augment(chosen, rng)
                return preprocess(chosen)

            return live
        cached, self.frozen_cache_seconds_ = frozen_activations(
            frozen, images, copies=self.augment_copies if self.augment else 0,
            augment=self._augment, preprocess=preprocess, seed=seed,
            progress=self.progress,
        )  # fmt: skip

        def from_cache(rows, epoch, batch):
            version = batch_rng(seed, epoch, batch, "pick").integers(
                0, cached.shape[0], size=len(rows)
            )
            return cached[version, rows]

        return from_cache

    def _class_weights(self, train_codes: np.ndarray) -> np.ndarray:
        n = len(self.classes_)
        if self.class_weight is None:
            return np.ones(n)
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight names unknown classes {sorted(unknown)}"
                )
            return np.array(
                [float(self.class_weight.get(c, 1.0)) for c in self.classes_]
            )
        present = np.unique(train_codes)
        weights = np.ones(n)
        weights[present] = compute_class_weight(
            "balanced", classes=present, y=train_codes
        )
        return weights

    # ------------------------------------------------------------ checkpoints
    def _fingerprint(self, X: np.ndarray, codes: np.ndarray, seed: int) -> str:
        params = self.get_params()
        ignored = ["patience", "checkpoint_dir", "progress", "random_state", "flip_tta"]
        if self.lr_schedule == "constant":
            ignored.append("epochs")  # a longer run continues the same curve
        for name in ignored:
            params.pop(name)
        params.update(
            seed=seed,
            weights=self._weights_key or str(params["weights"]),
            classes=self.classes_.tolist(),
            precision=self.precision_,
        )
        text = json.dumps(params, sort_keys=True, default=str)
        return hashlib.sha256((text + _digest_arrays(X, codes)).encode()).hexdigest()

    def _checkpoint_store(self) -> CheckpointStore | None:
        if self.checkpoint_dir is None:
            return None
        if not isinstance(self.random_state, Integral):
            raise CheckpointError(
                "checkpoint_dir needs a reproducible run to resume: set "
                "random_state to an int (it seeds the start weights, the "
                "validation split, the batches and the augmentation)"
            )
        return CheckpointStore(self.checkpoint_dir, self._fingerprint_value)

    # --------------------------------------------------------------- predict
    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class for each image.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Face crops of the size trained on.

        Returns
        -------
        proba : ndarray of shape (n_images, n_classes)
        """
        check_is_fitted(self, "model_")
        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        if tuple(X.shape[1:3]) != self.input_shape_[:2]:
            raise ValueError(
                f"fitted on {self.input_shape_[0]}x{self.input_shape_[1]} images, "
                f"got {X.shape[1]}x{X.shape[2]}"
            )
        proba = np.empty((len(X), len(self.classes_)), dtype=np.float32)
        for s in range(0, len(X), _PREDICT_BATCH):
            x = preprocess_images(X[s : s + _PREDICT_BATCH], self.preprocessing_)
            p = predict_in_batches(self.model_, x, _PREDICT_BATCH)
            if self.flip_tta:
                p = (
                    p + predict_in_batches(self.model_, x[:, :, ::-1], _PREDICT_BATCH)
                ) / 2
            proba[s : s + len(x)] = p
        return proba

    def predict(self, X) -> np.ndarray:
        """The most probable class of each image.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Face crops of the size trained on.

        Returns
        -------
        labels : ndarray of shape (n_images,)
        """
        proba = self.predict_proba(X)  # checks that it is fitted
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Face crops of the size trained on.
        y : array-like of shape (n_images,)
            Their labels.
        sample_weight : array-like of shape (n_images,), default=None
            Weight of each image in the accuracy.

        Returns
        -------
        accuracy : float
        """
        return super().score(X, y, sample_weight=sample_weight)

    def format_history(self) -> str:
        """What training did, in lines a person reads: one per epoch, then a
        summary (kept epoch, resumption, time, held-out accuracy, recipe).

        Returns
        -------
        text : str
        """
        check_is_fitted(self, "model_")
        history = self.history_
        lines = []
        for epoch, loss in enumerate(history.get("loss", [])):
            line = f"  epoch {epoch + 1}: loss {loss:.4f}"
            if history.get("val_loss"):
                line += (f", val_loss {history['val_loss'][epoch]:.4f}, val_accuracy "
                         f"{history['val_accuracy'][epoch]:.3f}")  # fmt: skip
            if history.get("seconds"):
                line += f" ({history['seconds'][epoch]:.0f} s)"
            lines.append(line)
        summary = f"Kept epoch {self.best_epoch_} of {self.n_epochs_}"
        if self.resumed_from_epoch_:
            summary += f" (resumed after epoch {self.resumed_from_epoch_})"
        if self.epoch_seconds_:
            summary += f"; {np.mean(self.epoch_seconds_):.1f} s per epoch in this run"
        if self.frozen_cache_seconds_:
            summary += (f", frozen activations cached in "
                        f"{self.frozen_cache_seconds_:.1f} s")  # fmt: skip
        lines.append(summary)
        lines.append(
            f"Recipe: preprocessing {self.preprocessing_}, batch norm "
            f"{'on' if self.batch_norm_ else 'off'}, peak learning rate "
            f"{self.learning_rate_:g} ({self.lr_schedule}), precision {self.precision_}"
        )
        if self.heldout_accuracy_ is not None:
            lines.append(
                f"Held-out accuracy: {self.heldout_accuracy_:.1%} on "
                f"{self.n_heldout_} training images kept aside"
            )
        return "\n".join(lines)

    # ---------------------------------------------------------------- export
    def export_weights(self, path: str | os.PathLike, *, training_files=None) -> Path:
        """Write the adapted convolutional weights for ``VGG16Encoder(weights=path)``.

        The file is plain VGG16 without its top (batch normalisation, if it
        was trained with, is folded into the convolutions) in Keras'
        ``.weights.h5`` format, with a :class:`~skemotion.WeightsInfo` record
        inside: input size, preprocessing, trained blocks, precision, classes,
        digests of the training data, epochs and held-out accuracy.

        Parameters
        ----------
        path : str or path
            Must end in ``.weights.h5`` (Keras' weights format).
        training_files : sequence of str, optional
            The image files trained on (the pipeline's ``X``), recorded as the
            sha256 of their sorted ``folder/file name`` lines.

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self, "model_")
        path = Path(os.fspath(path))
        if not path.name.endswith(".weights.h5"):
            raise ValueError(f"{path}: the file name must end in .weights.h5")
        plain = export_plain_vgg16(self.model_, self.input_shape_)
        files_digest = None
        if training_files is not None:
            names = sorted(
                f"{Path(os.fspath(f)).parent.name}/{Path(os.fspath(f)).name}"
                for f in training_files
            )
            files_digest = strings_sha256(names)
        info = WeightsInfo(
            input_size=tuple(self.input_shape_[:2]),
            preprocessing=self.preprocessing_,
            trained_blocks=int(self.trainable_blocks),
            precision=self.precision_,
            classes=[str(c) for c in self.classes_],
            start_weights=self.weights_used_,
            n_training_images=int(self.n_training_images_),
            training_data_sha256=self.training_data_sha256_,
            epochs=int(self.n_epochs_),
            best_epoch=int(self.best_epoch_),
            heldout_accuracy=self.heldout_accuracy_,
            heldout_images=int(self.n_heldout_),
            training_files_sha256=files_digest,
            batch_norm_folded=bool(self.batch_norm_),
            training_seconds=float(sum(self.history_.get("seconds", []))),
            params={k: repr(v) for k, v in self.get_params().items()},
            skemotion_version=__version__,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        return write_weights_file(plain, path, info)


def _checkpoint_callback(store: CheckpointStore, best, history: dict):
    """A Keras callback saving the run to ``store`` after every epoch."""
    import keras

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            store.save(
                self.model, self.model.optimizer, epoch=epoch + 1, history=history,
                best=best.best.to_dict(), best_weights=best.best_weights,
            )  # fmt: skip

    return Checkpoint()
