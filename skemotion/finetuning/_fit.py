"""One training run of the fine-tuner, on Keras' own ``fit``.

:func:`train` compiles the part of the network that trains, resumes from a
checkpoint, feeds it seeded batches (augmented images, or the frozen blocks'
cached activations), keeps the best epoch's weights and re-estimates the
batch-norm statistics; it returns what happened as a :class:`TrainingRun`,
which :meth:`VGG16FineTuner.fit <skemotion.VGG16FineTuner.fit>` turns into
its fitted attributes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight

from .._progress import progress_enabled
from .._validation import check_classes, check_image_batch, stratified_holdout
from ..feature_extraction import preprocess_images
from ..networks import (
    MIN_INPUT_SIZE,
    make_optimizer,
    predict_in_batches,
    recalibrate_batch_norm,
)
from ._activation_cache import frozen_activations
from ._augment import crop_side, mix_batch, predict_views
from ._checkpoints import CheckpointStore, checkpoint_callback
from ._network import PREDICT_BATCH, TuningNetwork
from ._settings import TuningSettings
from ._training import (
    batch_rng,
    best_epoch_callback,
    epoch_log,
    face_batches,
    plateau_callback,
    warmup_schedule,
)

__all__ = [
    "TrainingData",
    "TrainingRun",
    "check_crop",
    "check_training_data",
    "train",
]

logger = logging.getLogger(__name__)

#: Batches of training images that re-estimate the batch-norm statistics.
_RECALIBRATION_BATCHES = 50
#: Variables the ``weight_decay`` parameter leaves alone (by name): biases,
#: batch norm's scales and offsets.
_NOT_DECAYED = ["bias", "gamma", "beta"]


class TrainingData(NamedTuple):
    """Checked face crops and their labels as class codes."""

    images: np.ndarray
    codes: np.ndarray
    """Index of each image's class in ``classes`` (int64)."""
    classes: np.ndarray

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (int(self.images.shape[1]), int(self.images.shape[2]), 3)

    def split(self, fraction: float, seed: int) -> Split:
        """The stratified hold-out of ``fraction`` of the images."""
        return Split(*stratified_holdout(self.codes, fraction, seed))


class Split(NamedTuple):
    """Row indices of the images trained on and of those held out."""

    train: np.ndarray
    held_out: np.ndarray


class TrainingRun(NamedTuple):
    """What a training run did (the fine-tuner's fitted attributes)."""

    history: dict[str, list[float]]
    """Figures per epoch, resumed epochs included."""
    best_epoch: int
    resumed_from_epoch: int
    epoch_seconds: list[float]
    """Wall time of each epoch run this time."""
    frozen_cache_seconds: float


class _BatchInputs(NamedTuple):
    make: Callable[[np.ndarray, int, int], np.ndarray]
    """``make(rows, epoch, batch)``: the network's input for those images."""
    cache_seconds: float
    """Time spent caching the frozen blocks' activations (0: no cache)."""


def check_training_data(X, y) -> TrainingData:
    """Face crops (at least 32x32) and one label per image, 2 classes or more."""
    X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(
            f"y must hold one label per image: {len(X)} images, y of shape {y.shape}"
        )
    encoder = LabelEncoder().fit(y)
    check_classes(encoder.classes_.tolist(), len(y))
    return TrainingData(X, encoder.transform(y).astype(np.int64), encoder.classes_)


def check_crop(crop: int | None, input_shape) -> None:
    """A ValueError unless ``random_crop`` fits in the images."""
    if crop is not None and crop > min(input_shape[:2]):
        raise ValueError(
            f"random_crop={crop} is larger than the {input_shape[0]}x"
            f"{input_shape[1]} images"
        )
    if crop is not None and min(crop_side(crop, input_shape)) < 2:
        raise ValueError(f"random_crop={crop} leaves windows under 2 pixels")


def class_weights(class_weight, classes: np.ndarray, train_codes: np.ndarray):
    """Weight of each class in the loss, for ``class_weight``."""
    n = len(classes)
    if class_weight is None:
        return np.ones(n)
    if isinstance(class_weight, dict):
        unknown = set(class_weight) - set(classes.tolist())
        if unknown:
            raise ValueError(f"class_weight names unknown classes {sorted(unknown)}")
        return np.array([float(class_weight.get(c, 1.0)) for c in classes])
    present = np.unique(train_codes)
    weights = np.ones(n)
    weights[present] = compute_class_weight("balanced", classes=present, y=train_codes)
    return weights


