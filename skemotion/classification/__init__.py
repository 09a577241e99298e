"""Pipeline stage 4: feature vectors to emotion labels (``features -> label``).

:class:`EmotionClassifier`, the original post's dense network as a scikeras
``KerasClassifier``; the workarounds for scikeras 0.13 under scikit-learn
>= 1.7 live, each with its reason, in ``_scikeras.py``.
"""

from ._classifier import EmotionClassifier

__all__ = ["EmotionClassifier"]
