"""Pipeline stage 3: images to VGG16 feature vectors (``gray -> features``).

The estimator only: the weights it loads come from ``_weights.py``, the
networks it shares from ``_shared.py``, its input from ``_preprocess.py``.
"""

from __future__ import annotations

import logging
import os
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._progress import progress_iter
from .._validation import check_image_batch
from ..caching import FeatureCache, as_cache
from ..networks import (
    MIN_INPUT_SIZE,
    PRECISIONS,
    KerasNetworkMixin,
    build_vgg16,
    predict_in_batches,
    resolve_precision,
)
from ._preprocess import preprocess_images
from ._shared import shared_vgg16
from ._weights import check_against_file
from ._weights_file import PREPROCESSING

__all__ = ["VGG16Encoder"]

logger = logging.getLogger(__name__)


class VGG16Encoder(
    KerasNetworkMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Encode images into feature vectors with VGG16 without its top.

    Parameters
    ----------
    weights : "imagenet", "fer2013", None or path, default="imagenet"
        ``"imagenet"``: the ImageNet weights Keras downloads once into
        ``~/.keras/models`` (needs internet the first time), the original
        post's choice. ``"fer2013"``: the face encoder shipped inside the
        package, trained on FER2013's training faces (48x48 gray crops; see
        the model card), loaded offline and checked against its sha256;
        crop faces to 48x48 for it. ``None``: random
        weights (Glorot-uniform, as Keras initialises them) drawn from
        ``random_state``, reproducible and offline. A path: a weights file
        for Keras' VGG16 without its top (``.weights.h5`` as written by
        ``model.save_weights`` or :meth:`VGG16FineTuner.export_weights`, or
        the ``.h5`` file Keras downloads). An adapted file from
        :meth:`VGG16FineTuner.export_weights` says how to preprocess images
        and which crop size it was trained on (:func:`read_weights_info`).
    pooling : {"flatten", "avg", "max"}, default="flatten"
        How the last convolutional block becomes a vector: ``"flatten"``
        keeps every position (7x7x512 = 25,088 values at 224x224, as in the
        original post); ``"avg"`` and ``"max"`` pool to 512 values whatever
        the input size.
    batch_size : int, default=32
        Images encoded per call to the network; bounds the memory used.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the network computes in. ``"auto"``: bfloat16 where the hardware
        runs it natively (x86 CPUs with AMX-BF16 or AVX512-BF16, GPUs of
        compute capability 8.0 and above), float32 elsewhere. bfloat16 is
        about 2x (AVX512-BF16) to 7x (AMX) faster on CPUs that have it, with
        features equal to float32's to a cosine similarity of 0.9999.
        Features are float32 either way, and Keras' global dtype policy is
        never changed.
    preprocessing : {"auto", "caffe", "standardize"}, default="auto"
        How images become network input (:func:`preprocess_images`).
        ``"auto"``: what an adapted weights file says it was trained with,
        else ``"caffe"`` (Keras' VGG16 preprocessing, for ImageNet and random
        weights).
    flip_tta : bool, default=False
        Average each image's features with those of its mirror image
        (horizontal-flip test-time augmentation): features that do not
        depend on which way a face looks, for twice the encoding time.
        Applies to every image encoded, training images included.
    random_state : int, RandomState instance or None, default=None
        Seed of the random weights when ``weights=None``; ignored otherwise.
    progress : bool or None, default=None
        Show a progress bar; ``None`` shows one when stderr is a terminal.
    memory : str, joblib.Memory, FeatureCache or None, default=None
        Cache feature vectors on disk, keyed by each image's pixels, the
        weights (ImageNet, the seed of random weights, or the sha256 of a
        weights file), ``pooling``, the precision, the preprocessing,
        ``flip_tta`` and the input size. Unseeded random weights
        (``weights=None, random_state=None``) are never cached.

    Attributes
    ----------
    input_shape_ : tuple of (int, int, int)
        ``(height, width, 3)`` of the images the encoder was built for.
    n_features_in_ : int
        Values per input image.
    n_features_out_ : int
        Length of each feature vector.
    weights_used_ : str
        Which weights were loaded, in words ("imagenet", "random (seed 0)",
        "file /path/x.weights.h5 (sha256 1a2b...)"); report it with every
        accuracy figure.
    weights_key_ : str or None
        The weights' identity in the feature cache's keys (None: not cached).
    weights_info_ : WeightsInfo or None
        The record stored in an adapted weights file (None for others).
    precision_ : {"float32", "bfloat16"}
        The precision the network computes in (``precision`` resolved).
    preprocessing_ : {"caffe", "standardize"}
        The preprocessing applied (``preprocessing`` resolved).
    model_ : keras.Model
        The network.

    Notes
    -----
    Pickling keeps the weight values, not how they were obtained: a fitted
    encoder reloaded with :func:`joblib.load` gives identical features
    without a download, whatever ``weights`` was.

    Encoders fitted in one process with the same weights (a name, a file
    unchanged since, or random weights from the same integer
    ``random_state``), image size, pooling and precision share one network,
    built once: refitting in a grid search or cross-validation does not build
    VGG16 again. Treat ``model_`` as read-only; to train VGG16, use
    :class:`~skemotion.VGG16FineTuner`, which builds its own.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion import VGG16Encoder
    >>> enc = VGG16Encoder(weights=None, pooling="avg", random_state=0)
    >>> features = enc.fit_transform(np.zeros((2, 32, 32, 3), dtype=np.uint8))
    >>> features.shape
    (2, 512)
    """

    _parameter_constraints: dict = {
        # "imagenet", a packaged encoder's name, or a file
        "weights": [str, os.PathLike, None],
        "pooling": [StrOptions({"flatten", "avg", "max"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "precision": [StrOptions(set(PRECISIONS))],
        "preprocessing": [StrOptions({"auto", *PREPROCESSING})],
        "flip_tta": ["boolean"],
        "random_state": ["random_state"],
        "progress": ["boolean", None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"]), FeatureCache],
    }

    def __init__(
        self,
        weights: str | os.PathLike | None = "imagenet",
        pooling: str = "flatten",
        batch_size: int = 32,
        precision: str = "auto",
        preprocessing: str = "auto",
        flip_tta: bool = False,
        random_state=None,
        progress: bool | None = None,
        memory=None,
    ) -> None:
        self.weights = weights
        self.pooling = pooling
        self.batch_size = batch_size
        self.precision = precision
        self.preprocessing = preprocessing
        self.flip_tta = flip_tta
        self.random_state = random_state
        self.progress = progress
        self.memory = memory

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        # random weights from random_state=None differ between fits
        tags.non_deterministic = self.weights is None and self.random_state is None
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the network for the size of the images in ``X``.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Images (uint8 0-255 or float in the same range), at least 32x32.
        y : None
            Ignored.

        Returns
        -------
        self : VGG16Encoder

        Raises
        ------
        WeightsError
            If the weights cannot be downloaded or loaded.

        Warns
        -----
        WeightsWarning
            If an adapted weights file was trained on another crop size, or
            with another preprocessing than the one asked for.
        """
        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        input_shape = (int(X.shape[1]), int(X.shape[2]), 3)
        precision = resolve_precision(self.precision)
        loaded = shared_vgg16(
            self.weights, input_shape, pooling=self.pooling, precision=precision,
            random_state=self.random_state,
        )  # fmt: skip
        self.model_ = loaded.model
        self.weights_used_ = loaded.weights_used
        self.weights_key_ = loaded.weights_key
        self.weights_info_ = loaded.info
        self.precision_ = precision
        self.preprocessing_ = check_against_file(
            loaded.info, self.weights, self.preprocessing, input_shape[:2]
        )
        self.input_shape_ = input_shape
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.n_features_out_ = int(self.model_.output_shape[-1])
        self._n_features_out = self.n_features_out_
        return self

    def _build_network(self):
        return build_vgg16(
            self.input_shape_, pooling=self.pooling,
            precision=getattr(self, "precision_", "float32"),
        )  # fmt: skip

    def transform(self, X) -> np.ndarray:
        """Encode images in batches.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Images of the size seen in :meth:`fit`.

        Returns
        -------
        features : ndarray of shape (n_images, n_features), dtype float32
            ``n_features`` is ``n_features_out_``.
        """
        return self.encode(X, progress=self.progress)

    def encode(self, X, *, progress: bool | None = None) -> np.ndarray:
        """:meth:`transform` with its own progress switch.

        The streaming pipeline encodes chunk after chunk and shows one bar
        for the whole run, so it asks for none here.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, 3)
            Images of the size seen in :meth:`fit`.
        progress : bool or None, default=None
            A bar over the batches; None: when stderr is a terminal.

        Returns
        -------
        features : ndarray of shape (n_images, n_features), dtype float32
        """
        check_is_fitted(self)
        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        if tuple(X.shape[1:3]) != self.input_shape_[:2]:
            raise ValueError(
                f"the encoder was fitted on {self.input_shape_[0]}x"
                f"{self.input_shape_[1]} images, got {X.shape[1]}x{X.shape[2]}; "
                "crop every image to the same size (FaceCropper(size=...))"
            )
        out = np.empty((X.shape[0], self.n_features_out_), dtype=np.float32)
        cache = as_cache(self.memory) if self.weights_key_ else None
        todo = np.arange(X.shape[0])
        keys = []
        if cache is not None:
            params = {
                "weights": self.weights_key_, "pooling": self.pooling,
                "shape": X.shape[1:], "dtype": str(X.dtype),
                "precision": self.precision_, "preprocessing": self.preprocessing_,
                "flip_tta": bool(self.flip_tta),
            }  # fmt: skip
            keys = [cache.key("vgg16", np.ascontiguousarray(x).tobytes(), params)
                    for x in X]  # fmt: skip
            missing = []
            for i, key in enumerate(keys):
                stored = cache.get(key)
                if stored is None:
                    missing.append(i)
                else:
                    out[i] = stored["features"]
            todo = np.asarray(missing, dtype=int)
        if len(todo):
            starts = range(0, len(todo), self.batch_size)
            for start in progress_iter(
                starts, total=len(starts), desc="Encoding (batches)",
                progress=progress,
            ):  # fmt: skip
                index = todo[start : start + self.batch_size]
                features = self._features(X[index])
                out[index] = features
                if cache is not None:
                    for i, row in zip(index, features, strict=True):
                        cache.put(keys[i], features=row)
        return out

    def _features(self, images: np.ndarray) -> np.ndarray:
        """One batch of images through the network (and its mirror image)."""
        x = preprocess_images(images, self.preprocessing_)
        features = predict_in_batches(self.model_, x, len(x))
        if self.flip_tta:
            mirrored = predict_in_batches(self.model_, x[:, :, ::-1], len(x))
            features = (features + mirrored) / 2
        return features
