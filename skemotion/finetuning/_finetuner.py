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
bfloat16 where the hardware runs it natively. Choices for probing better
recipes (``benchmarks/finetune_ablation.py``), all off by default: random
crops with test-time crops, random erasing, mixup and CutMix, decoupled
weight decay, learning rates lowered on a held-out plateau or in one cycle,
logit adjustment for rare classes, and a moving average of the weights.

Speed: the frozen blocks (those below the trained ones) never change, so with
``cache_frozen=True`` their activations are computed once, before the first
epoch, for every training image and for ``augment_copies`` augmented copies of
it; each epoch then draws one of those versions per image. ``cache_frozen=
False`` augments every batch afresh and runs the frozen blocks every epoch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils.validation import check_is_fitted

from .._validation import check_image_batch
from ..feature_extraction import write_weights_file
from ..networks import MIN_INPUT_SIZE, KerasNetworkMixin
from ._checkpoints import digest_arrays, run_fingerprint
from ._fit import check_crop, check_training_data, train
from ._network import (
    Architecture,
    build_network,
    export_plain_vgg16,
    load_start,
    predict_faces,
)
from ._report import format_history, weights_info
from ._settings import PARAMETER_CONSTRAINTS, TuningSettings

__all__ = ["VGG16FineTuner"]


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
    lr_schedule : {"cosine", "constant", "plateau", "onecycle"}, \
