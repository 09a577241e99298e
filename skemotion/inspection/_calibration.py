"""How far a model's confidence is from its accuracy: reliability bins and ECE.

The top-1 confidence of each sample (its largest probability) is put into one
of ``n_bins`` equal-width bins over [0, 1]; each bin's accuracy is compared
with its mean confidence. :func:`reliability_bins` returns the bins (a
:class:`ReliabilityBins`), whose
:attr:`~ReliabilityBins.expected_calibration_error` is the one place the ECE
is computed; :func:`expected_calibration_error` is a shortcut to it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ReliabilityBins", "expected_calibration_error", "reliability_bins"]

#: How far a row of probabilities may sum from 1 (float32 and bfloat16 softmax).
SUM_TOLERANCE = 1e-3


@dataclass(frozen=True, eq=False)
class ReliabilityBins:
    """Top-1 confidence against accuracy, in equal-width bins over [0, 1].

    Bins are closed on the right: bin ``b`` holds the confidences in
    ``(edges[b], edges[b + 1]]``, and the first bin also holds 0.

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Bin edges, from 0 to 1.
    counts : ndarray of shape (n_bins,)
        Samples whose top-1 confidence falls in each bin (int).
    mean_confidence : ndarray of shape (n_bins,)
        Mean top-1 confidence of each bin's samples; NaN for an empty bin.
    accuracy : ndarray of shape (n_bins,)
        Fraction of each bin's samples whose most probable class is their
        label; NaN for an empty bin.
    """

    edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return len(self.counts)

    @property
    def n_samples(self) -> int:
        """Samples in all the bins."""
        return int(self.counts.sum())

    @property
    def expected_calibration_error(self) -> float:
        """ECE: ``sum_b |accuracy_b - mean_confidence_b| * counts_b / n_samples``.

        0 for a model whose confidence is its accuracy in every bin, up to 1
        for one always fully confident and always wrong. Empty bins count
        for nothing.
        """
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.mean_confidence[filled])
        return float(np.sum(gaps * self.counts[filled]) / self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        """The bins as plain JSON-serialisable data (as in ``metrics.json``).

        Returns
        -------
        bins : dict
            ``n_bins``, ``edges``, ``counts``, ``mean_confidence`` and
            ``accuracy`` as lists (None for the mean confidence and accuracy
            of an empty bin), and ``expected_calibration_error``.
        """

        def floats(values: np.ndarray) -> list[float | None]:
            return [None if np.isnan(v) else float(v) for v in values]

        return {
            "n_bins": self.n_bins,
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "mean_confidence": floats(self.mean_confidence),
            "accuracy": floats(self.accuracy),
            "expected_calibration_error": self.expected_calibration_error,
        }


def reliability_bins(y_true, proba, classes, *, n_bins: int = 15) -> ReliabilityBins:
    """Bin the top-1 confidence of predicted probabilities and measure each bin.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; each must be one of ``classes``.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities (``predict_proba``), columns in the order of
        ``classes``; each row must sum to 1.
    classes : array-like of shape (n_classes,)
        The class of each column of ``proba`` (a model's ``classes_``),
        distinct.
    n_bins : int, default=15
        Equal-width confidence bins over [0, 1].

    Returns
    -------
    bins : ReliabilityBins
        Edges, count, mean confidence and accuracy of each bin; its
        ``expected_calibration_error`` is the ECE.

    Raises
    ------
    ValueError
        If ``proba`` is not 2-D with one row per label and one column per
        class, has values that are not finite or not in [0, 1], or rows that
        do not sum to 1; if there are no samples, if ``classes`` are not
        distinct, if a label is not one of ``classes``, or if ``n_bins`` is
        not a positive integer.

    See Also
    --------
    expected_calibration_error : The ECE alone.

    Notes
    -----
    The prediction of a sample is its most probable class (the first one
    on ties), its confidence that probability. The predicted class is
    compared with the label as it is (``1`` and ``"1"`` differ).

    Examples
    --------
    >>> from skemotion import reliability_bins
    >>> bins = reliability_bins(
    ...     ["a", "b", "a", "b"],
    ...     [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]],
    ...     ["a", "b"],
    ...     n_bins=4,
    ... )
    >>> bins.counts.tolist()
    [0, 0, 2, 2]
    >>> bins.accuracy.tolist()
    [nan, nan, 0.5, 0.5]
    >>> round(bins.expected_calibration_error, 3)
    0.25
    """
    n_bins = _check_n_bins(n_bins)
    y_true, proba, classes = _check_inputs(y_true, proba, classes)
    top = np.argmax(proba, axis=1)
    predicted = [classes[i] for i in top.tolist()]
    correct = np.array(
        [p == t for p, t in zip(predicted, y_true, strict=True)], dtype=bool
    )
    return _bin_confidence(proba[np.arange(len(top)), top], correct, n_bins)


def expected_calibration_error(y_true, proba, classes, *, n_bins: int = 15) -> float:
    """Expected calibration error (ECE) of the top-1 confidence.

    The top-1 confidences are put into ``n_bins`` equal-width bins over
    [0, 1]; the ECE is the gap between each bin's accuracy and its mean
    confidence, averaged weighted by the bin's count:
    ``sum_b |acc_b - conf_b| * n_b / n``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; each must be one of ``classes``.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities (``predict_proba``), columns in the order of
        ``classes``; each row must sum to 1.
    classes : array-like of shape (n_classes,)
        The class of each column of ``proba`` (a model's ``classes_``),
        distinct.
    n_bins : int, default=15
        Equal-width confidence bins over [0, 1].

    Returns
    -------
    ece : float
        Between 0 (confidence matches accuracy in every bin) and 1 (always
        fully confident, always wrong).

    Raises
    ------
    ValueError
        For the invalid inputs :func:`reliability_bins` rejects.

    See Also
    --------
    reliability_bins : The bins the ECE is computed from.

    Examples
    --------
    >>> from skemotion import expected_calibration_error
    >>> ece = expected_calibration_error(
    ...     ["a", "b", "a", "b"],
    ...     [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]],
    ...     ["a", "b"],
    ...     n_bins=4,
    ... )
    >>> round(ece, 3)
    0.25
    """
    bins = reliability_bins(y_true, proba, classes, n_bins=n_bins)
    return bins.expected_calibration_error


def _bin_confidence(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int
) -> ReliabilityBins:
    """The bins of top-1 confidences and whether each prediction was right."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    confidence = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    # right-closed bins (lo, hi]; 0 goes into the first bin
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=n_bins) / counts
        accuracy = np.bincount(index, correct.astype(float), minlength=n_bins) / counts
    return ReliabilityBins(
        edges=edges,
        counts=counts.astype(int),
        mean_confidence=np.where(counts > 0, mean_confidence, np.nan),
        accuracy=np.where(counts > 0, accuracy, np.nan),
    )


