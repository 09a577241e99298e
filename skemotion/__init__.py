"""skemotion: predict a person's emotion from a photo of their face.

One scikit-learn :class:`~sklearn.pipeline.Pipeline` goes from image paths to
emotion labels: :class:`FaceCropper` -> :class:`GrayscaleConverter` ->
:class:`VGG16Encoder` -> :class:`EmotionClassifier`, built by
:func:`make_emotion_pipeline`.

The package is grouped by domain, from the bottom (used by all) to the top
(uses all): :mod:`skemotion.datasets` (image files and folders) and
:mod:`skemotion.packaged` (model files shipped inside the package),
:mod:`skemotion.preprocessing` (faces, gray), :mod:`skemotion.feature_extraction`
(VGG16, its cache and its training), :mod:`skemotion.classification`, then
``pipeline``, ``pretrained`` (the ready model: :func:`load_pretrained`),
``prediction`` and ``persistence``, :mod:`skemotion.inspection` (check a
folder, evaluate a model) and the front ends (:mod:`skemotion.cli`).
Every public name is also here, at the top.

The public names are imported on first use (PEP 562): ``import skemotion``
and the command line's ``--help`` stay fast, and the worker processes of
``FaceCropper(n_jobs=...)`` never load TensorFlow.
"""

from __future__ import annotations

import importlib

from . import _logging
from . import exceptions as _exceptions
from ._version import __version__ as __version__

#: Sub-package or module of every public name.
_PUBLIC = {
    ".classification": (
        "EmotionClassifier",
        "apply_temperature",
        "classifier_from_arrays",
        "classifier_to_arrays",
        "fit_temperature",
    ),
    ".demo": ("DemoResult", "run_demo"),
    ".datasets": (
        "FolderLayout",
        "UnreadableImagesWarning",
        "check_image_file",
        "decode_image",
        "fetch_seed_faces",
        "folder_layout",
        "image_from_array",
        "load_image_folder",
        "probe_image",
        "read_image",
    ),
    ".exceptions": tuple(_exceptions.__all__),  # a light module: no TensorFlow
    ".feature_extraction": (
        "FeatureCache",
        "VGG16Encoder",
        "VGG16FineTuner",
        "WeightsInfo",
        "augment_faces",
        "preprocess_images",
        "read_weights_info",
    ),
    ".inspection": (
        "EvaluationResult",
        "FolderReport",
        "ReliabilityBins",
        "check_image_folder",
        "evaluate_model",
        "expected_calibration_error",
        "reliability_bins",
    ),
    ".packaged": ("PackagedModel", "load_packaged"),
    ".persistence": ("load_model", "save_model"),
    ".pipeline": ("EmotionPipeline", "make_emotion_pipeline", "make_finetune_pipeline"),
    ".prediction": (
        "ImagePrediction",
        "annotate_image",
        "format_topk",
        "iter_predict_proba",
        "iter_predict_topk",
        "predict_topk",
        "top_k",
    ),
    ".pretrained": (
        "load_pretrained",
        "pretrained_digest",
        "pretrained_record",
    ),
    ".preprocessing": ("FaceCropper", "GrayscaleConverter", "detect_faces"),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted([*_WHERE, "__version__"], key=str.lower)

# TensorFlow's C++ code logs only warnings and errors, unless the user set it.
_logging.set_default_log_level()


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'skemotion' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
