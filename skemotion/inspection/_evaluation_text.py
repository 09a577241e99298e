"""An evaluation in words: the text summary of an :class:`EvaluationResult`.

:func:`result_text` is :meth:`EvaluationResult.format_text` (accuracy, the
calibration, the weights, then a table like scikit-learn's classification
report); :func:`bins_text` is the "15 bins" the text, the page and the figures
say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._calibration import ReliabilityBins
    from ._evaluation import EvaluationResult

__all__ = ["bins_text", "result_text"]


def bins_text(bins: ReliabilityBins | None) -> str:
    """``"15 bins"``, ``"1 bin"``, or ``"bins unknown"``."""
    if bins is None:
        return "bins unknown"
    return f"{bins.n_bins} bin{'' if bins.n_bins == 1 else 's'}"


def result_text(result: EvaluationResult) -> str:
    """Accuracy, calibration and weights lines, then the per-class table."""
    return "\n".join([*_headline(result), *_table(result)])


def _headline(result: EvaluationResult) -> list[str]:
    lines = [
        f"Accuracy: {result.accuracy:.1%} ({result.n_correct} of {result.n_images} "
        f"images; chance {result.chance_level:.1%})",
    ]
    if result.expected_calibration_error is not None:
        lines.append(
            f"Expected calibration error: {result.expected_calibration_error:.3f} "
            f"({bins_text(result.reliability)})"
        )
    lines += [
        f"Weights: {result.weights_used or 'unknown'}; precision: "
        f"{result.precision or 'unknown'}",
    ]
    no_face = result.no_face
    if no_face:
        lines.append(
            f"No face found in {len(no_face)} of {result.n_images} images: the "
            "whole image was classified"
        )
    if result.unknown_labels:
        lines.append(
            "Labels the model does not know (always wrong): "
            + ", ".join(result.unknown_labels)
        )
    return lines


def _table(result: EvaluationResult) -> list[str]:
    """Precision, recall, F1 and support per label, then the averages."""
    width = max(len("weighted avg"), *(len(c) + 1 for c in result.classes))
    lines = [
        "",
        f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1-score':>9}  "
        f"{'support':>9}",
        "",
    ]
    for label, m in result.per_class.items():
        name = label if m.get("known", True) else f"{label}*"
        lines.append(
            f"{name:>{width}}  {m['precision']:>9.2f}  {m['recall']:>9.2f}  "
            f"{m['f1']:>9.2f}  {m['support']:>9d}"
        )
    lines += [
        "",
        f"{'accuracy':>{width}}  {'':>9}  {'':>9}  {result.accuracy:>9.2f}  "
        f"{result.n_images:>9d}",
    ]
    for name, avg in (("macro avg", result.macro), ("weighted avg", result.weighted)):
        if avg:
            lines.append(
                f"{name:>{width}}  {avg['precision']:>9.2f}  "
                f"{avg['recall']:>9.2f}  {avg['f1']:>9.2f}  {result.n_images:>9d}"
            )
    if result.unknown_labels:
        lines += ["", "* not a class of the model"]
    return lines
