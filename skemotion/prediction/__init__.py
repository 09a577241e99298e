"""Predictions: every face's probabilities, top-k records, drawn images.

:func:`classify_crops` is the one path from a cropper's faces to class
probabilities; :func:`iter_predict_proba` takes image files there chunk by
chunk under the one bad-file rule; :func:`predict_topk` and
:func:`iter_predict_topk` give tidy top-k records ("62.1% happy, 20.4%
shocked": :func:`format_topk`), :func:`annotate_image` draws them.
:func:`explain` gives each face a saliency map (what the model looked at),
:func:`overlay_saliency` draws one over its crop. :func:`resolve_model` is
the one resolver of the model a front end predicts with.
"""

# The names imported "as" themselves are for the other sub-packages and the
# result tables; they are not in __all__.
from ._drawing import annotate_image, overlay_saliency, saliency_image
from ._engine import ImagePrediction, classify_crops, iter_predict_proba
from ._engine import check_model as check_model
from ._explain import FaceSaliency, explain, explain_crops
from ._records import RECORD_FIELDS as RECORD_FIELDS
from ._records import iter_predict_topk, predict_topk
from ._resolve import READY_MODEL_NAME as READY_MODEL_NAME
from ._resolve import ResolvedModel, resolve_model
from ._resolve import check_engine_choice as check_engine_choice
from ._topk import BOX_COLUMNS as BOX_COLUMNS
from ._topk import face_columns, face_values, format_topk, top_k

__all__ = [
    "FaceSaliency",
    "ImagePrediction",
    "ResolvedModel",
    "annotate_image",
    "classify_crops",
    "explain",
    "explain_crops",
    "face_columns",
    "face_values",
    "format_topk",
    "iter_predict_proba",
    "iter_predict_topk",
    "overlay_saliency",
    "predict_topk",
    "resolve_model",
    "saliency_image",
    "top_k",
]