def _check_n_bins(n_bins) -> int:
    if (
        isinstance(n_bins, bool)
        or not isinstance(n_bins, numbers.Integral)
        or n_bins < 1
    ):
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _check_inputs(y_true, proba, classes) -> tuple[list, np.ndarray, list]:
    if hasattr(y_true, "to_numpy"):  # pandas
        y_true = y_true.to_numpy()
    if isinstance(y_true, (str, bytes)):
        raise ValueError("y_true must be an array-like of labels, not one string")
    labels = np.asarray(y_true, dtype=object)
    if labels.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got an array of shape {labels.shape}")
    if isinstance(classes, (str, bytes)):
        raise ValueError("classes must be an array-like of classes, not one string")
    names = np.asarray(classes, dtype=object)
    if names.ndim != 1 or len(names) == 0:
        raise ValueError(
            f"classes must be a non-empty 1-D array-like, got shape {names.shape}"
        )
    names_list = names.tolist()
    if len(set(names_list)) != len(names_list):
        raise ValueError(f"classes must be distinct, got {names_list}")
    try:
        p = np.asarray(proba, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"proba must be an array of numbers: {exc}") from None
    if p.ndim != 2:
        raise ValueError(
            f"proba must be 2-D (n_samples, n_classes), got shape {p.shape}"
        )
    if p.shape != (len(labels), len(names_list)):
        raise ValueError(
            f"proba has shape {p.shape}, expected ({len(labels)}, {len(names_list)}): "
            f"one row per label in y_true and one column per class"
        )
    if len(labels) == 0:
        raise ValueError("y_true and proba are empty: there is nothing to bin")
    if not np.all(np.isfinite(p)):
        raise ValueError("proba has values that are not finite (NaN or infinity)")
    if p.min() < -SUM_TOLERANCE or p.max() > 1 + SUM_TOLERANCE:
        raise ValueError(
            f"proba must be probabilities in [0, 1], got values from {p.min():.4g} "
            f"to {p.max():.4g}"
        )
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if len(bad):
        shown = ", ".join(f"row {i} sums to {sums[i]:.4g}" for i in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ValueError(
            f"each row of proba must sum to 1 (predict_proba output): {shown}{more}"
        )
    label_list = labels.tolist()
    known = set(names_list)
    missing = sorted({repr(y) for y in label_list if y not in known})
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"labels in y_true that are not in classes {names_list}: {shown}"
        )
    return label_list, p, names_list
