"""The report's page: one self-contained HTML model card.

:func:`render_html` writes the page from an :class:`EvaluationResult` and its
figures (:class:`ReportFigures`), embedded as data URLs: no script, no
external resource. Every value from the data or the model is escaped.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._evaluation import METRICS
from ._evaluation_text import bins_text

if TYPE_CHECKING:
    from ._evaluation import EvaluationResult
    from ._figures import ReportFigures

__all__ = ["TRUST_NOTE", "render_html"]

#: The note every report carries about model files.
TRUST_NOTE = "Loading a model file runs code stored in it: only load models you trust."

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


def render_html(result: EvaluationResult, figures: ReportFigures, n_worst: int) -> str:
    """The page ``report.html``: ``n_worst`` is how many mistakes the mistakes
    figure shows at most."""
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
        *_summary(result),
        "<h2>Data</h2>",
        _data_section(result),
        "<h2>Results per class</h2>",
        _per_class_table(result),
        "<h2>Confusion matrix</h2>",
        "<figure>",
        _img(figures.confusion, "Confusion matrix"),
        "<figcaption>Rows: true label; columns: predicted label; cells: images."
        "</figcaption>",
        "</figure>",
        *_calibration_section(result, figures.reliability),
        "<h2>Worst mistakes</h2>",
        "<figure>",
        _img(figures.mistakes, "The most confident mistakes"),
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


def _summary(result: EvaluationResult) -> list[str]:
    """The title, the weights used (boxed), the accuracy and the key numbers."""
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
    return [
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
    ]


def _ece_span(result: EvaluationResult) -> str:
    if result.expected_calibration_error is None:
        return ""
    return (
        f'<span class="ece">expected calibration error '
        f"<strong>{result.expected_calibration_error:.3f}</strong> "
        f"({bins_text(result.reliability)})</span>"
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
        f"{bins_text(bins)} of equal width of top-1 confidence. An image's "
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
    no_face = result.no_face
    if no_face:
        unknown += (
            f"<p>No face found in <strong>{len(no_face)}</strong> of "
            f"{result.n_images} images: the whole image was classified.</p>"
        )
    return (
        f"{description}<p><strong>{result.n_images}</strong> images.</p>"
        '<table><thead><tr><th>label</th><th class="num">images</th>'
        f"<th>class of the model</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{unknown}"
    )


def _per_class_table(result: EvaluationResult) -> str:
    def row(name: str, m: dict, support: int, css: str) -> str:
        cells = "".join(f'<td class="num">{m[k]:.2f}</td>' for k in METRICS)
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
