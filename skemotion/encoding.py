"""Pipeline stage 3: images to VGG16 feature vectors (``gray -> features``)."""

from __future__ import annotations

import hashlib
import logging
import os
from numbers import Integral
from pathlib import Path

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

from ._progress import progress_iter
from ._validation import check_image_batch
from .cache import FeatureCache, as_cache
from .exceptions import WeightsError

__all__ = ["VGG16Encoder"]

logger = logging.getLogger(__name__)

#: VGG16's smallest input side without its top.
MIN_INPUT_SIZE = 32
#: The ImageNet channel means (BGR) subtracted by Keras' VGG16 preprocessing.
_VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def _preprocess(batch: np.ndarray) -> np.ndarray:
    """Keras' ``vgg16.preprocess_input`` ("caffe" mode): RGB -> BGR, minus means."""
    x = batch.astype(np.float32, copy=True)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    x = x[..., ::-1]
    x -= _VGG_MEAN_BGR
    return x


def _seeded_weights(model, random_state) -> list[np.ndarray]:
    """Glorot-uniform kernels and zero biases (Keras' defaults) from one seed.

    Drawing the weights with NumPy rather than with Keras' initialisers makes
    them depend on ``random_state`` only, never on TensorFlow's global seed,
    and leaves every global random state untouched.
    """
    rng = check_random_state(random_state)
    weights = []
    for w in model.get_weights():
        if w.ndim == 4:  # conv kernel (kh, kw, in, out)
            receptive = w.shape[0] * w.shape[1]
            fan_in, fan_out = receptive * w.shape[2], receptive * w.shape[3]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            weights.append(rng.uniform(-limit, limit, size=w.shape).astype(np.float32))
        else:
            weights.append(np.zeros_like(w))
    return weights


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _build_vgg16(input_shape: tuple[int, int, int], pooling: str, weights):
    """Build VGG16 without its top, with the requested head and weights source."""
    import keras

    keras_pooling = None if pooling == "flatten" else pooling
    base = keras.applications.VGG16(
        include_top=False,
        weights=weights,
        input_shape=input_shape,
        pooling=keras_pooling,
    )
    if pooling != "flatten":
        return base
    return keras.Model(
        base.input,
        keras.layers.Flatten(name="flatten")(base.output),
        name="vgg16_flatten",
    )


