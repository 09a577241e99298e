"""The one path from image files to every face's class probabilities.

:func:`classify_crops` classifies the faces a model's cropper found, all in one
batch: the server and the video call it on their own crops (images in memory,
frames), and :func:`iter_predict_proba` on chunks of files taken through the
cropper under the one bad-file rule
(:func:`~skemotion.preprocessing.iter_crop_chunks`); ``predict_topk``, the
command line, the cluster and the evaluation report build on that.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ..datasets import DEFAULT_MAX_FILE_SIZE
from ..preprocessing import CropResult, pipeline_cropper

__all__ = ["ImagePrediction", "check_model", "classify_crops", "iter_predict_proba"]

logger = logging.getLogger(__name__)


class ImagePrediction(NamedTuple):
    """What the model says about one image (:func:`iter_predict_proba`).

    Attributes
    ----------
    path : str
        The image, as given.
    boxes : ndarray of shape (n_faces, 4) or None
        ``(left, top, right, bottom)`` of each face in the upright image, the
        largest first (the whole image when no face was found); None for an
        image that could not be used.
    proba : ndarray of shape (n_faces, n_classes) or None
        Each face's class probabilities, columns in the model's
        ``classes_`` order; None for an image that could not be used.
    error : str or None
        Why the image could not be used, else None.
    face_found : bool or None
        True when the boxes are faces (found by the detector, or the image
        taken as one with ``detector="none"``); False when no face was found
        and the whole image was classified (or, for a cropper whose
        ``no_face`` is ``"raise"``, nothing was); None for an image that
        could not be read (see :class:`~skemotion.preprocessing.CropResult`).
    """

    path: str
    boxes: np.ndarray | None
    proba: np.ndarray | None
    error: str | None
    face_found: bool | None = None


def check_model(model):
    """The model's cropper (:func:`~skemotion.preprocessing.pipeline_cropper`);
    a model that does not start with one is refused with a clear reason."""
    crop = pipeline_cropper(model)
    if crop is None:
        raise ValueError(
            "model must be a fitted skemotion pipeline whose first step is a "
            f"FaceCropper, got {_described(model)}"
        )
    return crop


def _described(model) -> str:
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and isinstance(steps[0], tuple):
        return f"a {type(model).__name__} starting with {type(steps[0][-1]).__name__}"
    return f"a {type(model).__name__}"


def _batch_proba(rest, crops: list[np.ndarray], names: list[str], skip_bad: bool):
    """Each image's face probabilities from one ``predict_proba`` call; when
    that fails and ``skip_bad`` is set, image by image, a failure a reason."""
    try:
        proba = rest.predict_proba(np.concatenate(crops))
    except Exception:
        if not skip_bad:
            raise
        out: list = []
        for name, image_crops in zip(names, crops, strict=True):
            try:  # find the image the model fails on, keep the others
                out.append(rest.predict_proba(image_crops))
            except Exception as exc:
                logger.debug("%s: prediction failed", name, exc_info=True)
                out.append(f"prediction failed ({type(exc).__name__}: {exc})")
        return out
    bounds = np.cumsum([len(c) for c in crops])[:-1]
    return np.split(proba, bounds)


def classify_crops(model, results, *, skip_bad: bool = True) -> list[ImagePrediction]:
    """Classify the faces the model's cropper found, every face in one batch.

    The one path from crops to probabilities: :func:`iter_predict_proba`
    (and so ``predict_topk``, the command line and the cluster), the video
    and the server call it on the :class:`~skemotion.preprocessing.CropResult`
    items of :meth:`FaceCropper.crop_each`.

    Parameters
    ----------
    model : Pipeline
        A fitted skemotion pipeline; its steps after the cropper (gray,
        encoder, classifier) classify the crops.
    results : sequence of CropResult
        One per image, as ``crop_each`` yields them (a plain ``(name, boxes,
        crops, error)`` tuple is read as one).
    skip_bad : bool, default=True
        When the model fails on an image's crops, that image gets the error
        and the others their probabilities; False: the error is raised.

    Returns
    -------
    predictions : list of ImagePrediction
        One per item, in order. An item with an ``error`` keeps its reason
        (``ImagePrediction.error``), one without crops gets "no face crop to
        label"; ``boxes`` and ``proba`` are then None.
    """
    check_model(model)  # the crops are made; the other steps classify them
    results = [r if isinstance(r, CropResult) else CropResult(*r) for r in results]
    faces = [i for i, r in enumerate(results) if r.error is None and len(r.crops)]
    no_crop = "no face crop to label"
    out = [
        ImagePrediction(
            r.name, None, None, r.error.reason if r.error else no_crop, r.face_found
        )
        for r in results
    ]
    if not faces:
        return out
    per_image = _batch_proba(
        model[1:], [results[i].crops for i in faces], [results[i].name for i in faces],
        skip_bad,
    )  # fmt: skip
    for i, proba in zip(faces, per_image, strict=True):
        name, found = results[i].name, results[i].face_found
        if isinstance(proba, str):
            out[i] = ImagePrediction(name, None, None, proba, found)
        else:
            boxes = np.asarray(results[i].boxes, dtype=np.int64).reshape(-1, 4)
            out[i] = ImagePrediction(name, boxes, np.asarray(proba), None, found)
    return out


def iter_predict_proba(
    model,
    paths,
    *,
    all_faces: bool = False,
    skip_bad: bool = False,
    chunk_size: int = 128,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> Iterator[ImagePrediction]:
    """Every face's class probabilities, image by image, in chunks.

    The engine behind :func:`iter_predict_topk`, :func:`predict_topk` and
    the front ends, for callers that want every probability (a table of
    results, a cluster's partitions): memory stays bounded by ``chunk_size``
    images whatever the number of paths.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline from :func:`~skemotion.make_emotion_pipeline`
        (its first step must be a :class:`~skemotion.FaceCropper` named
        ``crop``).
    paths : array-like of str or os.PathLike
        Image files.
    all_faces : bool, default=False
        Every face found in an image, not only the one the cropper's
        ``multiple_faces`` policy picks.
    skip_bad : bool, default=False
        Give bad files an :class:`ImagePrediction` whose ``error`` says why,
        and yield each image as soon as its chunk is done. Without it, one
        :class:`~skemotion.exceptions.BadImagesError` listing every bad file is
        raised before anything is yielded: every file's header is checked
        first (a missing, empty, oversized or non-image file stops everything
        before any encoding), and a file whose pixel data turns out truncated
        when it is decoded stops the encoding there; the results of the good
        files (a few numbers per face, not images) are kept until every file
        was read. This is the rule of
        :func:`~skemotion.preprocessing.iter_crop_chunks`, which the
        pipeline's own methods follow too.
    chunk_size : int, default=128
        Images cropped and encoded together.
    max_file_size : int or None, default=268_435_456
        Files larger than this many bytes (256 MiB) are bad files, refused
        before they are opened. ``None`` disables the check. The pixel limit
        is the cropper's ``max_pixels``.

    Yields
    ------
    prediction : ImagePrediction
        One per path, in input order.

    Raises
    ------
    BadImagesError
        When some files cannot be used and ``skip_bad`` is False; it lists
        every one of them, each with its reason.
    """
    from ..datasets import as_sources
    from ..preprocessing import iter_crop_chunks

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    crop = check_model(model)
    if max_file_size != crop.max_file_size:
        crop = copy.copy(crop)  # the model itself is left as it is
        crop.max_file_size = max_file_size
    chunks = iter_crop_chunks(
        crop, as_sources(paths), chunk_size=chunk_size, strict=not skip_bad,
        all_faces=all_faces, progress=crop.progress,
    )  # fmt: skip
    if skip_bad:
        for chunk in chunks:
            yield from classify_crops(model, chunk, skip_bad=True)
        return
    # Strict: nothing is yielded before every file is known to be good. What
    # is kept meanwhile is the probabilities (a few numbers per face).
    done = []
    for chunk in chunks:
        done.extend(classify_crops(model, chunk, skip_bad=False))
    yield from done
