"""skemotion: predict a person's emotion from a photo of their face.

One scikit-learn :class:`~sklearn.pipeline.Pipeline` goes from image paths to
emotion labels: :class:`FaceCropper` -> :class:`GrayscaleConverter` ->
:class:`VGG16Encoder` -> :class:`EmotionClassifier`, built by
:func:`make_emotion_pipeline`.
"""

import os as _os

# Keep TensorFlow's C++ start-up chatter out of users' terminals unless asked for.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ._version import __version__
from .cache import FeatureCache
from .checking import FolderReport, check_image_folder
from .classification import EmotionClassifier
from .encoding import VGG16Encoder
from .exceptions import (
    BadImagesError,
    ChecksumError,
    DownloadError,
    ImageReadError,
    ModelFileError,
    ModelVersionWarning,
    MultipleFacesError,
    NoFaceError,
    SkemotionError,
    WeightsError,
)
from .face_cropping import FaceCropper, detect_faces
from .folders import UnreadableImagesWarning, load_image_folder
from .grayscale import GrayscaleConverter
from .image_io import check_image_file, probe_image, read_image
from .persistence import load_model, save_model
from .pipeline import EmotionPipeline, make_emotion_pipeline
from .prediction import (
    annotate_image,
    format_topk,
    iter_predict_topk,
    predict_topk,
    top_k,
)
from .reporting import EvaluationResult, evaluate_model
from .seed_faces import fetch_seed_faces

__all__ = [
    "BadImagesError",
    "ChecksumError",
    "DownloadError",
    "EmotionClassifier",
    "EmotionPipeline",
    "EvaluationResult",
    "FaceCropper",
    "FeatureCache",
    "FolderReport",
    "GrayscaleConverter",
    "ImageReadError",
    "ModelFileError",
    "ModelVersionWarning",
    "MultipleFacesError",
    "NoFaceError",
    "SkemotionError",
    "UnreadableImagesWarning",
    "VGG16Encoder",
    "WeightsError",
    "__version__",
    "annotate_image",
    "check_image_file",
    "check_image_folder",
    "detect_faces",
    "evaluate_model",
    "fetch_seed_faces",
    "format_topk",
    "iter_predict_topk",
    "load_image_folder",
    "load_model",
    "make_emotion_pipeline",
    "predict_topk",
    "probe_image",
    "read_image",
    "save_model",
    "top_k",
]
