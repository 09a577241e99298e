"""Top-k emotions with their probabilities, as the original post printed them,
and the columns one face fills in a result table (video, cluster)."""

from __future__ import annotations

import numpy as np

__all__ = ["BOX_COLUMNS", "face_columns", "face_values", "format_topk", "top_k"]


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


#: The columns of a face's box in result tables (videos, cluster results).
BOX_COLUMNS = ("face_left", "face_top", "face_right", "face_bottom")


def face_columns(classes, k: int) -> list[str]:
    """The columns one face fills in a result table (video, cluster).

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        The model's class labels.
    k : int
        How many top labels each face gets.

    Returns
    -------
    columns : list of str
        In order: ``face_found`` (False: no face was found and the whole
        image was classified), the box (``face_left``, ``face_top``,
        ``face_right``, ``face_bottom``), ``label_1`` .. ``label_k``,
        ``probability_1`` .. ``probability_k``, then ``proba_<class>`` for
        every class.
    """
    return [
        "face_found",
        *BOX_COLUMNS,
        *[f"label_{r}" for r in range(1, k + 1)],
        *[f"probability_{r}" for r in range(1, k + 1)],
        *[f"proba_{c}" for c in classes],
    ]


def face_values(box, proba, classes, k: int, *, face_found: bool | None = None) -> dict:
    """One face's values for the columns of :func:`face_columns`.

    Parameters
    ----------
    box : array-like of 4 ints
        ``(left, top, right, bottom)`` of the face.
    proba : array-like of shape (n_classes,)
        The face's class probabilities, in the order of ``classes``.
    classes : array-like of shape (n_classes,)
        The model's class labels.
    k : int
        How many top labels the face gets.
    face_found : bool or None, default=None
        Whether ``box`` is a face found (False: no face was found and
        ``box`` is the whole image); None when the caller does not know.

    Returns
    -------
    values : dict
        Column name to value.
    """
    values = {"face_found": None if face_found is None else bool(face_found)}
    values.update(zip(BOX_COLUMNS, (int(v) for v in box), strict=True))
    for rank, (label, p) in enumerate(top_k(proba, classes, k)[0], start=1):
        values[f"label_{rank}"] = label
        values[f"probability_{rank}"] = p
    values.update({f"proba_{c}": float(v) for c, v in zip(classes, proba, strict=True)})
    return values
