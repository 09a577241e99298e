"""Pipeline stage 3: images to VGG16 feature vectors (``gray -> features``)."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections import OrderedDict
from numbers import Integral
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._io import file_sha256, file_state
from .._progress import progress_iter
from .._validation import check_image_batch
from ..caching import FeatureCache, as_cache
from ..exceptions import WeightsError, WeightsWarning
from ..networks import (
    MIN_INPUT_SIZE,
    PRECISIONS,
    KerasNetworkMixin,
    build_vgg16,
    conv_layer_names,
    copy_conv_weights,
    predict_in_batches,
    resolve_precision,
)
from ..packaged import load_packaged, packaged_state
from ._weights_file import PREPROCESSING, WeightsInfo, read_weights_info

__all__ = ["LoadedVGG16", "VGG16Encoder", "load_vgg16", "preprocess_images"]

logger = logging.getLogger(__name__)

#: Names of the encoders shipped inside the package (``weights=NAME``) and
#: their packaged files.
PACKAGED_WEIGHTS = {"fer2013": "fer2013-vgg16"}
#: The ImageNet channel means (BGR) subtracted by Keras' VGG16 preprocessing.
_VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess_images(batch: np.ndarray, method: str = "caffe") -> np.ndarray:
    """Turn 0-255 images into VGG16 input.

    Parameters
    ----------
    batch : ndarray of shape (n, height, width, 3) or (n, height, width, 1)
        Pixel values 0-255 (any numeric dtype); one channel is repeated.
    method : {"caffe", "standardize"}, default="caffe"
        ``"caffe"``: Keras' ``vgg16.preprocess_input`` (RGB to BGR, minus the
        ImageNet channel means), what ImageNet and random weights expect.
        ``"standardize"``: each image minus its mean, divided by its standard
        deviation (per-image contrast normalisation: a dim photo and a
        contrasty one of the same face give the same input).

    Returns
    -------
    x : ndarray of float32, same shape with 3 channels
    """
    x = np.asarray(batch, dtype=np.float32).copy()
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if method == "caffe":
        x = x[..., ::-1]
        x -= _VGG_MEAN_BGR
        return x
    if method != "standardize":
        raise ValueError(f"method must be one of {PREPROCESSING}, got {method!r}")
    n_values = np.prod(x.shape[1:])
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    x -= mean
    x /= np.maximum(std, 1.0 / np.sqrt(n_values))  # a flat image stays 0
    return x


def _set_seeded_weights(model, random_state) -> None:
    """Glorot-uniform kernels and zero biases (Keras' defaults) from one seed.

    Drawing the weights with NumPy rather than with Keras' initialisers makes
    them depend on ``random_state`` only, never on TensorFlow's global seed,
    and leaves every global random state untouched. Only the convolutions are
    drawn, in network order; other layers (batch norm) keep their start.
    """
    rng = check_random_state(random_state)
    for name in conv_layer_names():
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        receptive = kernel.shape[0] * kernel.shape[1]
        fan_in, fan_out = receptive * kernel.shape[2], receptive * kernel.shape[3]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        drawn = rng.uniform(-limit, limit, size=kernel.shape).astype(np.float32)
        layer.set_weights([drawn, np.zeros_like(bias)])


class LoadedVGG16(NamedTuple):
    """VGG16 with the weights asked for, and where they came from."""

    model: Any
    """The network (``keras.Model``)."""
    weights_used: str
    """The weights in words ("imagenet", "random (seed 0)", "file ...")."""
    weights_key: str | None
    """The weights' identity in cache keys (None for unseeded random weights)."""
    info: WeightsInfo | None
    """The record of an adapted weights file or packaged encoder (else None)."""


def load_vgg16(
    weights, input_shape, *, pooling: str, precision: str, random_state=None
) -> LoadedVGG16:
    """Build plain VGG16 without its top and put the requested weights in.

    The network comes from :func:`~skemotion.networks.build_vgg16`; a caller
    that wants another architecture (batch norm) copies the convolutions'
    weights from it.

    Raises
    ------
    WeightsError
        If the weights cannot be downloaded or loaded.
    """
    model = build_vgg16(input_shape, pooling=pooling, precision=precision)
    if weights is None:
        _set_seeded_weights(model, random_state)
        seed = random_state if isinstance(random_state, Integral) else None
        if seed is None:
            return LoadedVGG16(model, "random (unseeded)", None, None)
        return LoadedVGG16(model, f"random (seed {seed})", f"random:{seed}", None)
    if isinstance(weights, str) and weights in PACKAGED_WEIGHTS:
        return _load_packaged_weights(model, weights)
    if isinstance(weights, str) and weights == "imagenet":
        copy_conv_weights(_imagenet_vgg16(input_shape), model)
        return LoadedVGG16(model, "imagenet", "imagenet", None)
    path = Path(os.fspath(weights))
    info = read_weights_info(path)  # raises WeightsError for a missing file
    try:
        model.load_weights(path)
    except Exception as exc:
        raise WeightsError(
            f"{path}: not a weights file for VGG16 without its top "
            f"({type(exc).__name__}: {exc})"
        ) from None
    digest = file_sha256(path)
    return LoadedVGG16(
        model, f"file {path} (sha256 {digest[:12]})", f"file:{digest}", info
    )


#: Encoders' networks built in this process, by what decides their weights
#: and shape: refitting (a grid search's candidates, cross-validation's folds)
#: reuses the network instead of building VGG16 again (about 0.4 s a fit at
#: 64x64, measured). The two most recent are kept; an encoder never trains
#: its network, so they can share it.
_BUILT: OrderedDict[tuple, LoadedVGG16] = OrderedDict()
_BUILT_LOCK = threading.Lock()
_BUILT_MAX = 2


def _weights_identity(weights, random_state) -> tuple | None:
    """What decides the weights' values, or None when it cannot be known
    without loading them (unseeded random weights, an unreadable file)."""
    if weights is None:
        seeded = isinstance(random_state, Integral)
        return ("random", int(random_state)) if seeded else None
    if isinstance(weights, str) and weights == "imagenet":
        return ("imagenet",)
    if isinstance(weights, str) and weights in PACKAGED_WEIGHTS:
        state = packaged_state(PACKAGED_WEIGHTS[weights])
        return None if state is None else ("packaged", state)
    # a file rewritten in place has another state
    state = file_state(weights)
    return None if state is None else ("file", *state)


def shared_vgg16(
    weights, input_shape, *, pooling: str, precision: str, random_state=None
) -> LoadedVGG16:
    """:func:`load_vgg16` for an encoder: the network built for the same
    weights, shape, pooling and precision before, if it is still kept."""
    identity = _weights_identity(weights, random_state)
    if identity is None:
        return load_vgg16(weights, input_shape, pooling=pooling,
                          precision=precision, random_state=random_state)  # fmt: skip
    key = (identity, tuple(input_shape), pooling, precision)
    with _BUILT_LOCK:
        if key in _BUILT:
            _BUILT.move_to_end(key)
            return _BUILT[key]
        loaded = load_vgg16(weights, input_shape, pooling=pooling,
                            precision=precision, random_state=random_state)  # fmt: skip
        _BUILT[key] = loaded
        while len(_BUILT) > _BUILT_MAX:
            _BUILT.popitem(last=False)
        return loaded


def _imagenet_vgg16(input_shape):
    """Keras' VGG16 with its ImageNet weights: Keras downloads them (once, into
    ``~/.keras/models``), checks them and loads them."""
    import keras

    try:
        return keras.applications.VGG16(
            include_top=False, weights="imagenet", input_shape=input_shape
        )
    except Exception as exc:
        raise WeightsError(
            "ImageNet weights for VGG16 could not be obtained: Keras "
            "downloads them once into ~/.keras/models and the download "
            f"failed ({type(exc).__name__}: {exc}). Offline, use "
            "weights=None (random weights seeded by random_state) or "
            "weights='<path to a VGG16 weights file>'."
        ) from None


def _load_packaged_weights(model, name: str) -> LoadedVGG16:
    """Put a packaged encoder's weights (checked, expanded) into ``model``."""
    packaged = load_packaged(PACKAGED_WEIGHTS[name])
    for layer in conv_layer_names():
        kernel = packaged.arrays[f"{layer}/kernel"]
        bias = packaged.arrays[f"{layer}/bias"]
        model.get_layer(layer).set_weights([kernel, bias])
    info = WeightsInfo.from_dict(packaged.record["weights_info"])
    digest = packaged.sha256
    used = f"packaged {name} ({packaged.record['storage']}, sha256 {digest[:12]})"
    return LoadedVGG16(model, used, f"packaged:{digest}", info)


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
        "weights": [str, os.PathLike, None],  # "imagenet" or a file
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
        self.preprocessing_ = _check_against_file(
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


def _check_against_file(
    info: WeightsInfo | None, weights, preprocessing: str, size: tuple[int, int]
) -> str:
    """The preprocessing to use; warns where the pipeline and the file disagree."""
    if info is None:
        return "caffe" if preprocessing == "auto" else preprocessing
    path = os.fspath(weights)
    if tuple(size) != tuple(info.input_size):
        h, w = info.input_size
        warnings.warn(
            f"{path} was trained on {h}x{w} face crops but this encoder gets "
            f"{size[0]}x{size[1]} images: its features will be worse than they "
            f"can be. Crop to the same size: make_emotion_pipeline(crop__size="
            f"{h if h == w else (h, w)}, encode__weights=...) or "
            f"FaceCropper(size={h if h == w else (h, w)}).",
            WeightsWarning,
            stacklevel=4,
        )
    if preprocessing == "auto":
        return info.preprocessing
    if preprocessing != info.preprocessing:
        warnings.warn(
            f"{path} was trained with preprocessing={info.preprocessing!r}, "
            f"but preprocessing={preprocessing!r} was asked for; "
            "preprocessing='auto' uses the file's",
            WeightsWarning,
            stacklevel=4,
        )
    return preprocessing
