"""Views of face crops for test-time augmentation (``EmotionPipeline(tta=...)``).

A network that learned faces shifted, zoomed and mirrored (the fine-tuner's
augmentation) answers a little differently for each view of the same face;
averaging its probabilities over a few views is steadier than any one of them
(measured on the ready model, FER2013 test: ``benchmarks/tta.py``).
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

# TTA_VIEWS (data, not a function or class) is re-exported by the package
__all__ = ["crop_views"]

#: Each ``tta`` setting and its views: ``"centre"`` (the crop as it is),
#: ``"mirror"``, and crops of the face ``1/12`` of a side smaller at its four
#: corners (``"tl"``, ``"tr"``, ``"bl"``, ``"br"``, resized back to the crop's
#: size), each alone or mirrored (``"mirror-tl"``...).
_CORNERS = ("tl", "tr", "bl", "br")
TTA_VIEWS = MappingProxyType(
    {
        "flip": ("centre", "mirror"),
        "crops": ("centre", *_CORNERS),
        "crops+flip": (
            "centre",
            *_CORNERS,
            "mirror",
            *(f"mirror-{c}" for c in _CORNERS),
        ),
    }
)


def crop_views(crops: np.ndarray, tta: str) -> list[np.ndarray]:
    """The views of a batch of crops that ``tta`` averages over.

    Parameters
    ----------
    crops : ndarray of shape (n_crops, height, width, channels)
        Face crops (the cropper's, or gray ones), any dtype.
    tta : {"flip", "crops", "crops+flip"}
        The views (:data:`TTA_VIEWS`).

    Returns
    -------
    views : list of ndarray
        One array like ``crops`` per view, the crops themselves first.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.preprocessing import crop_views
    >>> crops = np.arange(2 * 48 * 48 * 3, dtype=np.uint8).reshape(2, 48, 48, 3)
    >>> [v.shape for v in crop_views(crops, "flip")]
    [(2, 48, 48, 3), (2, 48, 48, 3)]
    """
    if tta not in TTA_VIEWS:
        raise ValueError(f"unknown tta {tta!r}; use one of {', '.join(TTA_VIEWS)}")
    crops = np.asarray(crops)
    if crops.ndim != 4:
        raise ValueError(
            f"crops must be (n, height, width, channels), got {crops.shape}"
        )
    return [_view(crops, name) for name in TTA_VIEWS[tta]]


def _view(crops: np.ndarray, name: str) -> np.ndarray:
    if name.startswith("mirror"):
        crops = crops[:, :, ::-1]
        name = name.removeprefix("mirror").lstrip("-") or "centre"
    if name == "centre":
        return np.ascontiguousarray(crops)
    import cv2

    height, width = crops.shape[1:3]
    dy, dx = max(1, round(height / 12)), max(1, round(width / 12))
    top = dy if name[0] == "b" else 0
    left = dx if name[1] == "r" else 0
    out = np.empty_like(crops)
    for i, crop in enumerate(crops):
        part = np.ascontiguousarray(
            crop[top : top + height - dy, left : left + width - dx]
        )
        out[i] = cv2.resize(
            part, (width, height), interpolation=cv2.INTER_LINEAR
        ).reshape(crop.shape)
    return out
