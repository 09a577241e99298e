"""Evaluate a fitted model on labelled images and write a report (model card).

:func:`evaluate_model` calls ``predict_proba`` once on all the images and
derives everything from those probabilities (:func:`measure`). Given a
folder, it also writes three figures (:mod:`._figures`), the metrics as JSON
and one self-contained HTML page (:mod:`._html`): ``skemotion evaluate MODEL
DATA_DIR --report DIR``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..datasets import check_paths
from ..prediction import iter_predict_proba
from ..preprocessing import pipeline_cropper
from ._calibration import _check_n_bins
from ._evaluation import EvaluationResult, measure
from ._figures import draw_figures
from ._html import render_html
from ._mistake_views import mistake_views
from ._model_details import model_details, steps_progress

__all__ = ["REPORT_FILES", "evaluate_model"]

logger = logging.getLogger(__name__)

#: The files :func:`evaluate_model` writes into ``report_dir``.
REPORT_FILES = (
    "confusion_matrix.png",
    "worst_mistakes.png",
    "reliability.png",
    "metrics.json",
    "report.html",
)


def evaluate_model(
    model,
    paths,
    labels,
    report_dir: str | os.PathLike | None = None,
    *,
    top_k: int = 2,
    n_worst: int = 12,
    data_description: str | None = None,
    calibration_bins: int = 15,
    progress: bool | None = None,
) -> EvaluationResult:
    """Measure a fitted emotion pipeline on labelled images.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline from :func:`~skemotion.make_emotion_pipeline`, or
        any fitted classifier of image paths with ``predict_proba``,
        ``classes_`` and ``get_params``. Each image is classified once: a
        pipeline whose first step is a :class:`~skemotion.FaceCropper`
        named ``crop`` through the one crop-and-classify path
        (:func:`~skemotion.prediction.iter_predict_proba`, which also says
        in which images no face was found), any other model by one call of
        ``predict_proba`` on all the images.
    paths : array-like of shape (n_images,)
        Image files (str or os.PathLike).
    labels : array-like of shape (n_images,)
        Their true labels, compared with the model's classes as text. Labels
        the model does not know count as mistakes and get their own row and
        column in the confusion matrix.
    report_dir : str, os.PathLike or None, default=None
        Folder (created if missing) to write ``confusion_matrix.png``,
        ``worst_mistakes.png``, ``reliability.png`` (the reliability diagram),
        ``metrics.json`` (:meth:`EvaluationResult.to_dict`)
        and ``report.html`` (a self-contained model card: figures embedded,
        no external resources) into. Files of these names are replaced.
    top_k : int, default=2
        Predicted classes, with their probabilities, listed for each mistake.
    n_worst : int, default=12
        Mistakes shown in ``worst_mistakes.png``, the most confident first.
    data_description : str or None, default=None
        Where the images come from, in words, for the report.
    calibration_bins : int, default=15
        Equal-width bins of top-1 confidence over [0, 1] for the expected
        calibration error and the reliability diagram (see
        :func:`reliability_bins`).
    progress : bool or None, default=None
        Progress bars while cropping and encoding. A bool sets the
        ``progress`` parameter of the model's steps during the prediction
        (restored afterwards); None leaves them as they are and shows a bar
        for the images of the mistakes figure when stderr is a terminal.

    Returns
    -------
    result : EvaluationResult
        Accuracy, calibration, per-class metrics, confusion matrix,
        mistakes and the model's description; ``result.files`` names the
        files written.

    Raises
    ------
    ValueError
        If ``paths`` and ``labels`` differ in length or are empty, if
        ``top_k < 1``, ``n_worst < 0`` or ``calibration_bins < 1``, or if
        ``model`` has no
        ``predict_proba`` or ``classes_``.
    BadImagesError
        If the model cannot read some images (raised by its ``crop`` step).

    Notes
    -----
    Loading a model file runs code stored in it: only load models you trust.

    Examples
    --------
    >>> from skemotion import evaluate_model, load_image_folder
    >>> paths, labels = load_image_folder("data/validation")  # doctest: +SKIP
    >>> result = evaluate_model(model, paths, labels, "report")  # doctest: +SKIP
    >>> print(result.format_text())  # doctest: +SKIP
    Accuracy: 41.7% (5 of 12 images; chance 33.3%)
    ...
    """
    paths = check_paths(paths)
    y_true = _check_labels(labels, len(paths))
    calibration_bins = _check_options(top_k, n_worst, calibration_bins)
    model_classes = _check_model(model)
    proba, face_found = _predict(model, paths, model_classes, progress)
    details = model_details(model)
    result = measure(
        paths, y_true, proba, model_classes, top_k=top_k, n_bins=calibration_bins,
        details=details, data_description=data_description, face_found=face_found,
    )  # fmt: skip
    _log_result(result)
    if report_dir is not None:
        _write_report(result, model, Path(report_dir), n_worst, progress)
    return result


def _check_labels(labels, n: int) -> np.ndarray:
    if hasattr(labels, "to_numpy"):  # pandas
        labels = labels.to_numpy()
    if isinstance(labels, (str, bytes)):
        raise ValueError("labels must be an array-like of labels, not one string")
    arr = np.asarray(labels, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got an array of shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{n} paths but {len(arr)} labels")
    return np.array([str(label) for label in arr], dtype=object)


def _check_options(top_k: int, n_worst: int, calibration_bins) -> int:
    """Refuse bad ``top_k``, ``n_worst`` and ``calibration_bins``; the bins."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if n_worst < 0:
        raise ValueError(f"n_worst must be 0 or more, got {n_worst}")
    try:
        return _check_n_bins(calibration_bins)
    except ValueError:
        raise ValueError(
            f"calibration_bins must be a positive integer, got {calibration_bins!r}"
        ) from None


