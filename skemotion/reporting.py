"""Evaluate a fitted model on labelled images and write a report (model card)."""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import prediction
from .prediction import format_topk

__all__ = ["EvaluationResult", "evaluate_model"]

logger = logging.getLogger(__name__)

TRUST_NOTE = "Loading a model file runs code stored in it: only load models you trust."


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
        Row/column order of ``confusion`` and ``per_class``: the model's
        classes, then any label the model does not know.
    per_class : dict
        ``{label: {"precision", "recall", "f1", "support"}}``.
    macro : dict
        Unweighted means of precision, recall and F1 over classes with support.
    confusion : list of list of int
        Counts, rows = true label, columns = predicted label.
    mistakes : list of dict
        ``{"path", "true", "predicted": [[label, probability], ...]}`` for each
        wrong prediction, most confident mistake first.
    weights_used : str or None
        The encoder weights of the model.
    files : dict
        Report files written (name -> path), when a report folder was given.
    """

    n_images: int
    accuracy: float
    classes: list[str]
    per_class: dict[str, dict]
    macro: dict[str, float]
    confusion: list[list[int]]
    mistakes: list[dict]
    weights_used: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The result as plain JSON-serialisable data."""
        return {
            "n_images": self.n_images,
            "accuracy": self.accuracy,
            "classes": self.classes,
            "per_class": self.per_class,
            "macro": self.macro,
            "confusion": self.confusion,
            "mistakes": self.mistakes,
            "weights_used": self.weights_used,
            "files": self.files,
        }

    def format_text(self) -> str:
        """Accuracy and a per-class table, like scikit-learn's classification report."""
        width = max(12, *(len(c) for c in self.classes))
        lines = [
            f"Accuracy: {self.accuracy:.1%} on {self.n_images} images "
            f"(encoder weights: {self.weights_used})",
            "",
            f"{'':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}",
        ]
        for label in self.classes:
            m = self.per_class[label]
            lines.append(
                f"{label:<{width}} {m['precision']:>9.2f} {m['recall']:>9.2f} "
                f"{m['f1']:>9.2f} {m['support']:>9d}"
            )
        lines.append(
            f"{'macro avg':<{width}} {self.macro['precision']:>9.2f} "
            f"{self.macro['recall']:>9.2f} {self.macro['f1']:>9.2f} "
            f"{self.n_images:>9d}"
        )
        return "\n".join(lines)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _plot_confusion(result: EvaluationResult):
    matrix = np.asarray(result.confusion)
    n = len(result.classes)
    size = max(4.5, 0.7 * n + 2.5)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="images")
    ax.set_xticks(range(n), labels=result.classes, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=result.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > threshold else "black")  # fmt: skip
    ax.set_title(f"Confusion matrix: accuracy {result.accuracy:.1%}, "
                 f"n = {result.n_images}")  # fmt: skip
    fig.tight_layout()
    return fig


def _plot_mistakes(result: EvaluationResult, crops: np.ndarray | None, n_worst: int):
    mistakes = result.mistakes[:n_worst]
    if not mistakes:
        fig = _figure(6, 2)
        fig.text(0.5, 0.5, "No mistakes: every image was classified correctly.",
                 ha="center", va="center", fontsize=13)  # fmt: skip
        return fig
    cols = min(4, len(mistakes))
    rows = int(np.ceil(len(mistakes) / cols))
    fig = _figure(3.3 * cols, 4.1 * rows + 0.6)
    for k, mistake in enumerate(mistakes):
        ax = fig.add_subplot(rows, cols, k + 1)
        if crops is not None:
            ax.imshow(crops[k])
        ax.set_xticks([])
        ax.set_yticks([])
        pred = format_topk([tuple(p) for p in mistake["predicted"]])
        ax.set_title(f"true: {mistake['true']}\npred: {pred}", fontsize=9)
        ax.set_xlabel(Path(mistake["path"]).name[:32], fontsize=7)
    fig.suptitle(f"The {len(mistakes)} most confident mistakes", fontsize=13)
    fig.tight_layout(h_pad=2.0, w_pad=1.0)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _versions() -> dict[str, str]:
    import keras
    import sklearn

    from . import __version__

    return {"skemotion": __version__, "scikit-learn": sklearn.__version__,
            "keras": keras.__version__}  # fmt: skip


def _html_report(result, model, description, images: dict[str, bytes]) -> str:
    esc = html.escape
    params = {
        k: v
        for k, v in model.get_params(deep=True).items()
        if k.split("__")[0] in ("crop", "gray", "encode", "classify") and "__" in k
    }
    param_rows = "".join(
        f"<tr><td><code>{esc(k)}</code></td><td><code>{esc(repr(v))}</code></td></tr>"
        for k, v in sorted(params.items())
    )
    class_rows = "".join(
        f"<tr><td>{esc(c)}</td><td>{m['precision']:.2f}</td><td>{m['recall']:.2f}</td>"
        f"<td>{m['f1']:.2f}</td><td>{m['support']}</td></tr>"
        for c, m in result.per_class.items()
    )
    version_text = ", ".join(f"{k} {v}" for k, v in _versions().items())
    figures = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}"><figcaption>{esc(name)}</figcaption>'
        "</figure>"
        for name, data in images.items()
    )
    today = datetime.date.today().isoformat()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>skemotion model report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto;
       padding: 0 1em; color: #222; }}
