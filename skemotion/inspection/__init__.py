"""Look before and after training: audit a folder of images, evaluate a model.

:func:`check_image_folder` (:class:`FolderReport`) finds what is wrong with
labelled image folders; :func:`evaluate_model` (:class:`EvaluationResult`)
measures a fitted model and writes figures and an HTML model card.
"""

from ._checking import FolderReport, check_image_folder
from ._reporting import EvaluationResult, evaluate_model

__all__ = ["EvaluationResult", "FolderReport", "check_image_folder", "evaluate_model"]