def _check_model(model) -> list[str]:
    """The model's classes as text; refuse what is not a fitted classifier."""
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ValueError(
            "model must be a fitted classifier with predict_proba and classes_ "
            f"(a fitted skemotion pipeline), got {type(model).__name__}"
        )
    model_classes = [str(c) for c in model.classes_]
    if len(set(model_classes)) != len(model_classes):
        raise ValueError(
            f"the model's classes are not distinct as text: {model_classes}"
        )
    return model_classes


def _predict(
    model, paths: list[str], model_classes: list[str], progress: bool | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each image's probabilities, and whether a face was found in it (None
    for a model that does not crop with a FaceCropper)."""
    logger.info("Predicting %d images", len(paths))
    face_found = None
    with steps_progress(model, progress):
        if _crops_faces(model):
            predictions = list(iter_predict_proba(
                model, paths, chunk_size=getattr(model, "chunk_size", 128),
                max_file_size=pipeline_cropper(model).max_file_size,
            ))  # fmt: skip
            proba = np.stack([p.proba[0] for p in predictions]).astype(float)
            face_found = np.array([bool(p.face_found) for p in predictions])
        else:
            proba = np.asarray(model.predict_proba(paths), dtype=float)
    if proba.shape != (len(paths), len(model_classes)):
        raise ValueError(
            f"predict_proba returned shape {proba.shape}, expected "
            f"{(len(paths), len(model_classes))}"
        )
    return proba, face_found


def _crops_faces(model) -> bool:
    """Whether the model is a pipeline that starts with a FaceCropper (and so
    goes through the one crop-and-classify path)."""
    return pipeline_cropper(model) is not None


def _log_result(result: EvaluationResult) -> None:
    logger.info(
        "Accuracy %.1f%% (%d of %d images), expected calibration error %.3f; "
        "weights: %s",
        100 * result.accuracy,
        result.n_correct,
        result.n_images,
        result.expected_calibration_error,
        result.weights_used,
    )


def _write_report(
    result: EvaluationResult,
    model,
    folder: Path,
    n_worst: int,
    progress: bool | None,
) -> None:
    """Write :data:`REPORT_FILES` into ``folder``; fill ``result.files``."""
    folder.mkdir(parents=True, exist_ok=True)
    result.files = {name: str(folder / name) for name in REPORT_FILES}
    shown = result.mistakes[:n_worst]
    views = mistake_views(model, [m["path"] for m in shown], progress=progress)
    figures = draw_figures(result, shown, views)
    metrics = json.dumps(result.to_dict(), indent=2, allow_nan=False)
    page = render_html(result, figures, n_worst)
    (folder / "confusion_matrix.png").write_bytes(figures.confusion)
    (folder / "worst_mistakes.png").write_bytes(figures.mistakes)
    (folder / "reliability.png").write_bytes(figures.reliability)
    (folder / "metrics.json").write_text(metrics + "\n", encoding="utf-8")
    (folder / "report.html").write_text(page, encoding="utf-8")
    logger.info("Report written to %s", folder / "report.html")
