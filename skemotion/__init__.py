"""skemotion: predict a person's emotion from a photo of their face.

One scikit-learn :class:`~sklearn.pipeline.Pipeline` goes from image paths to
emotion labels: :class:`FaceCropper` -> :class:`GrayscaleConverter` ->
:class:`VGG16Encoder` -> :class:`EmotionClassifier`, built by
:func:`make_emotion_pipeline`.

The package is grouped by domain, from the bottom (used by all) to the top
(uses all): :mod:`skemotion.datasets` (image files and folders),
:mod:`skemotion.packaged` (model files shipped inside the package) and
:mod:`skemotion.caching` (per-image results), ``skemotion.networks`` (Keras
pieces), :mod:`skemotion.preprocessing` (faces, gray),
:mod:`skemotion.feature_extraction` (VGG16 features) and
:mod:`skemotion.classification`, :mod:`skemotion.engines` (the compiled
LiteRT engine), :mod:`skemotion.finetuning` (adapting VGG16),
then ``pipeline``, ``pretrained`` (the ready model: :func:`load_pretrained`)
and ``persistence``, :mod:`skemotion.prediction`, :mod:`skemotion.inspection`
(check a folder, evaluate a model) and the front ends (demo, video, serve,
distributed, and the command line over them). Every name in a module's
``__all__`` is also here, at the top.

The public names are imported on first use (PEP 562): ``import skemotion``
and the command line's ``--help`` stay fast, and the worker processes of
``FaceCropper(n_jobs=...)`` never load TensorFlow.
"""

from __future__ import annotations

from . import _logging
from ._exports import exported_names, lazy_attributes
from ._version import __version__ as __version__

#: Where the public names are, bottom to top: every name in each one's
#: ``__all__`` is public here too (read from its source, not imported).
_MODULES = (
    ".exceptions",
    ".datasets",
    ".packaged",
    ".caching",
    ".preprocessing",
    ".feature_extraction",
    ".classification",
    ".engines",
    ".finetuning",
    ".pipeline",
    ".pretrained",
    ".persistence",
    ".prediction",
    ".inspection",
    ".demo",
)
_WHERE = exported_names(__path__[0], _MODULES)

__all__ = sorted([*_WHERE, "__version__"], key=str.lower)

# TensorFlow's C++ code logs only warnings and errors, and its start-up lines
# stay off the terminal, unless the user set its log level.
_logging.set_default_log_level()
_logging.silence_tensorflow_import()

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
