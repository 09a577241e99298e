"""The cropper's records: one per source handed on (:class:`CropResult`) and
one per path computed, in this process or a worker (:class:`PathResult`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

    from ..exceptions import ImageReadError

__all__ = ["CropResult"]  # PathResult: the workers' own


class CropResult(NamedTuple):
    """One source's crops, as :meth:`FaceCropper.crop_each` yields them.

    A tuple ``(name, boxes, crops, error)``: it unpacks as one.

    Attributes
    ----------
    name : str
        The image path, or a name for an image in memory (``"<array #3>"``).
    boxes : ndarray of shape (n_faces, 4) or None
        ``(left, top, right, bottom)`` of each cropped face in the upright
        image; the whole image when no face was found or for
        ``detector="none"``. None for a bad file.
    crops : ndarray of shape (n_faces, height, width, 3) or None
        The RGB crops, resized to the cropper's ``size``. None for a bad file.
    error : ImageReadError or None
        Why the file could not be used, else None.
    """

    name: str
    boxes: np.ndarray | None
    crops: np.ndarray | None
    error: ImageReadError | None


class PathResult(NamedTuple):
    """One path's crop as computed (internal): :class:`CropResult`'s last
    three fields without the name, and what the cropper counts.

    Attributes
    ----------
    boxes, crops, error
        As in :class:`CropResult`.
    event : {"no_face", "multiple_faces"} or None
        Which policy the file met (counted for the log), else None.
    hit : bool or None
        Whether the cache answered; None without a cache, or for a file not
        looked up.
    """

    boxes: np.ndarray | None
    crops: np.ndarray | None
    error: ImageReadError | None
    event: str | None
    hit: bool | None
