"""Image geometry of a crop: level the eyes, widen the face box, resize, and
the names of a crop's pixels (the cropper's and the gray converter's)."""

from __future__ import annotations

import cv2
import numpy as np


def align_face(image: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """The image rotated about the eyes' midpoint so that they are level.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3)
    eyes : ndarray of shape (2, 2)
        ``[x, y]`` of each eye; NaN: the image as it is.

    Returns
    -------
    rotated : ndarray, same shape
        Borders replicated, so that the crop around the face has no black
        corners.
    """
    eyes = np.asarray(eyes, dtype=float)
    if not np.isfinite(eyes).all():
        return image
    (x1, y1), (x2, y2) = sorted(eyes.tolist())
    angle = np.degrees(np.arctan2(y2 - y1, x2 - x1))
    if abs(angle) < 0.5 or abs(angle) > 45:  # level already, or not a pair of eyes
        return image
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    h, w = image.shape[:2]
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _expand_box(
    box: np.ndarray, margin: float, shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """The box widened by ``margin`` of its width and height, clipped to ``shape``."""
    left, top, right, bottom = (int(v) for v in box)
    dx = round((right - left) * margin)
    dy = round((bottom - top) * margin)
    h, w = shape[:2]
    return max(0, left - dx), max(0, top - dy), min(w, right + dx), min(h, bottom + dy)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image at ``size`` ``(height, width)``: area averaging when shrinking."""
    height, width = size
    shrinking = image.shape[0] > height or image.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def _pixel_names(size: tuple[int, int], channels: int) -> np.ndarray:
    """``pixel_<row>_<col>_<channel>`` of every value of an image, in C order."""
    rows, cols, chans = np.meshgrid(
        np.arange(size[0]), np.arange(size[1]), np.arange(channels), indexing="ij"
    )
    return np.char.add(
        np.char.add(
            np.char.add("pixel_", rows.ravel().astype(str)),
            np.char.add("_", cols.ravel().astype(str)),
        ),
        np.char.add("_", chans.ravel().astype(str)),
    ).astype(object)
