"""Every workaround for scikeras 0.13 under scikit-learn >= 1.7, with its reason.

scikeras 0.13.0 is the last release and is no longer maintained; the design
asks for it, so :class:`EmotionClassifier` keeps it and puts
:class:`ScikerasFixes` first among its bases. Each defect, what a user would
see without the fix, and the fix:

1. ``is_classifier()`` is False. scikeras lists ``BaseWrapper`` (a
   ``BaseEstimator``) before ``ClassifierMixin``, so scikit-learn's
   ``__sklearn_tags__`` of ``BaseEstimator`` hides the classifier's tags:
   ``cross_val_score(cv=5)`` silently used ``KFold`` instead of
   ``StratifiedKFold``, and probability scorers could return NaN. Fixed in
   :meth:`ScikerasFixes.__sklearn_tags__`.
2. ``predict_proba`` on one sample returns shape ``(n_classes,)`` (scikeras
   squeezes it); scikit-learn expects ``(1, n_classes)``. Reshaped.
3. A fit with ``random_state`` turns TensorFlow's op determinism on and
   leaves it on, so a later fit with ``random_state=None`` fails on its
   unseeded random ops. Every call restores the mode it found.
4. Sparse input is densified silently (memory) where scikit-learn's
   estimators that cannot take it raise; it is refused with a clear error.
5. A column-vector ``y`` is taken without scikit-learn's
   ``DataConversionWarning``; it is raveled with that warning.
6. A wrong number of features gets scikeras' own wording; scikit-learn's
   ("X has 3 features, but ... is expecting 5 features as input") is used.
7. ``repr`` lists every parameter, one a line, defaults included, and a
   pipeline's repr shows scikeras' ten parameters whatever they are;
   scikit-learn's shows only those changed from their defaults (the
   estimator names each of its parameters in ``__init__``, so that
   scikit-learn knows the defaults). scikit-learn's ``__repr__`` is used.

Scikit-learn 1.6.x cannot run scikeras 0.13 at all and is excluded by the
package's requirements.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._tags import ClassifierTags

__all__ = ["ScikerasFixes"]


@contextlib.contextmanager
def _restore_op_determinism():
    """Leave TensorFlow's op-determinism flag as it was found (defect 3)."""
    from tensorflow.python.framework import config

    was_enabled = config.is_op_determinism_enabled()
    try:
        yield
    finally:
        if config.is_op_determinism_enabled() and not was_enabled:
            config.disable_op_determinism()


def _reject_sparse(X, name: str):
    """Defect 4."""
    if sp.issparse(X):
        raise TypeError(
            f"sparse input is not supported by {name}; pass a dense array, e.g. "
            "X.toarray()"
        )
    return X


def _ravel_column(y):
    """A column vector y becomes 1-D with a warning, as scikit-learn's do (5)."""
    if (
        y is not None
        and not sp.issparse(y)
        and np.asarray(y).ndim == 2
        and np.asarray(y).shape[1] == 1
    ):
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        return np.ravel(np.asarray(y))
    return y


class ScikerasFixes:
    """Mixin, first among the bases of a scikeras ``KerasClassifier``."""

    def __sklearn_tags__(self):
        """Defect 1: the classifier's tags, which scikeras' class order hides."""
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=True, poor_score=True)
        tags.transformer_tags = None
        tags.target_tags.required = True
        return tags

    def __repr__(self, N_CHAR_MAX=700):
        """Defect 7: scikit-learn's repr (the parameters that differ from
        their defaults), not scikeras' list of them all."""
        return BaseEstimator.__repr__(self, N_CHAR_MAX=N_CHAR_MAX)

    def fit(self, X, y, sample_weight=None, **kwargs):
        X = _reject_sparse(X, type(self).__name__)
        y = _ravel_column(y)
        with _restore_op_determinism():
            return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def partial_fit(self, X, y, classes=None, sample_weight=None, **kwargs):
        X = _reject_sparse(X, type(self).__name__)
        y = _ravel_column(y)
        with _restore_op_determinism():
            return super().partial_fit(
                X, y, classes=classes, sample_weight=sample_weight, **kwargs
            )

    def predict_proba(self, X, **kwargs) -> np.ndarray:
        X = _reject_sparse(X, type(self).__name__)
        n_samples = np.shape(np.asarray(X))[0]
        with _restore_op_determinism():
            proba = super().predict_proba(X, **kwargs)
        # defect 2: scikeras squeezes (1, n_classes) and (n_samples, 1) to 1-D
        return np.asarray(proba).reshape(n_samples, -1)

    def _validate_data(self, X=None, y=None, reset=False, y_numeric=False):
        # defect 6: scikit-learn's wording for a wrong number of features
        if X is not None and not reset and hasattr(self, "n_features_in_"):
            shape = np.shape(np.asarray(X))
            if len(shape) == 2 and shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {shape[1]} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input"
                )
        return super()._validate_data(X=X, y=y, reset=reset, y_numeric=y_numeric)
