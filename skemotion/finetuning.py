"""Adapt the encoder: fine-tune VGG16 and a dense head on labelled faces.

:class:`VGG16FineTuner` takes the place of ``encode`` + ``classify`` in a
pipeline (``crop -> gray -> finetune``). It trains the top ``trainable_blocks``
convolutional blocks of VGG16 together with a dense head, then
:meth:`VGG16FineTuner.export_weights` writes the adapted convolutional weights
to a file that ``VGG16Encoder(weights=FILE)`` loads, so the standard pipeline,
grid searches and persistence work unchanged on adapted features.

Speed: the frozen blocks (those below the trained ones) never change, so with
``cache_frozen=True`` their activations are computed once, before the first
epoch, for every training image and for ``augment_copies`` augmented copies of
it; each epoch then draws one of those versions per image. Augmentation is
therefore drawn from a fixed set of copies rather than fresh every epoch.
``cache_frozen=False`` augments every batch afresh and runs the frozen blocks
every epoch. Validation images are never augmented, so their frozen
activations are always computed once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from ._progress import progress_enabled
from ._validation import check_image_batch
from .encoding import MIN_INPUT_SIZE, VGG16Encoder, _preprocess
from .exceptions import CheckpointError

__all__ = ["VGG16FineTuner", "augment_faces"]

logger = logging.getLogger(__name__)

#: The 18 layers of VGG16 without its top, block by block.
_BLOCK_LAYERS = {
    1: ("block1_conv1", "block1_conv2", "block1_pool"),
    2: ("block2_conv1", "block2_conv2", "block2_pool"),
    3: ("block3_conv1", "block3_conv2", "block3_conv3", "block3_pool"),
    4: ("block4_conv1", "block4_conv2", "block4_conv3", "block4_pool"),
    5: ("block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"),
}
_CHECKPOINT_FORMAT = 1
#: Typical standard deviation of VGG16's inputs (0-255 minus the channel means).
_INPUT_STD = 64.0


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
        image = x[i]
        warped = cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_LINEAR,
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


def _atomic_write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class VGG16FineTuner(ClassifierMixin, BaseEstimator):
    """Fine-tune VGG16 (all blocks or the top ones) with a dense head.

    A classifier on face crops (the output of ``GrayscaleConverter``), so it
    ends a pipeline ``crop -> gray -> finetune`` and works with
    ``cross_val_score`` and ``GridSearchCV``. After :meth:`fit`,
    :meth:`export_weights` writes the adapted convolutional weights for
    ``VGG16Encoder(weights=FILE)``.

    Parameters
    ----------
    weights : "imagenet", None or path, default="imagenet"
        Where training starts, as in :class:`VGG16Encoder`: ImageNet weights
        (downloaded once), random weights seeded by ``random_state``, or a
        weights file.
    random_init : {"he", "glorot"}, default="he"
        How random start weights (``weights=None``) are scaled. ``"he"``
        (He-uniform) keeps the signal's scale through VGG16's 13 ReLU layers,
        so training from scratch can start; ``"glorot"`` gives exactly
        ``VGG16Encoder(weights=None, random_state=...)``'s weights, whose
        signal fades layer by layer and which barely train from scratch.
    trainable_blocks : int, default=2
        How many of VGG16's 5 convolutional blocks train, from the top
        (``5``: all, ``2``: blocks 4 and 5, ``0``: only the head). The blocks
        below stay frozen.
    hidden_layer_sizes : tuple of int, default=(256, 64, 16)
        The dense head, as in :class:`EmotionClassifier`.
    dropout : float, default=0.5
        Dropout after each hidden layer of the head.
    pooling : {"flatten", "avg", "max"}, default="flatten"
        How the last block becomes the head's input vector.
    optimizer : {"adam", "rmsprop", "sgd"}, default="adam"
        ``"sgd"`` uses Nesterov momentum 0.9.
    learning_rate : float, default=1e-4
    epochs : int, default=30
        Most epochs; early stopping may end sooner.
    batch_size : int, default=32
    patience : int, default=5
        Epochs without a better validation loss before training stops; the
        weights of the best epoch are kept.
    validation_split : float, default=0.1
        Fraction of the training images held out (stratified) to watch the
        validation loss. 0 trains on all and runs every epoch.
    class_weight : "balanced", dict or None, default="balanced"
        Weight of each class in the loss; ``"balanced"`` weighs classes
        inversely to their frequency (FER2013's rare "disgust").
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
    checkpoint_dir : str, path or None, default=None
        Save the state after every epoch into this folder; a later ``fit``
        with the same parameters and data resumes after the last completed
        epoch (weights, optimizer state, early-stopping state and history).
        The folder is kept after training; delete it to start over.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start weights (``weights=None``), the head, the
        validation split, the order of batches and every augmentation draw.
    progress : bool or None, default=None
        Show progress; ``None`` shows it when stderr is a terminal.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    history_ : dict of list of float
        ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` per epoch.
    epoch_seconds_ : list of float
        Wall time of each epoch (in this process; resumed epochs included).
    frozen_cache_seconds_ : float
        Time spent computing the cached frozen activations (0 when none).
    best_epoch_ : int
        The epoch (1-based) whose weights were kept.
    resumed_from_epoch_ : int
        Completed epochs found in ``checkpoint_dir`` (0: a fresh start).
    weights_used_ : str
        The starting weights, in words.
    input_shape_ : tuple of (int, int, int)

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
        "weights": [StrOptions({"imagenet"}), str, os.PathLike, None],
        "random_init": [StrOptions({"he", "glorot"})],
        "trainable_blocks": [Interval(Integral, 0, 5, closed="both")],
        "hidden_layer_sizes": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "pooling": [StrOptions({"flatten", "avg", "max"})],
        "optimizer": [StrOptions({"adam", "rmsprop", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
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
        "checkpoint_dir": [str, os.PathLike, None],
        "random_state": ["random_state"],
        "progress": ["boolean", None],
    }

    def __init__(
        self,
        weights: str | os.PathLike | None = "imagenet",
        random_init: str = "he",
        trainable_blocks: int = 2,
        hidden_layer_sizes: tuple[int, ...] = (256, 64, 16),
        dropout: float = 0.5,
        pooling: str = "flatten",
        optimizer: str = "adam",
        learning_rate: float = 1e-4,
        epochs: int = 30,
        batch_size: int = 32,
        patience: int = 5,
        validation_split: float = 0.1,
        class_weight="balanced",
        augment: bool = True,
        flip: bool = True,
        shift: float = 0.1,
        rotation: float = 10.0,
        zoom: float = 0.1,
        brightness: float = 0.2,
        cache_frozen: bool = True,
        augment_copies: int = 4,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state=None,
        progress: bool | None = None,
    ) -> None:
        self.weights = weights
        self.random_init = random_init
        self.trainable_blocks = trainable_blocks
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.pooling = pooling
        self.optimizer = optimizer
        self.learning_rate = learning_rate
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
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None
        return tags

    # ------------------------------------------------------------------ build
    def _build(self, input_shape, n_classes: int, seed: int):
        """The network: a frozen part (or None) and a trained part, one model."""
        import keras

        encoder = VGG16Encoder(
            weights=self.weights, pooling="max", random_state=seed, progress=False
        )
        base = encoder._make_model(input_shape)  # raises WeightsError
        self.weights_used_ = encoder.weights_used_
        self._weights_key = encoder.weights_key_
        if self.weights is None and self.random_init == "he":
            # He-uniform from the same draw: Glorot's limit sqrt(6 / (fan_in +
            # fan_out)) becomes sqrt(6 / fan_in)
            for layer in base.layers:
                if not layer.weights:
                    continue
                kernel, bias = layer.get_weights()
                kh, kw, fan_in_ch, fan_out_ch = kernel.shape
                fan_in, fan_out = kh * kw * fan_in_ch, kh * kw * fan_out_ch
                scale = np.sqrt((fan_in + fan_out) / fan_in)
                if layer.name == "block1_conv1":
                    scale /= _INPUT_STD  # inputs are 0-255 minus means, not unit-scale
                layer.set_weights([kernel * scale, bias])
            self.weights_used_ = self.weights_used_.replace("random", "random He")
            if self._weights_key is not None:
                self._weights_key += ":he"
        by_name = {layer.name: layer for layer in base.layers}
        first_trained = 6 - self.trainable_blocks  # block number
        frozen_layers, trained_layers = [], []
        for block, names in _BLOCK_LAYERS.items():
            for name in names:
                layer = by_name[name]
                layer.trainable = block >= first_trained
                (trained_layers if layer.trainable else frozen_layers).append(layer)
        head = []
        if self.pooling == "flatten":
            head.append(keras.layers.Flatten(name="head_flatten"))
        elif self.pooling == "avg":
            head.append(keras.layers.GlobalAveragePooling2D(name="head_avg"))
        else:
            head.append(keras.layers.GlobalMaxPooling2D(name="head_max"))
        for i, units in enumerate(self.hidden_layer_sizes):
            head.append(
                keras.layers.Dense(
                    int(units), activation="relu", name=f"head_dense{i + 1}",
                    kernel_initializer=keras.initializers.GlorotUniform(seed + i + 1),
                )
            )  # fmt: skip
            if self.dropout > 0:
                head.append(
                    keras.layers.Dropout(
                        self.dropout, seed=seed + 100 + i, name=f"head_dropout{i + 1}"
                    )
                )
        head.append(
            keras.layers.Dense(
                n_classes, activation="softmax", name="head_softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed + 99),
            )
        )  # fmt: skip

        def chain(tensor, layers):
            for layer in layers:
                tensor = layer(tensor)
            return tensor

        image = keras.Input(shape=input_shape, name="image")
        if frozen_layers:
            frozen = keras.Model(image, chain(image, frozen_layers), name="frozen")
            middle = keras.Input(shape=frozen.output_shape[1:], name="frozen_output")
        else:
            frozen, middle = None, keras.Input(shape=input_shape, name="image_in")
        trained = keras.Model(
            middle, chain(middle, trained_layers + head), name="trained"
        )
        whole = keras.Model(
            image, trained(frozen(image) if frozen is not None else image), name="whole"
        )
        self._conv_layers = {
            layer.name: layer for layer in frozen_layers + trained_layers
        }
        return whole, frozen, trained

    def _compile(self, trained) -> None:
        import keras

        if self.optimizer == "adam":
            opt = keras.optimizers.Adam(self.learning_rate)
        elif self.optimizer == "rmsprop":
            opt = keras.optimizers.RMSprop(self.learning_rate)
        else:
            opt = keras.optimizers.SGD(self.learning_rate, momentum=0.9, nesterov=True)
        trained.compile(
            optimizer=opt,
            loss="sparse_categorical_crossentropy",
            weighted_metrics=["accuracy"],
        )

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune on face crops.

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
        import tensorflow as tf

        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        if X.shape[-1] == 1:
            X = np.repeat(X, 3, axis=-1)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(
                f"y must hold one label per image: {len(X)} images, "
                f"y of shape {y.shape}"
            )
        for units in self.hidden_layer_sizes:
            if not isinstance(units, Integral) or units < 1:
                raise ValueError(
                    "hidden_layer_sizes must be positive ints, got "
                    f"{self.hidden_layer_sizes!r}"
                )
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"at least 2 classes are needed, got {self.classes_!r}")
        codes = encoder.transform(y).astype(np.int64)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1)) if not isinstance(
            self.random_state, Integral) else int(self.random_state)  # fmt: skip

        train_idx, val_idx = self._split(codes, seed)
        self.input_shape_ = (int(X.shape[1]), int(X.shape[2]), 3)
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        whole, frozen, trained = self._build(
            self.input_shape_, len(self.classes_), seed
        )
        self._compile(trained)
        class_w = self._class_weights(codes[train_idx])
        sample_w = class_w[codes].astype(np.float32)

        frozen_fn = None
        if frozen is not None:
            frozen_fn = tf.function(
                lambda x: frozen(x, training=False),
                input_signature=[tf.TensorSpec((None, *self.input_shape_), tf.float32)],
            )

        def run_frozen(images: np.ndarray) -> np.ndarray:
            x = _preprocess(images)
            return x if frozen_fn is None else np.asarray(frozen_fn(x))

        state = self._start_or_resume(X, codes, seed, trained)
        to_train = state["epoch"] < self.epochs and state["wait"] < self.patience
        # Validation images are never augmented: their frozen output is fixed.
        val_x = None
        if len(val_idx) and to_train:
            val_x = self._in_batches(run_frozen, X[val_idx])
        cached = None
        t0 = time.perf_counter()
        if frozen is not None and self.cache_frozen and to_train:
            copies = self.augment_copies if self.augment else 0
            cached = np.empty(
                (copies + 1, len(train_idx), *frozen.output_shape[1:]), dtype=np.float32
            )
            for k in range(copies + 1):
                copy_rng = np.random.default_rng([seed, 7, k])

                def make(batch, k=k, copy_rng=copy_rng):
                    images = batch if k == 0 else self._augment(batch, copy_rng)
                    return run_frozen(images)

                cached[k] = self._in_batches(
                    make, X[train_idx], desc=f"Frozen blocks, copy {k + 1}/{copies + 1}"
                )
        self.frozen_cache_seconds_ = (
            time.perf_counter() - t0 if cached is not None else 0.0
        )

        self.history_ = state["history"]
        self.epoch_seconds_ = []
        best_weights = state.pop("best_weights_values", None) or trained.get_weights()

        show = progress_enabled(self.progress)
        n_batches = math.ceil(len(train_idx) / self.batch_size)
        for epoch in range(state["epoch"], self.epochs):
            if state["wait"] >= self.patience:
                break
            t_epoch = time.perf_counter()
            order = np.random.default_rng([seed, 1, epoch]).permutation(len(train_idx))
            pick_rng = np.random.default_rng([seed, 2, epoch])
            bar = None
            if show:
                from tqdm.auto import tqdm

                bar = tqdm(total=n_batches, desc=f"Epoch {epoch + 1}/{self.epochs}",
                           unit="batch", leave=False)  # fmt: skip
            losses, accs, sizes = [], [], []
            for b in range(n_batches):
                rows = order[b * self.batch_size : (b + 1) * self.batch_size]
                if cached is not None:
                    version = pick_rng.integers(0, cached.shape[0], size=len(rows))
                    xb = cached[version, rows]
                else:
                    images = X[train_idx[rows]]
                    if self.augment:
                        images = self._augment(
                            images, np.random.default_rng([seed, 3, epoch, b])
                        )
                    xb = run_frozen(images)
                yb = codes[train_idx[rows]]
                wb = sample_w[train_idx[rows]]
                loss, acc = trained.train_on_batch(xb, yb, sample_weight=wb)
                losses.append(float(loss))
                accs.append(float(acc))
                sizes.append(len(rows))
                if bar is not None:
                    bar.update()
                    bar.set_postfix(loss=f"{loss:.3f}")
            if bar is not None:
                bar.close()
            # train_on_batch reports each batch's figures: average them
            self.history_["loss"].append(float(np.average(losses, weights=sizes)))
            self.history_["accuracy"].append(float(np.average(accs, weights=sizes)))
            if val_x is not None:
                val_loss, val_acc = trained.evaluate(
                    val_x, codes[val_idx], sample_weight=sample_w[val_idx],
                    batch_size=max(self.batch_size, 64), verbose=0,
                )  # fmt: skip
                self.history_["val_loss"].append(float(val_loss))
                self.history_["val_accuracy"].append(float(val_acc))
                if val_loss < state["best_val_loss"]:
                    state["best_val_loss"] = float(val_loss)
                    state["best_epoch"] = epoch + 1
                    state["wait"] = 0
                    best_weights = trained.get_weights()
                else:
                    state["wait"] += 1
            else:
                state["best_epoch"] = epoch + 1
                best_weights = trained.get_weights()
            state["epoch"] = epoch + 1
            self.epoch_seconds_.append(time.perf_counter() - t_epoch)
            logger.info(
                "epoch %d/%d: loss %.4f%s (%.1f s)", epoch + 1, self.epochs,
                self.history_["loss"][-1],
                f", val_loss {self.history_['val_loss'][-1]:.4f}, val_accuracy "
                f"{self.history_['val_accuracy'][-1]:.3f}" if val_x is not None else "",
                self.epoch_seconds_[-1],
            )  # fmt: skip
            if self.checkpoint_dir is not None:
                self._save_checkpoint(state, trained, best_weights)
        trained.set_weights(best_weights)
        self.best_epoch_ = int(state["best_epoch"])
        self.n_epochs_ = int(state["epoch"])
        self.model_ = whole
        self._compiled_predict = None
        return self

    def _split(self, codes: np.ndarray, seed: int):
        index = np.arange(len(codes))
        if self.validation_split == 0:
            return index, index[:0]
        counts = np.bincount(codes)
        n_val = math.ceil(self.validation_split * len(codes))
        stratify = codes if counts.min() >= 2 and n_val >= len(counts) else None
        if len(codes) - n_val < 1 or n_val < 1:
            raise ValueError(
                f"validation_split={self.validation_split} leaves no image to "
                f"train or to validate on ({len(codes)} images)"
            )
        train_idx, val_idx = train_test_split(
            index, test_size=n_val, random_state=seed, stratify=stratify
        )
        return np.sort(train_idx), np.sort(val_idx)

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

    def _augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment_faces(
            images, rng, flip=self.flip, shift=self.shift, rotation=self.rotation,
            zoom=self.zoom, brightness=self.brightness,
        )  # fmt: skip

    def _in_batches(
        self, fn, images: np.ndarray, desc: str | None = None
    ) -> np.ndarray:
        size = max(self.batch_size, 64)
        starts = range(0, len(images), size)
        if desc and progress_enabled(self.progress):
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=desc, unit="batch", leave=False)
        return np.concatenate([fn(images[s : s + size]) for s in starts])

    # ------------------------------------------------------------ checkpoints
    def _fingerprint(self, X: np.ndarray, codes: np.ndarray, seed: int) -> str:
        params = self.get_params()
        for name in (
            "epochs",
            "patience",
            "checkpoint_dir",
            "progress",
            "random_state",
        ):
            params.pop(name)
        params["seed"] = seed
        params["weights"] = self._weights_key or str(params["weights"])
        params["classes"] = self.classes_.tolist()
        text = json.dumps(params, sort_keys=True, default=str)
        return hashlib.sha256((text + _digest_arrays(X, codes)).encode()).hexdigest()

    def _start_or_resume(self, X, codes, seed, trained) -> dict:
        fresh = {
            "epoch": 0, "wait": 0, "best_epoch": 0, "best_val_loss": math.inf,
            "history": {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []},
        }  # fmt: skip
        self.resumed_from_epoch_ = 0
        if self.checkpoint_dir is None:
            return fresh
        if not isinstance(self.random_state, Integral):
            raise CheckpointError(
                "checkpoint_dir needs a reproducible run to resume: set "
                "random_state to an int (it seeds the start weights, the "
                "validation split, the batches and the augmentation)"
            )
        folder = Path(os.fspath(self.checkpoint_dir))
        folder.mkdir(parents=True, exist_ok=True)
        self._fingerprint_value = self._fingerprint(X, codes, seed)
        state_file = folder / "state.json"
        if not state_file.exists():
            return fresh
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"{state_file}: unreadable checkpoint ({exc})"
            ) from None
        if state.get("format") != _CHECKPOINT_FORMAT or (
            state.get("fingerprint") != self._fingerprint_value
        ):
            raise CheckpointError(
                f"{folder} holds a checkpoint of another run (other parameters or "
                "data); resume with the same ones, or use another folder or "
                "delete it to start over"
            )
        try:
            trained.set_weights(self._load_weight_list(folder / "last.npz"))
            best = self._load_weight_list(folder / "best.npz")
            opt = trained.optimizer
            opt.build(trained.trainable_variables)
            values = self._load_weight_list(folder / "optimizer.npz")
            if len(values) != len(opt.variables):
                raise ValueError("optimizer state does not match")
            for variable, value in zip(opt.variables, values, strict=True):
                variable.assign(value)
            # dropout's random state, so the resumed epochs draw as an
            # uninterrupted run would
            values = self._load_weight_list(folder / "random_state.npz")
            for variable, value in zip(
                trained.non_trainable_variables, values, strict=True
            ):
                variable.assign(value)
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{folder}: damaged checkpoint ({exc})") from None
        self.resumed_from_epoch_ = int(state["epoch"])
        logger.info("resuming from %s after epoch %d", folder, state["epoch"])
        return {
            "epoch": int(state["epoch"]), "wait": int(state["wait"]),
            "best_epoch": int(state["best_epoch"]),
            "best_val_loss": float(state["best_val_loss"]),
            "history": state["history"], "best_weights_values": best,
        }  # fmt: skip

    @staticmethod
    def _save_weight_list(path: Path, values) -> None:
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, *[np.asarray(v) for v in values])
        os.replace(tmp, path)

    @staticmethod
    def _load_weight_list(path: Path) -> list[np.ndarray]:
        with np.load(path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]

    def _save_checkpoint(self, state: dict, trained, best_weights) -> None:
        folder = Path(os.fspath(self.checkpoint_dir))
        self._save_weight_list(folder / "last.npz", trained.get_weights())
        self._save_weight_list(folder / "best.npz", best_weights)
        self._save_weight_list(
            folder / "optimizer.npz", [v.numpy() for v in trained.optimizer.variables]
        )
        self._save_weight_list(
            folder / "random_state.npz",
            [v.numpy() for v in trained.non_trainable_variables],
        )
        record = {k: v for k, v in state.items() if k != "best_weights_values"}
        record.update(format=_CHECKPOINT_FORMAT, fingerprint=self._fingerprint_value,
                      history=self.history_)  # fmt: skip
        # state.json last: it names a completed epoch only once its files exist
        _atomic_write_json(folder / "state.json", record)

    # --------------------------------------------------------------- predict
    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class for each image.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)

        Returns
        -------
        proba : ndarray of shape (n_images, n_classes)
        """
        check_is_fitted(self, "model_")
        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        if X.shape[-1] == 1:
            X = np.repeat(X, 3, axis=-1)
        if tuple(X.shape[1:3]) != self.input_shape_[:2]:
            raise ValueError(
                f"fitted on {self.input_shape_[0]}x{self.input_shape_[1]} images, "
                f"got {X.shape[1]}x{X.shape[2]}"
            )
        fn = getattr(self, "_compiled_predict", None)
        if fn is None:
            import tensorflow as tf

            model = self._get_model()
            fn = tf.function(
                lambda x: model(x, training=False),
                input_signature=[tf.TensorSpec((None, *self.input_shape_), tf.float32)],
            )
            self._compiled_predict = fn
        return self._in_batches(lambda b: np.asarray(fn(_preprocess(b))), X)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each image."""
        proba = self.predict_proba(X)  # checks that it is fitted
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
        y : array-like of shape (n_images,)
        sample_weight : array-like of shape (n_images,), default=None

        Returns
        -------
        accuracy : float
        """
        return super().score(X, y, sample_weight=sample_weight)

    # ---------------------------------------------------------------- export
    def export_weights(self, path: str | os.PathLike) -> Path:
        """Write the adapted convolutional weights for ``VGG16Encoder(weights=path)``.

        Parameters
        ----------
        path : str or path
            Must end in ``.weights.h5`` (Keras' weights format).

        Returns
        -------
        path : pathlib.Path
        """
        import keras

        check_is_fitted(self, "model_")
        path = Path(os.fspath(path))
        if not path.name.endswith(".weights.h5"):
            raise ValueError(f"{path}: the file name must end in .weights.h5")
        self._get_model()
        base = keras.applications.VGG16(
            include_top=False, weights=None, input_shape=self.input_shape_
        )
        for name, layer in self._conv_layers.items():
            base.get_layer(name).set_weights(layer.get_weights())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name[: -len(".weights.h5")] + ".tmp.weights.h5")
        base.save_weights(tmp)
        os.replace(tmp, path)
        return path

    # ------------------------------------------------------------- pickling
    def _get_model(self):
        if getattr(self, "model_", None) is None:
            saved = self.__dict__.pop("_weight_values")
            start = self.weights
            try:
                self.weights = None  # rebuild the architecture offline
                whole, _, _ = self._build(self.input_shape_, len(self.classes_), 0)
            finally:
                self.weights = start
            whole.set_weights(saved)
            self.weights_used_ = self._weights_used_saved
            self._weights_key = self._weights_key_saved
            self.model_ = whole
        return self.model_

    def __getstate__(self):
        state = dict(super().__getstate__())
        for name in ("_compiled_predict", "_conv_layers"):
            state.pop(name, None)
        model = state.get("model_")
        if model is not None:
            state["model_"] = None
            state["_weight_values"] = model.get_weights()
            state["_weights_used_saved"] = self.weights_used_
            state["_weights_key_saved"] = self._weights_key
        return state
