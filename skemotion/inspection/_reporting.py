"""Evaluate a fitted model on labelled images and write a report (model card).

:func:`evaluate_model` calls ``predict_proba`` once on all the images and
derives everything from those probabilities: accuracy, per-class precision,
recall and F1, the confusion matrix, the most confident mistakes and the
calibration of the confidence (expected calibration error and reliability
bins). Given a folder, it also writes three figures, the metrics as JSON and
one self-contained HTML page (``skemotion evaluate MODEL DATA_DIR --report
DIR``).

Figures are drawn on a :class:`matplotlib.figure.Figure` with an Agg canvas:
pyplot is not used and the caller's matplotlib backend is left alone.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import progress_iter
from .._validation import check_paths
from .._version import __version__
from ..datasets._image_io import read_image
from ..prediction import format_topk, top_k
from ..preprocessing._face_cropping import FaceCropper, _expand_box, detect_faces
from ._calibration import ReliabilityBins, _bin_confidence, _check_n_bins

__all__ = ["REPORT_FILES", "TRUST_NOTE", "EvaluationResult", "evaluate_model"]

logger = logging.getLogger(__name__)

#: The note every report carries about model files.
TRUST_NOTE = "Loading a model file runs code stored in it: only load models you trust."

#: The files :func:`evaluate_model` writes into ``report_dir``.
REPORT_FILES = (
    "confusion_matrix.png",
    "worst_mistakes.png",
    "reliability.png",
    "metrics.json",
    "report.html",
)

#: Pipeline parameters shown in the report: those of the four steps.
STEP_PREFIXES = ("crop__", "gray__", "encode__", "classify__")

_DPI = 100
_DISPLAY_SIDE = 256  # longest side, in pixels, of each image in the mistakes figure
_CAPTION_WIDTH = 38  # characters per caption line in the mistakes figure
_METRICS = ("precision", "recall", "f1")


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
        ``{"path", "true", "predicted": [[label, probability], ...]}`` for
        each wrongly classified image, with the ``top_k`` most probable
        classes (the wrong prediction first); the most confident mistake
        first.
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

    @property
    def n_correct(self) -> int:
        """Images classified correctly."""
        return self.n_images - len(self.mistakes)

    @property
    def chance_level(self) -> float:
        """Accuracy of guessing uniformly among the model's classes."""
        return 1.0 / max(len(self.model_classes), 1)

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
            ``y_pred`` and ``proba``, plus ``n_correct``, ``chance_level``
            and ``majority_rate``; ``reliability`` is
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
        lines = [
            f"Accuracy: {self.accuracy:.1%} ({self.n_correct} of {self.n_images} "
            f"images; chance {self.chance_level:.1%})",
        ]
        if self.expected_calibration_error is not None:
            lines.append(
                f"Expected calibration error: {self.expected_calibration_error:.3f} "
                f"({_bins_text(self.reliability)})"
            )
        lines += [
            f"Weights: {self.weights_used or 'unknown'}; precision: "
            f"{self.precision or 'unknown'}",
        ]
        if self.unknown_labels:
            lines.append(
                "Labels the model does not know (always wrong): "
                + ", ".join(self.unknown_labels)
            )
        width = max(len("weighted avg"), *(len(c) + 1 for c in self.classes))
        lines += [
            "",
            f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1-score':>9}  "
            f"{'support':>9}",
            "",
        ]
        for label, m in self.per_class.items():
            name = label if m.get("known", True) else f"{label}*"
            lines.append(
                f"{name:>{width}}  {m['precision']:>9.2f}  {m['recall']:>9.2f}  "
                f"{m['f1']:>9.2f}  {m['support']:>9d}"
            )
        lines += [
            "",
            f"{'accuracy':>{width}}  {'':>9}  {'':>9}  {self.accuracy:>9.2f}  "
            f"{self.n_images:>9d}",
        ]
        for name, avg in (("macro avg", self.macro), ("weighted avg", self.weighted)):
            if avg:
                lines.append(
                    f"{name:>{width}}  {avg['precision']:>9.2f}  "
                    f"{avg['recall']:>9.2f}  {avg['f1']:>9.2f}  {self.n_images:>9d}"
                )
        if self.unknown_labels:
            lines += ["", "* not a class of the model"]
        return "\n".join(lines)


