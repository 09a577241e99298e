"""Pipeline stage 2: RGB crops to grayscale (``crop -> gray``)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Options
from sklearn.utils.validation import check_is_fitted

from .._validation import check_image_batch

__all__ = ["GrayscaleConverter"]

# ITU-R BT.601 luma, as OpenCV's and Pillow's RGB -> L conversions.
_LUMA = np.array([0.299, 0.587, 0.114])


class GrayscaleConverter(TransformerMixin, BaseEstimator):
    """Convert RGB images to grayscale, replicated to 3 channels.

    VGG16 expects 3 input channels; the gray level is copied into each, so
    the encoder sees the luminance only, as in the original post.

    Parameters
    ----------
    n_channels : {1, 3}, default=3
        Channels of the output: 3 (gray replicated, for the encoder) or 1.

    Attributes
    ----------
    n_features_in_ : int
        Values per input image (height x width x channels), set by :meth:`fit`.
    image_shape_ : tuple of (int, int, int)
        ``(height, width, channels)`` of the images seen in :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion import GrayscaleConverter
    >>> rgb = np.zeros((2, 4, 4, 3), dtype=np.uint8); rgb[..., 0] = 255
    >>> gray = GrayscaleConverter().fit_transform(rgb)
    >>> gray.shape, int(gray[0, 0, 0, 0]), bool((gray[..., 0] == gray[..., 2]).all())
    ((2, 4, 4, 3), 76, True)
    """

    _parameter_constraints: dict = {"n_channels": [Options(Integral, {1, 3})]}

    def __init__(self, n_channels: int = 3) -> None:
        self.n_channels = n_channels

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = ["uint8"]
        return tags

    def _check_n_channels(self) -> int:
        self._validate_params()
        return int(self.n_channels)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and record the image shape.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, channels)
            Images with 1 or 3 channels (or ``(n_images, height, width)``).
        y : None
            Ignored.

        Returns
        -------
        self : GrayscaleConverter
        """
        self._check_n_channels()
        X = check_image_batch(X)
        self.image_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        return self

    def transform(self, X) -> np.ndarray:
        """Convert images to grayscale.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width, channels)
            RGB (or already gray) images. Integer images are taken as 0-255;
            the dtype of the input is kept.

        Returns
        -------
        gray : ndarray of shape (n_images, height, width, n_channels)
        """
        check_is_fitted(self)
        n_channels = self._check_n_channels()
        X = check_image_batch(X)
        if X.shape[-1] == 3:
            # pixel by pixel, not as a matrix product: a product's rounding
            # depends on how many images it is given (its kernels block the
            # sum differently), which moved a pixel's gray level by one, so
            # an image's gray (and its cached features) depended on its batch
            rgb = X.astype(np.float32)
            weights = _LUMA.astype(np.float32)
            gray = (
                rgb[..., 0] * weights[0]
                + rgb[..., 1] * weights[1]
                + rgb[..., 2] * weights[2]
            )
        else:
            gray = X[..., 0].astype(np.float32)
        if X.dtype.kind in "ui":
            gray = np.clip(np.rint(gray), np.iinfo(X.dtype).min, np.iinfo(X.dtype).max)
        gray = gray.astype(X.dtype if X.dtype.kind in "uif" else np.float32, copy=False)
        return np.repeat(gray[..., np.newaxis], n_channels, axis=3)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output values: one per pixel and channel.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        from ._geometry import _pixel_names

        check_is_fitted(self)
        return _pixel_names(self.image_shape_[:2], self._check_n_channels())
