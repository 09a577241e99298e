"""Pipeline stage 4: feature vectors to emotion labels (``features -> label``).

:class:`EmotionClassifier`, the original post's dense network as a scikeras
``KerasClassifier``; the workarounds for scikeras 0.13 under scikit-learn
>= 1.7 live, each with its reason, in ``_scikeras.py``.

The public names are imported on first use (PEP 562): scikeras imports
TensorFlow, and a pipeline that predicts on the compiled engine
(:mod:`skemotion.engines`) never needs it.
"""

from __future__ import annotations

from .._exports import exported_names, lazy_attributes

#: The modules holding the public names (each lists its own in ``__all__``).
_MODULES = ("._classifier", "._export", "._temperature")
_WHERE = exported_names(__path__[0], _MODULES)

__all__ = sorted(_WHERE, key=str.lower)

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