def _bins_text(bins: ReliabilityBins | None) -> str:
    if bins is None:
        return "bins unknown"
    return f"{bins.n_bins} bin{'' if bins.n_bins == 1 else 's'}"


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
        ``classes_`` and ``get_params``. ``predict_proba`` is called once, on
        all the images.
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
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if n_worst < 0:
        raise ValueError(f"n_worst must be 0 or more, got {n_worst}")
    try:
        calibration_bins = _check_n_bins(calibration_bins)
    except ValueError:
        raise ValueError(
            f"calibration_bins must be a positive integer, got {calibration_bins!r}"
        ) from None
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

    logger.info("Predicting %d images", len(paths))
    with _steps_progress(model, progress):
        proba = np.asarray(model.predict_proba(paths), dtype=float)
    if proba.shape != (len(paths), len(model_classes)):
        raise ValueError(
            f"predict_proba returned shape {proba.shape}, expected "
            f"{(len(paths), len(model_classes))}"
        )

    result = _measure(
        model, paths, y_true, proba, model_classes, top_k, calibration_bins
    )
    result.data_description = data_description
    logger.info(
        "Accuracy %.1f%% (%d of %d images), expected calibration error %.3f; "
        "weights: %s",
        100 * result.accuracy,
        result.n_correct,
        result.n_images,
        result.expected_calibration_error,
        result.weights_used,
    )
    if report_dir is not None:
        _write_report(
            result, model, Path(report_dir), n_worst=n_worst, progress=progress
        )
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


@contextmanager
def _steps_progress(model, progress: bool | None) -> Iterator[None]:
    """Set the model's ``<step>__progress`` parameters for the prediction."""
    old: dict[str, Any] = {}
    if progress is not None and hasattr(model, "set_params"):
        try:
            params = model.get_params(deep=True)
        except Exception:  # a model that cannot tell is left alone
            params = {}
        old = {
            k: v
            for k, v in params.items()
            if k.startswith(_step_prefixes(model))
            and k.endswith("__progress")
            and k.count("__") == 1
        }
        if old:
            model.set_params(**dict.fromkeys(old, bool(progress)))
    try:
        yield
    finally:
        if old:
            model.set_params(**old)


def _measure(
    model,
    paths: list[str],
    y_true: np.ndarray,
    proba: np.ndarray,
    model_classes: list[str],
    k: int,
    n_bins: int = 15,
) -> EvaluationResult:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_pred = np.array(model_classes, dtype=object)[np.argmax(proba, axis=1)]
    unknown = sorted(set(y_true) - set(model_classes))
    if unknown:
        logger.warning(
            "%d of %d images have labels the model does not know (%s); they "
            "count as mistakes",
            int(np.isin(y_true, unknown).sum()),
            len(y_true),
            ", ".join(unknown),
        )
    classes = [*model_classes, *unknown]
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
    values = dict(zip(_METRICS, (precision, recall, f1), strict=True))
    macro = {name: float(np.mean(v[present])) for name, v in values.items()}
    weighted = {
        name: float(np.average(v[present], weights=support[present]))
        for name, v in values.items()
    }

    # images of labels the model does not know are wrong, as in the accuracy
    reliability = _bin_confidence(proba.max(axis=1), y_pred == y_true, n_bins)

    ranked = top_k(proba, model_classes, k)
    wrong = np.flatnonzero(y_pred != y_true)
    order = wrong[np.argsort(-proba[wrong].max(axis=1), kind="stable")]
    mistakes = [
        {
            "path": paths[i],
            "true": str(y_true[i]),
            "predicted": [[label, p] for label, p in ranked[i]],
        }
        for i in order
    ]
    return EvaluationResult(
        n_images=len(paths),
        accuracy=float(np.mean(y_pred == y_true)),
        classes=classes,
        per_class=per_class,
        macro=macro,
        confusion=matrix.tolist(),
        mistakes=mistakes,
        weights_used=_network_fact(model, "weights_used_"),
        precision=_network_fact(model, "precision_"),
        weighted=weighted,
        model_classes=list(model_classes),
        unknown_labels=unknown,
        class_counts={label: int(np.sum(y_true == label)) for label in classes},
        model_params=_model_params(model),
        versions=_versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        top_k=k,
        expected_calibration_error=reliability.expected_calibration_error,
        reliability=reliability,
        paths=list(paths),
        y_true=y_true,
        y_pred=y_pred,
        proba=proba,
    )


