"""Input validation shared by the pipeline stages."""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np

__all__ = ["check_image_batch", "check_paths", "normalize_size"]


def check_paths(X) -> list[str]:
    """Validate a 1-D array-like of image paths and return them as ``str``.

    Accepts lists, tuples, 1-D arrays, pandas Series and single-column 2-D
    arrays or DataFrames. A lone string is refused (it would be read as a
    sequence of characters).
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise ValueError(
            "X must be a 1-D array-like of image paths, got a single path "
            f"{os.fsdecode(X)!r}; wrap it in a list: [path]"
        )
    if hasattr(X, "to_numpy"):  # pandas Series / DataFrame
        X = X.to_numpy()
    arr = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            "X must be a 1-D array-like of image paths (str or os.PathLike), "
            f"got an array of shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError("X is empty: at least one image path is required")
    paths: list[str] = []
    for i, item in enumerate(arr):
        if isinstance(item, (str, os.PathLike)):
            paths.append(os.fsdecode(item))
        elif isinstance(item, bytes):
            paths.append(os.fsdecode(item))
        else:
            raise ValueError(
                f"X[{i}] is {item!r} of type {type(item).__name__}; expected an "
                "image path (str or os.PathLike)"
            )
    return paths


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
