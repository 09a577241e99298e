"""skemotion: predict a person's emotion from a photo of their face.

One scikit-learn :class:`~sklearn.pipeline.Pipeline` goes from image paths to
emotion labels: :class:`FaceCropper` -> :class:`GrayscaleConverter` ->
:class:`VGG16Encoder` -> :class:`EmotionClassifier`, built by
:func:`make_emotion_pipeline`.

The public names are imported on first use (PEP 562): ``import skemotion``
and the command line's ``--help`` stay fast, and the worker processes of
``FaceCropper(n_jobs=...)`` never load TensorFlow.
"""

from __future__ import annotations

import importlib
import os as _os

# Keep TensorFlow's C++ start-up chatter out of users' terminals unless asked for.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import exceptions as _exceptions
from ._version import __version__ as __version__

#: Submodule of every public name.
_PUBLIC = {
    ".cache": ("FeatureCache",),
    ".checking": ("FolderReport", "check_image_folder"),
    ".classification": ("EmotionClassifier",),
    ".encoding": ("VGG16Encoder", "preprocess_images"),
    ".exceptions": tuple(_exceptions.__all__),  # a light module: no TensorFlow
    ".face_cropping": ("FaceCropper", "detect_faces"),
    ".finetuning": ("VGG16FineTuner", "augment_faces"),
    ".folders": ("UnreadableImagesWarning", "load_image_folder"),
    ".grayscale": ("GrayscaleConverter",),
    ".image_io": ("check_image_file", "probe_image", "read_image"),
    ".persistence": ("load_model", "save_model"),
    ".pipeline": ("EmotionPipeline", "make_emotion_pipeline", "make_finetune_pipeline"),
    ".prediction": (
        "annotate_image",
        "format_topk",
        "iter_predict_topk",
        "predict_topk",
        "top_k",
    ),
    ".reporting": ("EvaluationResult", "evaluate_model"),
    ".seed_faces": ("fetch_seed_faces",),
    ".weights_file": ("WeightsInfo", "read_weights_info"),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted([*_WHERE, "__version__"], key=str.lower)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'skemotion' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