default="cosine"
        After the warm-up: a cosine decay to 0 at the last epoch; constant;
        ``"plateau"``: constant, times ``plateau_factor`` whenever the
        held-out loss has not fallen for ``plateau_patience`` epochs (needs
        ``validation_split > 0``). ``"onecycle"`` (Smith's) has its own
        warm-up: half a cosine up from ``peak / 25`` over 30% of the steps,
        then down to ``peak / 25e4`` at the end.
    warmup_epochs : float, default=1.0
        Epochs of linear rise of the learning rate at the start (not used by
        ``"onecycle"``).
    plateau_factor : float, default=0.5
        ``lr_schedule="plateau"``: the learning rate's multiplier at a plateau.
    plateau_patience : int, default=2
        ``lr_schedule="plateau"``: epochs without a lower held-out loss.
    weight_decay : float or None, default=None
        Decoupled weight decay: each step shrinks trained kernels (not biases
        or batch norm) by learning rate x ``weight_decay`` of themselves.
        ``None``: the optimizer's own (``"adamw"``: 0.004, all variables); 0: none.
    ema_decay : float or None, default=None
        Decay of a moving average of the trained weights, updated every step
        (0.999: about the last 1,000 steps); the held-out loss is measured on
        it and ``fit`` keeps it as the network (checkpoints keep it). None: off.
    label_smoothing : float, default=0.1
        Share of each target spread evenly over the classes (FER2013's labels
        are noisy; smoothing keeps the network from trusting them fully).
    logit_adjustment : float, default=0.0
        Logit adjustment (Menon et al. 2021): the training loss adds
        ``logit_adjustment x log(class share)`` (shares of the images trained
        on) to the logits, so predictions favour rare classes. 0: off.
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
    random_crop : int or None, default=None
        Train on random square windows of this side (the shorter side on
        other shapes) resized back to the image size; predictions see the
        centre window likewise (``crop_tta``: and the corners). Applied even
        with ``augment=False``. ``None``: whole images.
    random_erasing : float, default=0.0
        Probability of a rectangle of gray noise on a training image (Zhong
        et al. 2020), even with ``augment=False``; see :func:`augment_faces`.
    erasing_area : tuple of (float, float), default=(0.02, 0.33)
        The erased rectangle's smallest and largest share of the image.
    mixup_alpha : float, default=0.0
        Mixup: each batch is blended with a shuffled copy of itself (inputs,
        targets, sample weights) by one ``Beta(alpha, alpha)`` weight; with
        frozen blocks cached, their activations are blended. 0: off.
    cutmix_alpha : float, default=0.0
        CutMix: a rectangle of a shuffled copy of the batch, its area from
        ``Beta(alpha, alpha)``, is pasted in, the targets blended by area;
        with both alphas, mixup or CutMix per batch at even odds. 0: off.
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
        mirror image's (test-time augmentation, twice the cost; with
        ``crop_tta``, each window's).
    crop_tta : bool, default=False
        With ``random_crop``: :meth:`predict_proba` averages the centre and
        the four corner windows (5x the cost); may be switched after fit.
    checkpoint_dir : str, path or None, default=None
        Save the state after every epoch into this folder; a later ``fit``
        with the same parameters and data resumes after the last completed
        epoch (weights and their moving average, optimizer and schedule,
        early-stopping and plateau state, history). Delete it to start over.
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
    crop_size_ : int or None
        The ``random_crop`` trained with, which predictions use.
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

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS

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
        plateau_factor: float = 0.5,
        plateau_patience: int = 2,
        weight_decay: float | None = None,
        ema_decay: float | None = None,
        label_smoothing: float = 0.1,
        logit_adjustment: float = 0.0,
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
        random_crop: int | None = None,
        random_erasing: float = 0.0,
        erasing_area: tuple[float, float] = (0.02, 0.33),
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        cache_frozen: bool = True,
        augment_copies: int = 4,
        flip_tta: bool = False,
        crop_tta: bool = False,
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
        self.plateau_factor = plateau_factor
        self.plateau_patience = plateau_patience
        self.weight_decay = weight_decay
        self.ema_decay = ema_decay
        self.label_smoothing = label_smoothing
        self.logit_adjustment = logit_adjustment
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
        self.random_crop = random_crop
        self.random_erasing = random_erasing
        self.erasing_area = erasing_area
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.cache_frozen = cache_frozen
        self.augment_copies = augment_copies
        self.flip_tta = flip_tta
        self.crop_tta = crop_tta
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None
        return tags

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
        params = self.get_params()
        settings = TuningSettings.from_params(params)
        data = check_training_data(X, y)
        check_crop(settings.random_crop, data.input_shape)
        split = data.split(settings.validation_split, settings.seed)
        start = load_start(settings, data.input_shape)
        architecture = Architecture.of(settings, data.input_shape, len(data.classes))
        network = build_network(architecture, seed=settings.seed, start=start.model)
        fingerprint = run_fingerprint(
            params, seed=settings.seed, weights_key=start.weights_key,
            classes=data.classes, precision=settings.precision,
            images=data.images, codes=data.codes,
        )  # fmt: skip
        run = train(
            settings, network, data, split, preprocessing=start.preprocessing,
            fingerprint=fingerprint,
        )  # fmt: skip
        _set_fitted(self, settings, data, split, start, run, network)
        held_out = split.held_out
        self.heldout_accuracy_ = (
            float(self.score(data.images[held_out], data.classes[data.codes[held_out]]))
            if len(held_out) else None
        )  # fmt: skip
        return self

    def _build_network(self):
        """The architecture again (for unpickling): weights are set after."""
        return _rebuild(self)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class for each image.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Face crops of the size trained on.

        Returns
        -------
        proba : ndarray of shape (n_images, n_classes)

        Raises
        ------
        ValueError
            If the images are not of the size trained on, or ``crop_tta`` is
            set for a network trained without ``random_crop``.
        """
        check_is_fitted(self, "model_")
        X, crop = _check_predict(self, X)
        return predict_faces(
            self.model_, X, preprocessing=self.preprocessing_,
            flip_tta=self.flip_tta, n_classes=len(self.classes_), crop=crop,
            crop_tta=self.crop_tta,
        )  # fmt: skip

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
        return format_history(self)

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
        return write_weights_file(plain, path, weights_info(self, training_files))


def _set_fitted(tuner, settings, data, split, start, run, network) -> None:
    """Set ``tuner``'s fitted attributes from a finished training run."""
    tuner.classes_ = data.classes
    tuner.input_shape_ = data.input_shape
    tuner.n_features_in_ = int(np.prod(data.images.shape[1:]))
    tuner.precision_ = settings.precision
    tuner.batch_norm_ = settings.batch_norm
    tuner.preprocessing_ = start.preprocessing
    tuner.weights_used_ = start.weights_used
    tuner.learning_rate_ = settings.learning_rate
    tuner.crop_size_ = settings.random_crop
    tuner.training_data_sha256_ = digest_arrays(
        data.images[split.train], data.codes[split.train]
    )
    tuner.n_training_images_ = len(split.train)
    tuner.resumed_from_epoch_ = run.resumed_from_epoch
    tuner.frozen_cache_seconds_ = run.frozen_cache_seconds
    tuner.epoch_seconds_ = run.epoch_seconds
    tuner.history_ = run.history
    tuner.n_epochs_ = len(run.history.get("loss", []))
    tuner.best_epoch_ = run.best_epoch
    tuner.model_ = network.whole
    tuner.n_heldout_ = len(split.held_out)


def _rebuild(tuner):
    """A fitted ``tuner``'s network, its convolutions at zero (for unpickling,
    which sets the weights after)."""
    architecture = Architecture(
        tuner.input_shape_, tuner.trainable_blocks, tuner.batch_norm_,
        tuner.precision_, tuner.pooling, tuple(tuner.hidden_layer_sizes),
        tuner.dropout, len(tuner.classes_),
    )  # fmt: skip
    return build_network(architecture, seed=0).whole


def _check_predict(tuner, X):
    """Checked images of the size ``tuner`` was fitted on, and its crop size."""
    X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
    if tuple(X.shape[1:3]) != tuner.input_shape_[:2]:
        raise ValueError(
            f"fitted on {tuner.input_shape_[0]}x{tuner.input_shape_[1]} images, "
            f"got {X.shape[1]}x{X.shape[2]}"
        )
    crop = getattr(tuner, "crop_size_", None)  # absent: pickled before crops
    if tuner.crop_tta and crop is None:
        raise ValueError("crop_tta needs a network trained with random_crop")
    return X, crop
