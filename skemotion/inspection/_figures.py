"""The report's figures: confusion matrix, reliability diagram, worst mistakes.

Each is drawn on a :class:`matplotlib.figure.Figure` with an Agg canvas and
saved as PNG bytes (:class:`ReportFigures`): pyplot is not used and the
caller's matplotlib backend is left alone.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..prediction import format_topk
from ._evaluation_text import bins_text

if TYPE_CHECKING:
    from ._evaluation import EvaluationResult
    from ._mistake_views import MistakeView

__all__ = ["ReportFigures", "draw_figures"]

_DPI = 100
_CAPTION_WIDTH = 38  # characters per caption line in the mistakes figure


class ReportFigures(NamedTuple):
    """The report's figures, as PNG files' bytes.

    Attributes
    ----------
    confusion : bytes
        ``confusion_matrix.png``.
    mistakes : bytes
        ``worst_mistakes.png``.
    reliability : bytes
        ``reliability.png``.
    """

    confusion: bytes
    mistakes: bytes
    reliability: bytes


def draw_figures(
    result: EvaluationResult, shown: list[dict], views: list[MistakeView]
) -> ReportFigures:
    """Draw the three figures; ``shown`` are the mistakes to show (the most
    confident first) and ``views`` their images."""
    return ReportFigures(
        confusion=_png(_plot_confusion(result)),
        mistakes=_png(_plot_mistakes(result, shown, views)),
        reliability=_png(_plot_reliability(result)),
    )


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
    # a compiled network names its precision in its weights already
    if result.precision and result.precision not in text:
        text += f" ({result.precision})"
    # at spaces where it can; a long file path is broken inside it
    return textwrap.fill(text, width, break_on_hyphens=False)


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


class _Bars(NamedTuple):
    """Where a reliability diagram's bars go: one per bin."""

    lefts: np.ndarray
    width: np.ndarray
    filled: np.ndarray  # bins with images
    accuracy: np.ndarray  # 0 for an empty bin
    confidence: np.ndarray  # mean confidence, 0 for an empty bin


def _plot_reliability(result: EvaluationResult):
    """Reliability diagram: accuracy per confidence bin against the diagonal,
    the gap to each bin's mean confidence, and the images per bin below."""
    bins = result.reliability
    fig = _figure(6.6, 7.0)
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3.0, 1.15]}
    )
    filled = bins.counts > 0
    bars = _Bars(
        lefts=bins.edges[:-1],
        width=np.diff(bins.edges),
        filled=filled,
        accuracy=np.where(filled, bins.accuracy, 0.0),
        confidence=np.where(filled, bins.mean_confidence, 0.0),
    )
    floor = 1.0 / max(len(result.model_classes), 1)  # top-1 confidence >= 1/K
    for ax in (top, bottom):
        _frame(ax, floor)
    _draw_calibration(top, result, bars, floor)
    _draw_bin_counts(bottom, result, bars)
    return fig


def _frame(ax, floor: float) -> None:
    """Grid, no top and right spines, and the confidences below 1/K shaded."""
    ax.set_axisbelow(True)
    ax.grid(True, color="0.9", linewidth=0.8)
    if 0.0 < floor < 1.0:
        ax.axvspan(0.0, floor, color="0.94", zorder=0, linewidth=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_calibration(top, result: EvaluationResult, bars: _Bars, floor: float):
    """The diagonal, the accuracy bars and their gaps to the mean confidence."""
    from matplotlib.patches import Patch

    filled = bars.filled
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
        bars.lefts[filled],
        bars.accuracy[filled],
        width=bars.width[filled],
        align="edge",
        color=_ACCURACY_COLOR,
        edgecolor="white",
        linewidth=1.0,
        label="accuracy",
        zorder=2,
    )
    top.bar(
        bars.lefts[filled],
        np.abs(bars.accuracy - bars.confidence)[filled],
        bottom=np.minimum(bars.accuracy, bars.confidence)[filled],
        width=bars.width[filled],
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
        f"({bins_text(result.reliability)}, n = {result.n_images})\n"
        + _weights_line(result, width=70),
        fontsize=11,
    )


def _draw_bin_counts(bottom, result: EvaluationResult, bars: _Bars) -> None:
    """Images per bin, with the accuracy and the mean confidence marked."""
    from matplotlib.ticker import MaxNLocator

    bins = result.reliability
    bottom.bar(
        bars.lefts,
        bins.counts,
        width=bars.width,
        align="edge",
        color=_COUNT_COLOR,
        edgecolor="white",
        linewidth=1.0,
        zorder=2,
    )
    highest = max(int(bins.counts.max()), 1)
    if bins.n_bins <= 30:
        for left, w, count in zip(bars.lefts, bars.width, bins.counts, strict=True):
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
    filled = bars.filled
    mean_confidence = float(
        np.sum(bins.counts[filled] * bars.confidence[filled])
    ) / max(bins.n_samples, 1)
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
    result: EvaluationResult, shown: list[dict], views: list[MistakeView]
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
    # a face with its map beside it is twice as wide as it is tall
    beside = any(v.saliency is not None for v in views)
    fig = _figure(width, (2.6 if beside else 3.6) * rows + 1.0)
    which = (
        ("The only mistake" if n_mistakes == 1 else f"All {n_mistakes} mistakes")
        if len(shown) == n_mistakes
        else f"The {len(shown)} most confident of {n_mistakes} mistakes"
    )
    methods = sorted({v.method for v in views if v.method})
    maps = (
        f"\nbeside each face: what made the model predict its class "
        f"(saliency, {', '.join(methods)}: red most)"
        if methods
        else ""
    )
    fig.suptitle(
        f"{which} (n = {result.n_images}, accuracy {result.accuracy:.1%})\n"
        + _weights_line(result, width=int(11 * width))
        + maps,
        fontsize=11,
    )
    for index, (mistake, view) in enumerate(zip(shown, views, strict=True)):
        image, note = view.image, view.note
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
