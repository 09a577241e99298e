"""The cropper's one record: :class:`CropResult`, what one image gave."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

    from ..exceptions import ImageReadError

__all__ = ["CropResult"]


class CropResult(NamedTuple):
    """What one image gave the cropper (:meth:`FaceCropper.crop_file`).

    :meth:`FaceCropper.crop_each` yields one per image, the workers compute
    them, :func:`iter_crop_chunks` hands them on in chunks. Read it by name:
    fields may be added at the end. The first four are all a caller needs to
    build one (``CropResult(name, boxes, crops, error)``: the others are then
    None and 0).

    Attributes
    ----------
    name : str
        The image path, or a name for an image in memory (``"<array #3>"``).
    boxes : ndarray of shape (n_faces, 4) or None
        ``(left, top, right, bottom)`` of each cropped face in the upright
        image, the largest first; the whole image when no face was found
        (``face_found`` False) or for ``detector="none"``. None for a bad file.
    crops : ndarray of shape (n_faces, height, width, 3) or None
        The RGB crops, resized to the cropper's ``size``. None for a bad file.
    error : ImageReadError or None
        Why the file could not be used (unreadable, or a face policy set to
        ``"raise"``: :class:`~skemotion.exceptions.NoFaceError`,
        :class:`~skemotion.exceptions.MultipleFacesError`), else None.
    face_found : bool or None
        True when the crops are faces: the detector found at least one, or
        ``detector="none"`` (the images are faces already). False when it
        found none: the crop is the whole image (``no_face="full_image"``),
        or, with ``no_face="raise"``, the ``error`` says so. None when the
        file could not be read.
    faces_found : int
        Faces the detector found (``boxes`` keeps only the largest unless
        every face is asked for); 1 for ``detector="none"``, 0 for none
        found or a bad file.
    cached : bool or None
        Whether the cropper's cache (``memory``) answered; None without a
        cache, or for a file not looked up.
    """

    name: str
    boxes: np.ndarray | None
    crops: np.ndarray | None
    error: ImageReadError | None
    face_found: bool | None = None
    faces_found: int = 0
    cached: bool | None = None