def train(
    settings: TuningSettings,
    network: TuningNetwork,
    data: TrainingData,
    split: Split,
    *,
    preprocessing: str,
    fingerprint: str,
) -> TrainingRun:
    """Train ``network`` on ``data.images[split.train]``; the best epoch's
    weights are in it afterwards.

    With ``settings.cache_frozen`` only ``network.trained`` runs in Keras'
    ``fit``, on the frozen blocks' cached activations. A checkpoint in
    ``settings.checkpoint_dir`` (of the run ``fingerprint`` names) is resumed
    after its last completed epoch.

    Raises
    ------
    CheckpointError
        If ``checkpoint_dir`` holds another run's checkpoint, or a damaged one.
    """
    cached = network.frozen if settings.cache_frozen else None
    fitted = network.trained if cached is not None else network.whole
    plateau_scale = _compile(
        fitted, settings, math.ceil(len(split.train) / settings.batch_size),
        _prior(data, split),
    )  # fmt: skip
    store = None
    if settings.checkpoint_dir is not None:
        store = CheckpointStore(settings.checkpoint_dir, fingerprint)
    record = store.load(fitted, fitted.optimizer) if store else None
    resumed = int(record["epoch"]) if record else 0
    best = best_epoch_callback(
        settings.patience if len(split.held_out) else None,
        record["best"] if record else None,
        record["best_weights"] if record else None,
        weights_of=_ema_weights if settings.ema_decay is not None else None,
    )
    plateau = None
    if plateau_scale is not None:
        plateau = plateau_callback(
            plateau_scale, factor=settings.plateau_factor,
            patience=settings.plateau_patience,
            state=record.get("plateau") if record else None,
        )  # fmt: skip
    history = record["history"] if record else {}
    epoch_seconds, cache_seconds = [], 0.0
    if resumed < settings.epochs and not best.exhausted:
        targets = _targets(settings, data, split)
        validation = _validation(
            data, split, targets, cached, preprocessing, settings.random_crop
        )
        inputs = _batch_inputs(
            settings, data.images[split.train], cached, preprocessing
        )
        cache_seconds = inputs.cache_seconds
        batches = face_batches(
            n_images=len(split.train), batch_size=settings.batch_size,
            seed=settings.seed, first_epoch=resumed,
            targets=targets.onehot[split.train],
            sample_weight=targets.sample_weight[split.train],
            make_inputs=inputs.make, mix=_mixer(settings),
        )  # fmt: skip
        log = epoch_log(settings.epochs, progress_enabled(settings.progress), history)
        callbacks = _callbacks(settings, best, plateau, log, store, history)
        if resumed:
            logger.info("resuming after epoch %d", resumed)
        fitted.fit(
            batches, validation_data=validation, epochs=settings.epochs,
            initial_epoch=resumed, callbacks=callbacks,
            shuffle=False,  # the batches come in a seeded order already
            verbose=0,
        )  # fmt: skip
        epoch_seconds = log.seconds
    if best.best_weights is not None:
        fitted.set_weights(best.best_weights)
    if settings.batch_norm:
        _recalibrate(network.whole, data.images[split.train], settings, preprocessing)
    return TrainingRun(
        history={k: [float(v) for v in vals] for k, vals in history.items()},
        best_epoch=best.best.best_epoch,
        resumed_from_epoch=resumed,
        epoch_seconds=epoch_seconds,
        frozen_cache_seconds=cache_seconds,
    )


def _callbacks(settings: TuningSettings, best, plateau, log, store, history):
    """The Keras callbacks of a run, in the order they must run."""
    import keras

    # the moving average of the weights is what the held-out images see
    callbacks = [keras.callbacks.SwapEMAWeights()] if settings.ema_decay else []
    callbacks += [best, *([plateau] if plateau is not None else []), log]
    if store is not None:
        callbacks.append(checkpoint_callback(store, best, history, plateau))
    return callbacks


def _ema_weights(model) -> list[np.ndarray]:
    """``model.get_weights()`` with the optimizer's moving average in place of
    each trained variable (``ema_decay``)."""
    optimizer = model.optimizer
    average = {
        id(variable): mean for variable, mean in zip(
            optimizer._trainable_variables,
            optimizer._model_variables_moving_average, strict=True,
        )
    }  # fmt: skip
    return [np.asarray(average.get(id(v), v).numpy()) for v in model.weights]


def _mixer(settings: TuningSettings):
    """The batch mixing of ``mixup_alpha`` and ``cutmix_alpha`` (None: none)."""
    if not (settings.mixup_alpha or settings.cutmix_alpha):
        return None

    def mix(x, targets, sample_weight, rng):
        return mix_batch(
            x, targets, sample_weight, rng, mixup_alpha=settings.mixup_alpha,
            cutmix_alpha=settings.cutmix_alpha,
        )  # fmt: skip

    return mix


def _prior(data: TrainingData, split: Split) -> np.ndarray:
    """Each class's share of the images trained on (at least one image each)."""
    counts = np.bincount(data.codes[split.train], minlength=len(data.classes))
    counts = np.maximum(counts, 1)
    return counts / counts.sum()


def _compile(model, settings: TuningSettings, steps_per_epoch: int,
             prior: np.ndarray):  # fmt: skip
    """Compile ``model``; return the plateau schedule's scale (None without)."""
    import keras

    scale = None
    if settings.lr_schedule == "plateau":
        scale = keras.Variable(1.0, dtype="float32", trainable=False,
                               name="plateau_scale")  # fmt: skip
    schedule = warmup_schedule(
        settings.learning_rate,
        warmup_steps=round(settings.warmup_epochs * steps_per_epoch),
        total_steps=settings.epochs * steps_per_epoch,
        kind=settings.lr_schedule, scale=scale,
    )  # fmt: skip
    model.compile(
        optimizer=_optimizer(settings, schedule),
        loss=_loss(settings, prior),
        weighted_metrics=["accuracy"],
    )
    return scale