class VGG16Encoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Encode images into feature vectors with VGG16 without its top.

    Parameters
    ----------
    weights : "imagenet", None or path, default="imagenet"
        ``"imagenet"``: the ImageNet weights Keras downloads once into
        ``~/.keras/models`` (needs internet the first time). ``None``: random
        weights (Glorot-uniform, as Keras initialises them) drawn from
        ``random_state``, reproducible and offline. A path: a weights file
        for Keras' VGG16 without its top (``.weights.h5`` as written by
        ``model.save_weights``, or the ``.h5`` file Keras downloads).
    pooling : {"flatten", "avg", "max"}, default="flatten"
        How the last convolutional block becomes a vector: ``"flatten"``
        keeps every position (7x7x512 = 25,088 values at 224x224, as in the
        original post); ``"avg"`` and ``"max"`` pool to 512 values whatever
        the input size.
    batch_size : int, default=32
        Images encoded per call to the network; bounds the memory used.
    random_state : int, RandomState instance or None, default=None
        Seed of the random weights when ``weights=None``; ignored otherwise.
    progress : bool or None, default=None
        Show a progress bar; ``None`` shows one when stderr is a terminal.
    memory : str, joblib.Memory, FeatureCache or None, default=None
        Cache feature vectors on disk, keyed by each image's pixels, the
        weights (ImageNet, the seed of random weights, or the sha256 of a
        weights file), ``pooling`` and the input size. Unseeded random
        weights (``weights=None, random_state=None``) are never cached.

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

    Notes
    -----
    Pickling keeps the weight values, not how they were obtained: a fitted
    encoder reloaded with :func:`joblib.load` gives identical features
    without a download, whatever ``weights`` was.

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
        "weights": [StrOptions({"imagenet"}), str, os.PathLike, None],
        "pooling": [StrOptions({"flatten", "avg", "max"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "progress": ["boolean", None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"]), FeatureCache],
    }

    def __init__(
        self,
        weights: str | os.PathLike | None = "imagenet",
        pooling: str = "flatten",
        batch_size: int = 32,
        random_state=None,
        progress: bool | None = None,
        memory=None,
    ) -> None:
        self.weights = weights
        self.pooling = pooling
        self.batch_size = batch_size
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
        """
        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        input_shape = (int(X.shape[1]), int(X.shape[2]), 3)
        self.model_ = self._make_model(input_shape)
        self._compiled_predict = None  # compiled again for the new network
        self.input_shape_ = input_shape
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.n_features_out_ = int(self.model_.output_shape[-1])
        self._n_features_out = self.n_features_out_
        return self

    def _make_model(self, input_shape: tuple[int, int, int]):
        weights = self.weights
        if weights is None:
            model = _build_vgg16(input_shape, self.pooling, None)
            model.set_weights(_seeded_weights(model, self.random_state))
            seed = (
                self.random_state if isinstance(self.random_state, Integral) else None
            )
            self.weights_used_ = (
                f"random (seed {seed})" if seed is not None else "random (unseeded)"
            )
            self.weights_key_ = f"random:{seed}" if seed is not None else None
            return model
        if isinstance(weights, str) and weights == "imagenet":
            try:
                model = _build_vgg16(input_shape, self.pooling, "imagenet")
            except Exception as exc:
                raise WeightsError(
                    "ImageNet weights for VGG16 could not be obtained: Keras "
                    "downloads them once into ~/.keras/models and the download "
                    f"failed ({type(exc).__name__}: {exc}). Offline, use "
                    "weights=None (random weights seeded by random_state) or "
                    "weights='<path to a VGG16 weights file>'."
                ) from None
            self.weights_used_ = "imagenet"
            self.weights_key_ = "imagenet"
            return model
        path = Path(os.fspath(weights))
        if not path.is_file():
            raise WeightsError(f"{path}: weights file does not exist")
        model = _build_vgg16(input_shape, self.pooling, None)
        try:
            model.load_weights(path)
        except Exception as exc:
            raise WeightsError(
                f"{path}: not a weights file for VGG16 without its top "
                f"({type(exc).__name__}: {exc})"
            ) from None
        digest = _file_digest(path)
        self.weights_used_ = f"file {path} (sha256 {digest[:12]})"
        self.weights_key_ = f"file:{digest}"
        return model

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
        return self._encode(X, progress=self.progress)

    def _encode(self, X, *, progress: bool | None) -> np.ndarray:
        """:meth:`transform` with its own progress switch (the streaming
        pipeline shows one bar for the whole run instead of one per chunk)."""
        check_is_fitted(self)
        X = check_image_batch(X, min_size=MIN_INPUT_SIZE)
        if tuple(X.shape[1:3]) != self.input_shape_[:2]:
            raise ValueError(
                f"the encoder was fitted on {self.input_shape_[0]}x"
                f"{self.input_shape_[1]} images, got {X.shape[1]}x{X.shape[2]}; "
                "crop every image to the same size (FaceCropper(size=...))"
            )
        out = np.empty((X.shape[0], self.n_features_out_), dtype=np.float32)
        cache = as_cache(self.memory) if getattr(self, "weights_key_", None) else None
        todo = np.arange(X.shape[0])
        keys = []
        if cache is not None:
            params = {"weights": self.weights_key_, "pooling": self.pooling,
                      "shape": X.shape[1:], "dtype": str(X.dtype)}  # fmt: skip
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
            predict = self._predict_fn()
            starts = range(0, len(todo), self.batch_size)
            for start in progress_iter(
                starts, total=len(starts), desc="Encoding (batches)",
                progress=progress,
            ):  # fmt: skip
                index = todo[start : start + self.batch_size]
                features = np.asarray(predict(_preprocess(X[index])))
                out[index] = features
                for i, row in zip(index, features, strict=True):
                    if cache is not None:
                        cache.put(keys[i], features=row)
        return out

    def _predict_fn(self):
        """The network as one compiled TensorFlow function (built once)."""
        fn = getattr(self, "_compiled_predict", None)
        if fn is None:
            import tensorflow as tf

            model = self._get_model()
            fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
            self._compiled_predict = fn
        return fn

    def _get_model(self):
        if getattr(self, "model_", None) is None:
            # after unpickling: rebuild the network and put the kept weights back
            model = _build_vgg16(self.input_shape_, self.pooling, None)
            model.set_weights(self._weight_values)
            self.model_ = model
        return self.model_

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter self
        state.pop("_compiled_predict", None)
        model = state.get("model_")
        if model is not None:
            state["model_"] = None
            state["_weight_values"] = model.get_weights()
        return state
