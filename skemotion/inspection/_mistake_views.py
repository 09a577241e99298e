"""The images of the mistakes figure, as the model saw them.

For a pipeline whose ``crop`` step is a :class:`~skemotion.FaceCropper`, each
image is that cropper's own crop (:meth:`~skemotion.FaceCropper.crop_each`:
every setting applies, ``margin``, ``align``, ``min_confidence``, ``size``...),
then the pipeline's ``gray`` step's output: the pixels the encoder got, and
beside it the same face with its saliency map for the class the model
predicted (:func:`~skemotion.prediction.explain_crops`, drawn by
:func:`~skemotion.prediction.overlay_saliency`): what made it say so. Other
models show the whole image. Images larger than the figure's panels are
shrunk for display only.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from .._progress import progress_iter
from ..datasets import read_image
from ..prediction import explain_crops, overlay_saliency
from ..preprocessing import FaceCropper
from ._model_details import steps_progress

__all__ = ["MistakeView", "mistake_views"]

logger = logging.getLogger(__name__)

_DISPLAY_SIDE = 256  # longest side, in pixels, of each image in the mistakes figure
_UNREADABLE = "image could not be read"
_NO_FACE = "no face found: whole image"


class MistakeView(NamedTuple):
    """One image of the mistakes figure.

    Attributes
    ----------
    image : ndarray or None
        What to draw (gray or RGB, at most 256 pixels a side); None when the
        image could not be read.
    note : str or None
        What to say under it ("no face found: whole image"), if anything.
    saliency : ndarray or None
        The crop's saliency map for the predicted class (values in [0, 1],
        the crop's size), drawn beside the face; None when there is none.
    method : str or None
        The method that drew ``saliency``.
    """

    image: np.ndarray | None
    note: str | None
    saliency: np.ndarray | None = None
    method: str | None = None


def mistake_views(
    model, paths: list[str], *, progress: bool | None
) -> list[MistakeView]:
    """Each image of ``paths`` as ``model`` saw it, in order; never raises for
    one image (it is shown blank, with a note)."""
    steps = getattr(model, "named_steps", None) or {}
    crop, gray = steps.get("crop"), steps.get("gray")
    if isinstance(crop, FaceCropper):
        views = _cropped_views(model, crop, paths, progress)
    else:
        views = [
            _whole_image(path)
            for path in progress_iter(
                paths, total=len(paths), desc="Reading mistakes", progress=progress
            )
        ]
    return [
        _as_displayed(view, gray, path) for view, path in zip(views, paths, strict=True)
    ]


def _cropped_views(
    model, crop: FaceCropper, paths: list[str], progress: bool | None
) -> list[MistakeView]:
    """The cropper's crops of ``paths``, under one progress bar (ours)."""
    with steps_progress(model, False):
        results = progress_iter(
            crop.crop_each(paths),
            total=len(paths),
            desc="Reading mistakes",
            progress=progress,
        )
        results = list(results)
        maps = _saliency(model, results)
        return [
            _cropped_view(result)._replace(saliency=found[0], method=found[1])
            if found
            else _cropped_view(result)
            for result, found in zip(results, maps, strict=True)
        ]


def _saliency(model, results) -> list:
    """``(map, method)`` of each result's face, None where there is none (an
    unreadable image, or a model the maps cannot be drawn for)."""
    good = [i for i, r in enumerate(results) if r.error is None and len(r.crops)]
    out: list = [None] * len(results)
    try:  # only the face shown: the largest
        records = explain_crops(model, [results[i] for i in good])
    except Exception as exc:  # the figure is drawn without maps
        logger.warning("No saliency maps in the mistakes figure: %s", exc)
        return out
    firsts = [r for r in records if r.face == 1]
    for i, record in zip(good, firsts, strict=True):
        out[i] = (record.saliency, record.method)
    return out


def _cropped_view(result) -> MistakeView:
    """A :class:`~skemotion.preprocessing.CropResult` as a view: the crop,
    said to be the whole image when no face was found."""
    if result.error is not None:
        logger.warning(
            "Could not show %s in the mistakes figure: %s", result.name, result.error
        )
        return MistakeView(None, _UNREADABLE)
    note = _NO_FACE if result.face_found is False else None
    return MistakeView(result.crops[0], note)


def _whole_image(path: str) -> MistakeView:
    try:
        return MistakeView(read_image(path, max_pixels=None), None)
    except Exception as exc:  # one unreadable image must not stop the report
        logger.warning("Could not show %s in the mistakes figure: %s", path, exc)
        return MistakeView(None, _UNREADABLE)


def _as_displayed(view: MistakeView, gray, path: str) -> MistakeView:
    """The view through the model's ``gray`` step, shrunk for display; with
    a map, the face and, beside it, the face with its map."""
    if view.image is None:
        return view
    try:
        image = view.image
        if gray is not None:
            image = np.asarray(gray.transform(image[np.newaxis]))[0]
        if image.ndim == 3 and image.shape[-1] == 1:  # one gray channel
            image = image[..., 0]
        if view.saliency is not None:
            image = _beside(image, view.saliency)
        return MistakeView(_shrink(image), view.note, view.saliency, view.method)
    except Exception as exc:  # one image must not stop the report
        logger.warning("Could not show %s in the mistakes figure: %s", path, exc)
        return MistakeView(None, _UNREADABLE)


def _beside(face: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """The face (RGB), a gap, and the face with its map over it, each
    ``_DISPLAY_SIDE / 2`` pixels wide at most."""
    scale = max(1, (_DISPLAY_SIDE // 2) // max(face.shape[:2]))
    mapped = np.asarray(overlay_saliency(face.astype(np.uint8), saliency, scale=scale))
    plain = np.asarray(overlay_saliency(face.astype(np.uint8), np.zeros_like(saliency),
                                        scale=scale))  # fmt: skip
    gap = np.full((plain.shape[0], max(2, scale * 2), 3), 255, dtype=np.uint8)
    return np.concatenate([plain, gap, mapped], axis=1)


def _shrink(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    if max(image.shape[:2]) <= _DISPLAY_SIDE:
        return image
    pil = Image.fromarray(image)
    pil.thumbnail((_DISPLAY_SIDE, _DISPLAY_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(pil)