def _optimizer(settings: TuningSettings, schedule):
    """The optimizer named by ``settings``, with its weight decay and moving
    average of the weights when asked for."""
    optimizer = make_optimizer(settings.optimizer, schedule)
    if settings.weight_decay is None and settings.ema_decay is None:
        return optimizer
    config = optimizer.get_config()
    config["learning_rate"] = schedule
    if settings.weight_decay is not None:  # 0: none (Keras' AdamW needs a float)
        wants_float = settings.optimizer == "adamw"
        config["weight_decay"] = settings.weight_decay or (0.0 if wants_float else None)
    if settings.ema_decay is not None:
        config.update(use_ema=True, ema_momentum=settings.ema_decay)
    optimizer = type(optimizer).from_config(config)
    if settings.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=_NOT_DECAYED)
    return optimizer


def _loss(settings: TuningSettings, prior: np.ndarray):
    """Cross-entropy with label smoothing, on logits shifted by
    ``logit_adjustment * log(prior)`` when that is set (Menon et al. 2021)."""
    import keras
    from keras import ops

    smoothing = settings.label_smoothing
    if not settings.logit_adjustment:
        return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    shift = (settings.logit_adjustment * np.log(prior)).astype(np.float32)

    class LogitAdjustedCrossentropy(keras.losses.Loss):
        def call(self, y_true, y_pred):
            # the network ends in a softmax: log(p) are its logits, less a
            # constant per image that the softmax below ignores
            logits = ops.log(ops.clip(y_pred, 1e-7, 1.0)) + shift
            return keras.losses.categorical_crossentropy(
                y_true, logits, from_logits=True, label_smoothing=smoothing
            )

    return LogitAdjustedCrossentropy(name="logit_adjusted_crossentropy")


class _Targets(NamedTuple):
    onehot: np.ndarray
    """One-hot target of every image."""
    sample_weight: np.ndarray
    """Loss weight of every image (its class's weight)."""


def _targets(settings: TuningSettings, data: TrainingData, split: Split) -> _Targets:
    onehot = np.eye(len(data.classes), dtype=np.float32)[data.codes]
    weights = class_weights(
        settings.class_weight, data.classes, data.codes[split.train]
    )
    return _Targets(onehot, weights[data.codes].astype(np.float32))


def _validation(data: TrainingData, split: Split, targets: _Targets, frozen,
                preprocessing: str, crop: int | None):  # fmt: skip
    """Keras' ``validation_data`` of the held-out images (None without any),
    their centre crops when training crops at random."""
    rows = split.held_out
    if not len(rows):
        return None
    x = preprocess_images(predict_views(data.images[rows], crop, crops=False)[0],
                          preprocessing)  # fmt: skip
    if frozen is not None:
        x = predict_in_batches(frozen, x, PREDICT_BATCH)
    return x, targets.onehot[rows], targets.sample_weight[rows]


def _batch_inputs(
    settings: TuningSettings, images: np.ndarray, frozen, preprocessing: str
) -> _BatchInputs:
    """Training inputs: augmented afresh for every batch, or (with ``frozen``)
    drawn from the frozen blocks' activations, computed once here."""
    seed, augment = settings.seed, settings.augmentation

    def preprocess(batch):
        return preprocess_images(batch, preprocessing)

    if frozen is None:

        def live(rows, epoch, batch):
            chosen = images[rows]
            if settings.augment:
                chosen = augment(chosen, batch_rng(seed, epoch, batch, "augment"))
            return preprocess(chosen)

        return _BatchInputs(live, 0.0)
    crop = settings.random_crop
    cached = frozen_activations(
        frozen, images, copies=settings.augment_copies if settings.augment else 0,
        augment=augment, preprocess=preprocess, seed=seed,
        progress=settings.progress,
        plain=None if crop is None else (
            lambda batch: predict_views(batch, crop, crops=False)[0]),
    )  # fmt: skip
    activations = cached.activations

    def from_cache(rows, epoch, batch):
        version = batch_rng(seed, epoch, batch, "pick").integers(
            0, activations.shape[0], size=len(rows)
        )
        return activations[version, rows]

    return _BatchInputs(from_cache, cached.seconds)


def _recalibrate(model, images: np.ndarray, settings: TuningSettings,
                 preprocessing: str) -> None:  # fmt: skip
    """Batch-norm statistics of the kept weights, on training images (their
    centre crops when training crops at random)."""
    order = np.random.default_rng([settings.seed, 9]).permutation(len(images))
    size = settings.batch_size

    def batch(rows):
        views = predict_views(images[rows], settings.random_crop, crops=False)
        return preprocess_images(views[0], preprocessing)

    batches = (
        batch(order[s : s + size])
        for s in range(0, min(len(images), _RECALIBRATION_BATCHES * size), size)
    )
    recalibrate_batch_norm(model, batches)
