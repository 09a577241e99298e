"""Top-k emotions with their probabilities, as the original post printed them."""

from __future__ import annotations

import numpy as np

__all__ = ["format_topk", "top_k"]


def top_k(proba: np.ndarray, classes, k: int = 2) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each sample.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,)
        Class labels.
    k : int, default=2
        How many classes to return per sample (at most ``n_classes``).

    Returns
    -------
    top : list of list of (label, probability)
        Per sample, the ``k`` classes by decreasing probability (ties keep
        the order of ``classes``).
    """
    proba = np.atleast_2d(np.asarray(proba, dtype=float))
    classes = np.asarray(classes)
    if proba.shape[1] != len(classes):
        raise ValueError(
            f"proba has {proba.shape[1]} columns but there are {len(classes)} classes"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(classes))
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return [
        [(str(classes[j]), float(row[j])) for j in idx]
        for row, idx in zip(proba, order, strict=True)
    ]


def format_topk(pairs: list[tuple[str, float]]) -> str:
    """Format one sample's top-k as ``"62.1% happy, 20.4% shocked"``.

    Parameters
    ----------
    pairs : list of (label, probability)
        As returned by :func:`top_k` for one sample.

    Returns
    -------
    text : str
    """
    return ", ".join(f"{100 * p:.1f}% {label}" for label, p in pairs)
