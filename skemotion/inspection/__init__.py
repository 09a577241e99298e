"""Look before and after training: audit a folder of images, evaluate a model.

:func:`check_image_folder` (:class:`FolderReport`) finds what is wrong with
labelled image folders; :func:`evaluate_model` (:class:`EvaluationResult`)
measures a fitted model and writes figures and an HTML model card;
:func:`expected_calibration_error` and :func:`reliability_bins`
(:class:`ReliabilityBins`) say how far its confidence is from its accuracy.
"""

from ._calibration import (
    ReliabilityBins,
    expected_calibration_error,
    reliability_bins,
)
from ._checking import check_image_folder
from ._evaluation import EvaluationResult
from ._folder_report import FolderReport
from ._reporting import evaluate_model

__all__ = [
    "EvaluationResult",
    "FolderReport",
    "ReliabilityBins",
    "check_image_folder",
    "evaluate_model",
    "expected_calibration_error",
    "reliability_bins",
]
