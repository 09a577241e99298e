"""Input validation shared by the pipeline stages."""

from __future__ import annotations

import math
import os
from numbers import Integral

import numpy as np

__all__ = [
    "check_classes",
    "check_hidden_layer_sizes",
    "check_image_batch",
    "normalize_size",
    "stratified_holdout",
]


def normalize_size(size, name: str = "size") -> tuple[int, int]:
    """Return ``(height, width)`` from an int or a pair of ints."""
    if isinstance(size, Integral) and not isinstance(size, bool):
        pair = (int(size), int(size))
    elif (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, Integral) and not isinstance(s, bool) for s in size)
    ):
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(
            f"{name} must be an int or a (height, width) pair of ints, got {size!r}"
        )
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return pair


def check_image_batch(X, *, min_size: int = 1, name: str = "X") -> np.ndarray:
    """Validate a batch of images ``(n, H, W, C)`` (C in 1, 3) or ``(n, H, W)``.

    Returns the batch as an ndarray with 4 dimensions; the dtype is kept.
    """
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], (str, os.PathLike)):
        raise ValueError(
            f"{name} holds image paths; this step expects image arrays. Put a "
            "FaceCropper first in the pipeline to read and crop the images."
        )
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise ValueError(
            f"{name} must be a numeric array of images, got dtype {arr.dtype}; "
            "image paths go to FaceCropper first"
        )
    if arr.ndim == 3:
        arr = arr[..., np.newaxis]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} must be a batch of images of shape (n_images, height, width, 3) "
            f"or (n_images, height, width), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one image is required")
    if min(arr.shape[1:3]) < min_size:
        raise ValueError(
            f"images must be at least {min_size}x{min_size} pixels, got "
            f"{arr.shape[1]}x{arr.shape[2]}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_hidden_layer_sizes(sizes) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints, or a ValueError."""
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1
               for s in sizes):  # fmt: skip
        raise ValueError(
            f"hidden_layer_sizes must be a tuple of positive ints, got {sizes!r}"
        )
    return tuple(int(s) for s in sizes)


def check_classes(classes, n_samples: int) -> None:
    """A ValueError unless the labels hold 2 classes or more: a classifier
    fitted on one would say it for every face, sure of it (a folder tree with
    one label folder, a filter that kept one class)."""
    if len(classes) < 2:
        labels = f"the {n_samples} labels hold" if n_samples != 1 else "the label holds"
        found = f"one class only: {classes[0]!r}" if len(classes) else "no class"
        raise ValueError(
            f"at least 2 classes are needed to learn from; {labels} {found}"
        )


def stratified_holdout(labels, fraction: float, random_state):
    """Split row indices into a training part and a held-out part.

    ``ceil(fraction * n)`` rows are held out (none for ``fraction=0``),
    stratified by label when every label has at least 2 rows and there are
    at least as many held-out rows as labels, else at random.

    Parameters
    ----------
    labels : array-like of shape (n,)
    fraction : float in [0, 1)
    random_state : int, RandomState instance or None

    Returns
    -------
    train, held_out : ndarray of int
        Sorted row indices.

    Raises
    ------
    ValueError
        If the hold-out leaves no row to train on.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    index = np.arange(len(labels))
    if fraction == 0:
        return index, index[:0]
    n_val = math.ceil(fraction * len(labels))
    if len(labels) - n_val < 1:
        raise ValueError(
            f"validation_split={fraction} leaves no sample to train on "
            f"({len(labels)} samples); use validation_split=0 for so few"
        )
    _, counts = np.unique(labels, return_counts=True)
    stratify = labels if counts.min() >= 2 and n_val >= len(counts) else None
    train, held_out = train_test_split(
        index, test_size=n_val, random_state=random_state, stratify=stratify
    )
    return np.sort(train), np.sort(held_out)
