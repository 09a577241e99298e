"""The metrics of a model on labelled images: :class:`EvaluationResult`.

:func:`measure` derives every metric from the true labels and the model's
``predict_proba`` output: accuracy, per-class precision, recall and F1 with
their macro and weighted averages, the confusion matrix, the most confident
mistakes and the calibration of the confidence (expected calibration error
and reliability bins).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

import numpy as np

from ..prediction import top_k as ranked_classes
from ._calibration import ReliabilityBins, _bin_confidence
from ._evaluation_text import result_text
from ._model_details import ModelDetails

__all__ = ["METRICS", "EvaluationResult", "measure"]

logger = logging.getLogger(__name__)

#: The per-class metrics, in the order of the tables.
METRICS = ("precision", "recall", "f1")


@dataclass
class EvaluationResult:
    """Metrics of a model on labelled images.

    Attributes
    ----------
    n_images : int
        Images evaluated.
    accuracy : float
        Fraction of images whose most probable class is their label.
    classes : list of str
        Row and column order of ``confusion`` and key order of ``per_class``:
        the model's classes, then the labels of the data that the model does
        not know (sorted).
    per_class : dict
        ``{label: {"precision", "recall", "f1", "support", "known"}}``;
        ``known`` is False for a label the model does not know (its images
        are always mistakes). Precision is 0 for a label never predicted,
        recall 0 for a label without images.
    macro : dict
        ``precision``, ``recall`` and ``f1`` averaged with equal weight over
        the labels that are true or predicted for at least one image (as
        :func:`sklearn.metrics.classification_report` does).
    confusion : list of list of int
        Counts; rows are true labels, columns predicted labels, both in the
        order of ``classes``.
    mistakes : list of dict
        ``{"path", "true", "predicted": [[label, probability], ...],
        "face_found"}`` for each wrongly classified image, with the ``top_k``
        most probable classes (the wrong prediction first); the most
        confident mistake first. ``face_found`` is False when no face was
        found in the image and the whole image was classified (None when the
        model does not say).
    weights_used : str or None
        The encoder's ``weights_used_`` ("imagenet", "random (seed 0)",
        ...); None when the model does not say.
    precision : str or None
        What the encoder's network computed in (``precision_``:
        "float32" or "bfloat16"); None when the model does not say.
    files : dict
        ``{file name: path}`` of the report files, when a report folder was
        given.
    weighted : dict
        ``precision``, ``recall`` and ``f1`` averaged weighted by support.
    model_classes : list of str
        The model's classes (the columns of ``proba``).
    unknown_labels : list of str
        Labels of the data that are not classes of the model.
    class_counts : dict
        ``{label: images}`` in the data, in the order of ``classes``.
    model_params : dict
        ``{name: repr(value)}`` of the pipeline's step parameters
        (``crop__*``, ``gray__*``, ``encode__*``, ``classify__*``).
    versions : dict
        Versions of Python, skemotion, scikit-learn, numpy, keras and
        tensorflow.
    created : str
        When the evaluation ran (ISO 8601, UTC).
    data_description : str or None
        Where the images come from, in words.
    top_k : int
        Classes listed per mistake.
    expected_calibration_error : float or None
        ECE of the top-1 confidence: the gap between accuracy and mean
        confidence in each confidence bin, averaged weighted by the bin's
        images (0 is perfectly calibrated). Images whose label the model does
        not know count as wrong, as in ``accuracy``.
    reliability : ReliabilityBins or None
        The confidence bins the ECE is computed from (what
        ``reliability.png`` draws).
    paths : list of str
        The images, in input order.
    y_true, y_pred : ndarray of str
        True and predicted label of each image.
    proba : ndarray of shape (n_images, n_model_classes)
        The model's ``predict_proba`` output.
    face_found : ndarray of bool of shape (n_images,) or None
        Whether a face was found in each image (False: the whole image was
        classified); None for a model that does not crop faces with a
        :class:`~skemotion.FaceCropper`.
    """

    n_images: int
    accuracy: float
    classes: list[str]
    per_class: dict[str, dict[str, Any]]
    macro: dict[str, float]
    confusion: list[list[int]]
    mistakes: list[dict[str, Any]] = field(repr=False)
    weights_used: str | None = None
    precision: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    weighted: dict[str, float] = field(default_factory=dict)
    model_classes: list[str] = field(default_factory=list)
    unknown_labels: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    model_params: dict[str, str] = field(default_factory=dict, repr=False)
    versions: dict[str, str] = field(default_factory=dict, repr=False)
    created: str = ""
    data_description: str | None = None
    top_k: int = 2
    expected_calibration_error: float | None = None
    reliability: ReliabilityBins | None = field(default=None, repr=False)
    paths: list[str] = field(default_factory=list, repr=False)
    y_true: np.ndarray | None = field(default=None, repr=False)
    y_pred: np.ndarray | None = field(default=None, repr=False)
    proba: np.ndarray | None = field(default=None, repr=False)
    face_found: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_correct(self) -> int:
        """Images classified correctly."""
        return self.n_images - len(self.mistakes)

    @property
    def chance_level(self) -> float:
        """Accuracy of guessing uniformly among the model's classes."""
        return 1.0 / max(len(self.model_classes), 1)

    @property
    def no_face(self) -> list[str] | None:
        """The images in which no face was found (the whole image was
        classified), in input order; None when the model does not say."""
        if self.face_found is None:
            return None
        pairs = zip(self.paths, self.face_found, strict=True)
        return [path for path, found in pairs if not found]

    @property
    def majority_rate(self) -> float:
        """Accuracy of always predicting the data's most common known label."""
        counts = [self.class_counts.get(c, 0) for c in self.model_classes]
        return max(counts, default=0) / self.n_images

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-serialisable data (what ``metrics.json`` holds).

        Returns
        -------
        result : dict
            Every attribute except the per-image ``paths``, ``y_true``,
            ``y_pred``, ``proba`` and ``face_found``, plus ``n_correct``,
            ``chance_level``, ``majority_rate`` and ``no_face`` (the images
            where no face was found, None when the model does not say);
            ``reliability`` is
            :meth:`ReliabilityBins.to_dict` (None for an empty bin's
            accuracy and mean confidence).
        """
        return {
            "n_images": self.n_images,
            "n_correct": self.n_correct,
            "accuracy": self.accuracy,
            "expected_calibration_error": self.expected_calibration_error,
            "reliability": (
                None if self.reliability is None else self.reliability.to_dict()
            ),
            "chance_level": self.chance_level,
            "majority_rate": self.majority_rate,
            "no_face": self.no_face,
            "classes": list(self.classes),
            "model_classes": list(self.model_classes),
            "unknown_labels": list(self.unknown_labels),
            "class_counts": dict(self.class_counts),
            "per_class": {k: dict(v) for k, v in self.per_class.items()},
            "macro": dict(self.macro),
            "weighted": dict(self.weighted),
            "confusion": [list(row) for row in self.confusion],
            "mistakes": [
                {**m, "predicted": [list(pair) for pair in m["predicted"]]}
                for m in self.mistakes
            ],
            "weights_used": self.weights_used,
            "precision": self.precision,
            "model_params": dict(self.model_params),
            "versions": dict(self.versions),
            "created": self.created,
            "data_description": self.data_description,
            "top_k": self.top_k,
            "files": dict(self.files),
        }

    def format_text(self) -> str:
        """Accuracy and a per-class table, like scikit-learn's classification report.

        Returns
        -------
        text : str
            An accuracy line, the expected calibration error, the weights
            used and a table of precision,
            recall, F1 and support per label, then macro and weighted
            averages. Labels the model does not know are starred.
        """
        return result_text(self)


def measure(
    paths: list[str],
    y_true: np.ndarray,
    proba: np.ndarray,
    model_classes: list[str],
    *,
    top_k: int,
    n_bins: int,
    details: ModelDetails,
    data_description: str | None = None,
    face_found: np.ndarray | None = None,
) -> EvaluationResult:
    """Every metric of :class:`EvaluationResult` from the model's probabilities.

    ``y_true`` holds the labels as text; ``proba`` has a column per class of
    ``model_classes``; ``details`` describes the model; ``face_found`` says
    whether a face was found in each image (None: not known).
    """
    y_pred = np.array(model_classes, dtype=object)[np.argmax(proba, axis=1)]
    unknown = _unknown_labels(y_true, model_classes)
    classes = [*model_classes, *unknown]
    scores = _class_scores(y_true, y_pred, classes, unknown)
    # images of labels the model does not know are wrong, as in the accuracy
    reliability = _bin_confidence(proba.max(axis=1), y_pred == y_true, n_bins)
    return EvaluationResult(
        n_images=len(paths),
        accuracy=float(np.mean(y_pred == y_true)),
        classes=classes,
        per_class=scores.per_class,
        macro=scores.macro,
        confusion=scores.confusion,
        mistakes=_mistakes(
            paths, y_true, y_pred, proba, model_classes, top_k, face_found
        ),
        weights_used=details.weights_used,
        precision=details.precision,
        weighted=scores.weighted,
        model_classes=list(model_classes),
        unknown_labels=unknown,
        class_counts={label: int(np.sum(y_true == label)) for label in classes},
        model_params=details.model_params,
        versions=details.versions,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        data_description=data_description,
        top_k=top_k,
        expected_calibration_error=reliability.expected_calibration_error,
        reliability=reliability,
        paths=list(paths),
        y_true=y_true,
        y_pred=y_pred,
        proba=proba,
        face_found=face_found,
    )


def _unknown_labels(y_true: np.ndarray, model_classes: list[str]) -> list[str]:
    """The labels of the data that are not classes of the model, sorted."""
    unknown = sorted(set(y_true) - set(model_classes))
    if unknown:
        logger.warning(
            "%d of %d images have labels the model does not know (%s); they "
            "count as mistakes",
            int(np.isin(y_true, unknown).sum()),
            len(y_true),
            ", ".join(unknown),
        )
    return unknown


class _ClassScores(NamedTuple):
    per_class: dict[str, dict[str, Any]]
    macro: dict[str, float]
    weighted: dict[str, float]
    confusion: list[list[int]]


def _class_scores(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], unknown: list[str]
) -> _ClassScores:
    """Per-class precision, recall, F1 and support, their averages, and the
    confusion matrix, rows and columns in the order of ``classes``."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0.0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "known": label not in unknown,
        }
        for i, label in enumerate(classes)
    }
    # as classification_report: average over the labels that are true or predicted
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    values = dict(zip(METRICS, (precision, recall, f1), strict=True))
    macro = {name: float(np.mean(v[present])) for name, v in values.items()}
    weighted = {
        name: float(np.average(v[present], weights=support[present]))
        for name, v in values.items()
    }
    return _ClassScores(per_class, macro, weighted, matrix.tolist())


def _mistakes(
    paths: list[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray,
    model_classes: list[str],
    k: int,
    face_found: np.ndarray | None,
) -> list[dict[str, Any]]:
    """Each wrongly classified image with its ``k`` most probable classes and
    whether a face was found in it, the most confident mistake first."""
    ranked = ranked_classes(proba, model_classes, k)
    wrong = np.flatnonzero(y_pred != y_true)
    order = wrong[np.argsort(-proba[wrong].max(axis=1), kind="stable")]
    return [
        {
            "path": paths[i],
            "true": str(y_true[i]),
            "predicted": [[label, p] for label, p in ranked[i]],
            "face_found": None if face_found is None else bool(face_found[i]),
        }
        for i in order
    ]