h1 {{ margin-bottom: 0.2em; }}
.weights {{ background: #fff4ce; border-left: 5px solid #e0a800; padding: 0.6em 1em;
           font-size: 1.1em; }}
.accuracy {{ font-size: 2em; font-weight: bold; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
th {{ background: #f0f0f0; }}
figure {{ margin: 1em 0; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
.note {{ color: #8a1c1c; }}
</style></head><body>
<h1>skemotion model report</h1>
<p>{esc(today)} &middot; {esc(version_text)}</p>
<p class="weights">Encoder weights: <strong>{esc(str(result.weights_used))}</strong></p>
<h2>Data</h2>
<p>{esc(description or f"{result.n_images} images")}</p>
<h2>Results</h2>
<p class="accuracy">Accuracy {result.accuracy:.1%}</p>
<p>{result.n_images} images, {len(result.mistakes)} mistakes; macro F1
{result.macro["f1"]:.2f}.</p>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>
<th>support</th></tr>{class_rows}</table>
{figures}
<h2>Model parameters</h2>
<table><tr><th>parameter</th><th>value</th></tr>{param_rows}</table>
<p class="note">{esc(TRUST_NOTE)}</p>
</body></html>
"""


def evaluate_model(
    model,
    paths,
    labels,
    report_dir: str | os.PathLike | None = None,
    *,
    top_k: int = 2,
    n_worst: int = 12,
    data_description: str | None = None,
    progress: bool | None = None,
) -> EvaluationResult:
    """Measure a fitted emotion pipeline on labelled images.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline from :func:`~skemotion.make_emotion_pipeline`.
    paths : array-like of str
        Image files.
    labels : array-like of str
        Their true labels. Labels the model does not know count as errors
        and get their own row in the confusion matrix.
    report_dir : str or os.PathLike, optional
        Folder to write ``confusion_matrix.png``, ``worst_mistakes.png``,
        ``metrics.json`` and ``report.html`` (a self-contained model card).
    top_k : int, default=2
        Predicted classes shown for each mistake.
    n_worst : int, default=12
        Mistakes shown in ``worst_mistakes.png``.
    data_description : str, optional
        A sentence about the data, for the report.
    progress : bool or None, default=None
        Progress bars while cropping and encoding.

    Returns
    -------
    result : EvaluationResult
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    paths = [os.fspath(p) for p in paths]
    labels = np.asarray([str(y) for y in labels], dtype=object)
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    for name in ("crop", "encode", "classify"):
        step = model.named_steps.get(name) if hasattr(model, "named_steps") else None
        if step is not None and hasattr(step, "progress") and progress is not None:
            step.set_params(progress=progress)
    proba = model.predict_proba(paths)  # once; everything below derives from it
    known = [str(c) for c in model.classes_]
    classes = known + sorted(set(labels) - set(known))
    predicted = np.asarray(known, dtype=object)[proba.argmax(axis=1)]
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0
    )
    per_class = {
        c: {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for c, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    }
    present = support > 0
    macro = {
        "precision": float(precision[present].mean()),
        "recall": float(recall[present].mean()),
        "f1": float(f1[present].mean()),
    }
    ranked = prediction.top_k(proba, known, top_k)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-proba[wrong].max(axis=1), kind="stable")]
    mistakes = [
        {
            "path": paths[i],
            "true": str(labels[i]),
            "predicted": [[c, float(p)] for c, p in ranked[i]],
        }
        for i in order
    ]
    encode = model.named_steps.get("encode") if hasattr(model, "named_steps") else None
    result = EvaluationResult(
        n_images=len(paths),
        accuracy=float(np.mean(predicted == labels)),
        classes=classes,
        per_class=per_class,
        macro=macro,
        confusion=confusion_matrix(labels, predicted, labels=classes).tolist(),
        mistakes=mistakes,
        weights_used=getattr(encode, "weights_used_", None),
    )
    if report_dir is not None:
        _write_report(result, model, Path(report_dir), n_worst, data_description)
    return result


def _write_report(result, model, folder: Path, n_worst: int, description) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    worst = [m["path"] for m in result.mistakes[:n_worst]]
    crop = model.named_steps.get("crop")
    crops = crop.transform(worst) if worst and crop is not None else None
    images = {
        "confusion_matrix.png": _png(_plot_confusion(result)),
        "worst_mistakes.png": _png(_plot_mistakes(result, crops, n_worst)),
    }
    for name, data in images.items():
        (folder / name).write_bytes(data)
        result.files[name] = str(folder / name)
    result.files["metrics.json"] = str(folder / "metrics.json")
    result.files["report.html"] = str(folder / "report.html")
    (folder / "metrics.json").write_text(json.dumps(result.to_dict(), indent=2))
    (folder / "report.html").write_text(
        _html_report(result, model, description, images), encoding="utf-8"
    )
    logger.info("Report written to %s", folder)