def _step_prefixes(model) -> tuple[str, ...]:
    """``<step>__`` of each step of a pipeline, in pipeline order."""
    steps = getattr(model, "steps", None) or []
    return tuple(f"{name}__" for name, _ in steps) or STEP_PREFIXES


def _network_fact(model, attribute: str) -> str | None:
    """A fitted attribute (``weights_used_``, ``precision_``) of the step that
    runs the network: the encoder, or a fine-tuner that replaces it."""
    for _, step in getattr(model, "steps", None) or []:
        value = getattr(step, attribute, None)
        if value is not None:
            return str(value)
    value = getattr(model, attribute, None)
    return None if value is None else str(value)


def _model_params(model) -> dict[str, str]:
    try:
        params = model.get_params(deep=True)
    except Exception:  # the report is still useful without them
        logger.warning("Could not read the model's parameters", exc_info=True)
        return {}
    prefixes = _step_prefixes(model)
    steps = [
        (prefixes.index(name.split("__")[0] + "__"), name)
        for name in params
        if name.startswith(prefixes)
    ]
    return {name: repr(params[name]) for _, name in sorted(steps)}  # pipeline order


def _versions() -> dict[str, str]:
    import sklearn

    versions = {
        "python": platform.python_version(),
        "skemotion": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }
    for name, dists in (
        ("keras", ("keras",)),
        ("tensorflow", ("tensorflow", "tensorflow-cpu")),
    ):
        for dist in dists:
            try:
                versions[name] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            break
    return versions


# ----------------------------------------------------------------------------- files


def _write_report(
    result: EvaluationResult,
    model,
    folder: Path,
    *,
    n_worst: int,
    progress: bool | None,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    result.files = {name: str(folder / name) for name in REPORT_FILES}
    shown = result.mistakes[:n_worst]
    views = [
        _model_view(model, m["path"])
        for m in progress_iter(
            shown, total=len(shown), desc="Reading mistakes", progress=progress
        )
    ]
    confusion_png = _png(_plot_confusion(result))
    mistakes_png = _png(_plot_mistakes(result, shown, views))
    reliability_png = _png(_plot_reliability(result))
    metrics = json.dumps(result.to_dict(), indent=2, allow_nan=False)
    page = _render_html(
        result, confusion_png, mistakes_png, n_worst, reliability_png=reliability_png
    )
    (folder / "confusion_matrix.png").write_bytes(confusion_png)
    (folder / "worst_mistakes.png").write_bytes(mistakes_png)
    (folder / "reliability.png").write_bytes(reliability_png)
    (folder / "metrics.json").write_text(metrics + "\n", encoding="utf-8")
    (folder / "report.html").write_text(page, encoding="utf-8")
    logger.info("Report written to %s", folder / "report.html")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    return buffer.getvalue()


def _weights_line(result: EvaluationResult, width: int) -> str:
    text = f"weights: {result.weights_used or 'unknown'}"
    if result.precision:
        text += f" ({result.precision})"
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def _plot_confusion(result: EvaluationResult):
    from matplotlib.ticker import MaxNLocator

    matrix = np.asarray(result.confusion, dtype=int)
    n = len(result.classes)
    side = max(5.0, 0.6 * n + 3.0)
    fig = _figure(side + 1.2, side)
    ax = fig.add_subplot()
    vmax = max(int(matrix.max()), 1)
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8, label="images")
    colorbar.locator = MaxNLocator(integer=True)
    colorbar.update_ticks()
    names = [
        _clip(c, 24) + (" *" if c in result.unknown_labels else "")
        for c in result.classes
    ]
    ax.set_xticks(
        range(n), labels=names, rotation=45, ha="right", rotation_mode="anchor"
    )
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    fontsize = 12 if n <= 8 else 9 if n <= 15 else 7
    for i in range(n):
        for j in range(n):
            count = int(matrix[i, j])
            ax.text(j, i, str(count), ha="center", va="center", fontsize=fontsize,
                    color="white" if count > vmax / 2 else "black")  # fmt: skip
    ax.set_title(
        f"Confusion matrix: accuracy {result.accuracy:.1%} (n = {result.n_images})\n"
        + _weights_line(result, width=int(10 * side)),
        fontsize=11,
    )
    if result.unknown_labels:
        fig.text(0.01, 0.005, "* not a class of the model", fontsize=9,
                 color="0.3", ha="left", va="bottom")  # fmt: skip
    return fig


