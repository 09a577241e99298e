"""Face augmentation: random flips, shifts, rotations, zooms and brightness."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Augmentation", "augment_faces"]


def augment_faces(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    flip: bool = True,
    shift: float = 0.1,
    rotation: float = 10.0,
    zoom: float = 0.1,
    brightness: float = 0.2,
) -> np.ndarray:
    """Randomly flip, shift, rotate, zoom and brighten a batch of face crops.

    Geometric changes are one affine warp per image (borders reflected), so
    faces stay upright and whole; every draw comes from ``rng``, so a seeded
    generator gives the same batch every time.

    Parameters
    ----------
    images : ndarray of shape (n, height, width, channels)
        Pixel values 0-255 (any numeric dtype).
    rng : numpy.random.Generator
        Source of every random draw.
    flip : bool, default=True
        Mirror half of the images left-right.
    shift : float, default=0.1
        Largest shift, as a fraction of the side, in each direction.
    rotation : float, default=10.0
        Largest rotation in degrees, either way.
    zoom : float, default=0.1
        Largest zoom in or out, as a fraction (0.1: scale 0.9 to 1.1).
    brightness : float, default=0.2
        Largest brightness change, as a fraction of the pixel values.

    Returns
    -------
    augmented : ndarray of shape (n, height, width, channels), dtype float32
    """
    import cv2

    x = np.asarray(images, dtype=np.float32)
    n, h, w = x.shape[:3]
    out = np.empty_like(x)
    center = (w / 2.0, h / 2.0)
    for i in range(n):
        angle = rng.uniform(-rotation, rotation) if rotation else 0.0
        scale = 1.0 + (rng.uniform(-zoom, zoom) if zoom else 0.0)
        matrix = cv2.getRotationMatrix2D(center, angle, scale)
        if shift:
            matrix[0, 2] += rng.uniform(-shift, shift) * w
            matrix[1, 2] += rng.uniform(-shift, shift) * h
        if flip and rng.random() < 0.5:
            # mirror after the warp: x' = w - 1 - x
            matrix[0] = -matrix[0]
            matrix[0, 2] += w - 1
        warped = cv2.warpAffine(
            x[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
        if warped.ndim == 2:
            warped = warped[..., np.newaxis]
        if brightness:
            warped = warped * (1.0 + rng.uniform(-brightness, brightness))
        out[i] = np.clip(warped, 0.0, 255.0)
    return out


class Augmentation(NamedTuple):
    """The ranges of :func:`augment_faces`; calling it augments a batch."""

    flip: bool
    shift: float
    rotation: float
    zoom: float
    brightness: float

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment_faces(images, rng, **self._asdict())
