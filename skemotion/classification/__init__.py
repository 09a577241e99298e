"""Pipeline stage 4: feature vectors to emotion labels (``features -> label``).

:class:`EmotionClassifier`, the original post's dense network as a scikeras
``KerasClassifier``; the workarounds for scikeras 0.13 under scikit-learn
>= 1.7 live, each with its reason, in ``_scikeras.py``.
"""

from ._classifier import EmotionClassifier
from ._export import classifier_from_arrays, classifier_to_arrays
from ._temperature import apply_temperature, fit_temperature

__all__ = [
    "EmotionClassifier",
    "apply_temperature",
    "classifier_from_arrays",
    "classifier_to_arrays",
    "fit_temperature",
]