_ACCURACY_COLOR = "#2f6fb3"
_GAP_COLOR = "#c0392b"
_COUNT_COLOR = "#a9c4e2"


def _plot_reliability(result: EvaluationResult):
    """Reliability diagram: accuracy per confidence bin against the diagonal,
    the gap to each bin's mean confidence, and the images per bin below."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    bins = result.reliability
    fig = _figure(6.6, 7.0)
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3.0, 1.15]}
    )
    lefts, width = bins.edges[:-1], np.diff(bins.edges)
    filled = bins.counts > 0
    accuracy = np.where(filled, bins.accuracy, 0.0)
    confidence = np.where(filled, bins.mean_confidence, 0.0)
    floor = 1.0 / max(len(result.model_classes), 1)  # top-1 confidence >= 1/K

    for ax in (top, bottom):
        ax.set_axisbelow(True)
        ax.grid(True, color="0.9", linewidth=0.8)
        if 0.0 < floor < 1.0:
            ax.axvspan(0.0, floor, color="0.94", zorder=0, linewidth=0)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    top.plot(
        [0, 1],
        [0, 1],
        linestyle="--",
        color="0.45",
        linewidth=1.2,
        label="perfect calibration",
        zorder=3,
    )
    top.bar(
        lefts[filled],
        accuracy[filled],
        width=width[filled],
        align="edge",
        color=_ACCURACY_COLOR,
        edgecolor="white",
        linewidth=1.0,
        label="accuracy",
        zorder=2,
    )
    gap_low = np.minimum(accuracy, confidence)[filled]
    gap = np.abs(accuracy - confidence)[filled]
    top.bar(
        lefts[filled],
        gap,
        bottom=gap_low,
        width=width[filled],
        align="edge",
        facecolor=(0.75, 0.22, 0.17, 0.18),
        edgecolor=_GAP_COLOR,
        hatch="///",
        linewidth=0.8,
        label="gap to mean confidence",
        zorder=2,
    )
    handles, labels = top.get_legend_handles_labels()
    if 0.0 < floor < 1.0:
        handles.append(Patch(facecolor="0.94", edgecolor="0.8"))
        labels.append(f"below 1/{len(result.model_classes)}: no top-1 confidence")
    top.legend(handles, labels, loc="upper left", fontsize=9, framealpha=0.95)
    top.set_xlim(0.0, 1.0)
    top.set_ylim(0.0, 1.02)
    top.set_ylabel("accuracy")
    top.set_title(
        f"Reliability diagram: ECE {result.expected_calibration_error:.3f} "
        f"({_bins_text(bins)}, n = {result.n_images})\n"
        + _weights_line(result, width=70),
        fontsize=11,
    )

    bottom.bar(
        lefts,
        bins.counts,
        width=width,
        align="edge",
        color=_COUNT_COLOR,
        edgecolor="white",
        linewidth=1.0,
        zorder=2,
    )
    highest = max(int(bins.counts.max()), 1)
    if bins.n_bins <= 30:
        for left, w, count in zip(lefts, width, bins.counts, strict=True):
            if count:
                bottom.text(
                    left + w / 2,
                    count + 0.03 * highest,
                    str(int(count)),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="0.25",
                    zorder=4,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6},
                )
    mean_confidence = float(np.sum(bins.counts[filled] * confidence[filled])) / max(
        bins.n_samples, 1
    )
    bottom.axvline(
        result.accuracy,
        color=_ACCURACY_COLOR,
        linewidth=1.6,
        label=f"accuracy {result.accuracy:.1%}",
        zorder=3,
    )
    bottom.axvline(
        mean_confidence,
        color="0.2",
        linestyle="--",
        linewidth=1.4,
        label=f"mean confidence {mean_confidence:.1%}",
        zorder=3,
    )
    bottom.set_ylim(0, highest * 1.3)
    bottom.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    bottom.set_ylabel("images")
    bottom.set_xlabel("top-1 confidence (probability of the predicted class)")
    bottom.legend(loc="upper left", fontsize=8, framealpha=0.95)
    return fig


def _model_view(model, path: str) -> tuple[np.ndarray | None, str | None]:
    """The image as the model saw it (the face crop, gray) and a note, if any.

    The crop is cut, as the model's ``crop`` step cuts it, from the
    full-resolution image, then shrunk for display only (not to the model's
    input size).
    """
    steps = getattr(model, "named_steps", None) or {}
    crop = steps.get("crop")
    note = None
    try:
        max_pixels = crop.max_pixels if isinstance(crop, FaceCropper) else None
        image = read_image(path, max_pixels=max_pixels)
        if isinstance(crop, FaceCropper) and crop.detector != "none":
            boxes = detect_faces(
                image,
                crop.detector,
                upsample=crop.upsample,
                max_detection_side=crop.max_detection_side,
            )
            if len(boxes):
                left, top, right, bottom = _expand_box(
                    boxes[0], crop.margin, image.shape
                )
                image = image[top:bottom, left:right]
            else:
                note = "no face found: whole image"
        image = _shrink(image)
        gray = steps.get("gray")
        if gray is not None:
            image = np.asarray(gray.transform(image[np.newaxis]))[0]
    except Exception as exc:  # one unreadable image must not stop the report
        logger.warning("Could not show %s in the mistakes figure: %s", path, exc)
        return None, "image could not be read"
    return image, note


def _shrink(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    if max(image.shape[:2]) <= _DISPLAY_SIDE:
        return image
    pil = Image.fromarray(image)
    pil.thumbnail((_DISPLAY_SIDE, _DISPLAY_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(pil)


def _caption_lines(predicted: list) -> list[str]:
    """``"pred: 62.1% Y, 20.4% Z"``, broken between classes when too long."""
    pieces = [format_topk([(label, p)]) for label, p in predicted]
    lines: list[str] = []
    current = "pred:"
    for i, piece in enumerate(pieces):
        piece += "," if i < len(pieces) - 1 else ""
        if (
            current.strip() != "pred:"
            and len(current) + 1 + len(piece) > _CAPTION_WIDTH
        ):
            lines.append(current)
            current = "      " + piece
        else:
            current = f"{current} {piece}"
    lines.append(current)
    return lines


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]


def _plot_mistakes(
    result: EvaluationResult,
    shown: list[dict],
    views: list[tuple[np.ndarray | None, str | None]],
):
    n_mistakes = len(result.mistakes)
    if not shown:
        fig = _figure(6.0, 2.0)
        if n_mistakes == 0:
            message = (
                f"No mistakes: all {result.n_images} images were classified correctly."
            )
        else:
            message = f"{n_mistakes} mistake(s), none shown (n_worst=0)."
        fig.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
        return fig
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    width = max(6.0, 3.0 * cols)
    fig = _figure(width, 3.6 * rows + 0.8)
    which = (
        ("The only mistake" if n_mistakes == 1 else f"All {n_mistakes} mistakes")
        if len(shown) == n_mistakes
        else f"The {len(shown)} most confident of {n_mistakes} mistakes"
    )
    fig.suptitle(
        f"{which} (n = {result.n_images}, accuracy {result.accuracy:.1%})\n"
        + _weights_line(result, width=int(11 * width)),
        fontsize=11,
    )
    for index, (mistake, (image, note)) in enumerate(zip(shown, views, strict=True)):
        ax = fig.add_subplot(rows, cols, index + 1)
        if image is None:
            ax.imshow(np.full((8, 8), 0.85), cmap="gray", vmin=0, vmax=1)
        elif image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
        ax.set_xticks([])
        ax.set_yticks([])
        caption = [f"true: {mistake['true']}", *_caption_lines(mistake["predicted"])]
        ax.set_title("\n".join(caption), fontsize=9, loc="left")
        footer = _shorten(os.path.basename(mistake["path"]), 34)
        if note:
            footer += f"\n({note})"
        ax.set_xlabel(footer, fontsize=7, color="0.35")
    return fig


# ------------------------------------------------------------------------------ html

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color: #1d2330; background: #f3f4f6; margin: 0; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 40px; background: #fff; }
h1 { font-size: 1.7em; margin: 0 0 2px; }
h2 { font-size: 1.25em; margin: 30px 0 10px; border-bottom: 1px solid #dde1e7;
     padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
.subtitle, .muted, figcaption { color: #5a6272; }
.subtitle { margin: 0 0 16px; }
.weights { border: 2px solid #2f6fb3; background: #eef5fc; border-radius: 6px;
           padding: 10px 16px; font-size: 1.15em; margin: 14px 0; }
.weights.random { border-color: #c77700; background: #fff6e5; }
.weights p { margin: 4px 0 0; font-size: 0.82em; }
.accuracy { font-size: 2em; font-weight: 600; margin: 10px 0 4px; }
.accuracy .ece { font-size: 0.55em; font-weight: 500; color: #5a6272;
                 margin-left: 14px; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.stat { border: 1px solid #dde1e7; border-radius: 6px; padding: 8px 14px; }
.stat .value { font-size: 1.35em; font-weight: 600; }
.stat .name { color: #5a6272; font-size: 0.85em; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 0.95em; }
th, td { border-bottom: 1px solid #e4e7ec; padding: 4px 12px; text-align: left;
         vertical-align: top; }
th { background: #f1f3f6; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.unknown td { color: #a23b00; }
tr.avg td { font-style: italic; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em;
       overflow-wrap: anywhere; }
figure { margin: 10px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e7ec; }
figcaption { font-size: 0.9em; }
.note { border-left: 4px solid #a23b00; background: #fbf1ec; padding: 8px 14px;
        margin: 28px 0 0; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _stat(value: str, name: str) -> str:
    return (
        f'<div class="stat"><div class="value">{_e(value)}</div>'
        f'<div class="name">{_e(name)}</div></div>'
    )


def _render_html(
    result: EvaluationResult,
    confusion_png: bytes,
    mistakes_png: bytes,
    n_worst: int,
    *,
    reliability_png: bytes | None = None,
) -> str:
    created = datetime.fromisoformat(result.created).strftime("%Y-%m-%d %H:%M UTC")
    weights = result.weights_used
    is_random = weights is not None and weights.startswith("random")
    if weights is None:
        weights_note = "The model's encoder does not say which weights it holds."
    elif is_random:
        weights_note = (
            "Random VGG16 weights: the features carry nothing learned, so accuracy "
            f"near chance ({result.chance_level:.1%}) is expected."
        )
    else:
        weights_note = "Report these weights with every accuracy figure."
    versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>skemotion model report: accuracy {result.accuracy:.1%}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<h1>skemotion model report</h1>",
        f'<p class="subtitle">{_e(created)} &middot; {_e(versions)}</p>',
        f'<div class="weights{" random" if is_random else ""}">Weights used: '
        f"<strong>{_e(weights or 'unknown')}</strong>, computed in "
        f"<strong>{_e(result.precision or 'unknown precision')}</strong>"
        f"<p>{_e(weights_note)}</p></div>",
        f'<p class="accuracy">Accuracy {result.accuracy:.1%}{_ece_span(result)}</p>',
        '<div class="stats">',
        _stat(f"{result.n_correct} of {result.n_images}", "images right"),
        _stat(
            f"{result.chance_level:.1%}",
            f"chance ({len(result.model_classes)} classes)",
        ),
        _stat(f"{result.majority_rate:.1%}", "always the most common class"),
        _stat(f"{result.macro['f1']:.2f}", "macro-average F1"),
        "</div>",
        "<h2>Data</h2>",
        _data_section(result),
        "<h2>Results per class</h2>",
        _per_class_table(result),
        "<h2>Confusion matrix</h2>",
        "<figure>",
        _img(confusion_png, "Confusion matrix"),
        "<figcaption>Rows: true label; columns: predicted label; cells: images."
        "</figcaption>",
        "</figure>",
        *_calibration_section(result, reliability_png),
        "<h2>Worst mistakes</h2>",
        "<figure>",
        _img(mistakes_png, "The most confident mistakes"),
        f"<figcaption>{len(result.mistakes)} mistakes in all; up to {n_worst} shown, "
        "the most confident first, as the model saw them (face crop, gray)."
        "</figcaption>",
        "</figure>",
        "<h2>Model</h2>",
        _model_section(result),
        f'<p class="note">{_e(TRUST_NOTE)}</p>',
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _ece_span(result: EvaluationResult) -> str:
    if result.expected_calibration_error is None:
        return ""
    return (
        f'<span class="ece">expected calibration error '
        f"<strong>{result.expected_calibration_error:.3f}</strong> "
        f"({_bins_text(result.reliability)})</span>"
    )


def _calibration_section(
    result: EvaluationResult, reliability_png: bytes | None
) -> list[str]:
    if result.expected_calibration_error is None or result.reliability is None:
        return []
    bins = result.reliability
    parts = [
        "<h2>Calibration</h2>",
        f"<p>Expected calibration error (ECE): "
        f"<strong>{result.expected_calibration_error:.3f}</strong>, over "
        f"{_bins_text(bins)} of equal width of top-1 confidence. An image's "
        "confidence is the probability of its predicted class; in each bin the "
        "accuracy is compared with the mean confidence, and the ECE averages "
        "the gaps weighted by the bin's images: 0 when the model is exactly as "
        "sure as it is right, up to 1 (always sure, always wrong).</p>",
    ]
    if reliability_png is not None:
        parts += [
            "<figure>",
            _img(reliability_png, "Reliability diagram"),
            "<figcaption>Bars: accuracy per confidence bin; hatched: gap to the "
            "bin's mean confidence; dashed: perfect calibration. Below: images "
            "per bin. Bars under the diagonal: overconfident; above: "
            "underconfident. With few images per bin the gaps are noisy."
            "</figcaption>",
            "</figure>",
        ]
    return parts


def _data_section(result: EvaluationResult) -> str:
    rows = "".join(
        f'<tr class="{"unknown" if label in result.unknown_labels else ""}">'
        f'<td>{_e(label)}</td><td class="num">{count}</td>'
        f"<td>{'no' if label in result.unknown_labels else 'yes'}</td></tr>"
        for label, count in result.class_counts.items()
    )
    description = (
        f"<p>{_e(result.data_description)}</p>" if result.data_description else ""
    )
    unknown = ""
    if result.unknown_labels:
        unknown = (
            '<p class="muted">Labels the model does not know, counted as mistakes: '
            f"{_e(', '.join(result.unknown_labels))}.</p>"
        )
    return (
        f"{description}<p><strong>{result.n_images}</strong> images.</p>"
        '<table><thead><tr><th>label</th><th class="num">images</th>'
        f"<th>class of the model</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{unknown}"
    )


def _per_class_table(result: EvaluationResult) -> str:
    def row(name: str, m: dict, support: int, css: str) -> str:
        cells = "".join(f'<td class="num">{m[k]:.2f}</td>' for k in _METRICS)
        return (
            f'<tr class="{css}"><td>{_e(name)}</td>{cells}'
            f'<td class="num">{support}</td></tr>'
        )

    body = [
        row(label, m, m["support"], "" if m.get("known", True) else "unknown")
        for label, m in result.per_class.items()
    ]
    body.append(row("macro avg", result.macro, result.n_images, "avg"))
    if result.weighted:
        body.append(row("weighted avg", result.weighted, result.n_images, "avg"))
    return (
        '<table><thead><tr><th>label</th><th class="num">precision</th>'
        '<th class="num">recall</th><th class="num">F1</th>'
        '<th class="num">support</th></tr></thead><tbody>'
        + "".join(body)
        + "</tbody></table>"
        '<p class="muted">Averages are over the labels that are true or predicted '
        "for at least one image.</p>"
    )


def _model_section(result: EvaluationResult) -> str:
    if result.model_params:
        params = "".join(
            f"<tr><td><code>{_e(name)}</code></td><td><code>{_e(value)}</code></td></tr>"
            for name, value in result.model_params.items()
        )
        params_table = (
            "<table><thead><tr><th>parameter</th><th>value</th></tr></thead>"
            f"<tbody>{params}</tbody></table>"
        )
    else:
        params_table = '<p class="muted">The model reports no step parameters.</p>'
    versions = "".join(
        f"<tr><td>{_e(name)}</td><td><code>{_e(version)}</code></td></tr>"
        for name, version in result.versions.items()
    )
    return (
        f"<p>Weights used: <strong>{_e(result.weights_used or 'unknown')}</strong>"
        f"; precision: <strong>{_e(result.precision or 'unknown')}</strong></p>"
        f"<p>Classes ({len(result.model_classes)}): "
        f"{_e(', '.join(result.model_classes))}</p>"
        f"<h3>Parameters</h3>{params_table}"
        "<h3>Versions</h3>"
        "<table><thead><tr><th>package</th><th>version</th></tr></thead>"
        f"<tbody>{versions}</tbody></table>"
    )
