"""Top-k emotions with their probabilities, as the original post printed them."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from .datasets._image_io import DEFAULT_MAX_FILE_SIZE

__all__ = [
    "ImagePrediction",
    "annotate_image",
    "format_topk",
    "iter_predict_proba",
    "iter_predict_topk",
    "predict_topk",
    "top_k",
]

logger = logging.getLogger(__name__)


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


def _face_columns(classes, k: int) -> list[str]:
    """The columns one face fills in a result table, in order: its box, the
    top-``k`` labels and probabilities, then every class's probability."""
    return [
        *BOX_COLUMNS,
        *[f"label_{r}" for r in range(1, k + 1)],
        *[f"probability_{r}" for r in range(1, k + 1)],
        *[f"proba_{c}" for c in classes],
    ]


def _face_values(box, proba, classes, k: int) -> dict:
    """One face's values for :func:`_face_columns` (``proba``: one row)."""
    values = dict(zip(BOX_COLUMNS, (int(v) for v in box), strict=True))
    for rank, (label, p) in enumerate(top_k(proba, classes, k)[0], start=1):
        values[f"label_{rank}"] = label
        values[f"probability_{rank}"] = p
    values.update({f"proba_{c}": float(v) for c, v in zip(classes, proba, strict=True)})
    return values


#: Keys of every record returned by :func:`predict_topk`.
RECORD_FIELDS = ("path", "face", "box", "rank", "label", "probability", "error")


def _error_record(path: str, reason: str) -> dict:
    return dict.fromkeys(RECORD_FIELDS) | {"path": path, "error": reason}


def _predict_chunk(rest, items: list[tuple], skip_bad: bool) -> dict:
    """Class probabilities of the faces of each good item, by item index.

    Values are arrays ``(n_faces, n_classes)``, or a reason (str) when the
    model failed on that image and ``skip_bad`` is set.
    """
    good = [i for i, item in enumerate(items) if item[3] is None and len(item[2])]
    if not good:
        return {}
    try:
        proba = rest.predict_proba(np.concatenate([items[i][2] for i in good]))
    except Exception:
        if not skip_bad:
            raise
        out: dict = {}
        for i in good:  # find the image the model fails on, keep the others
            try:
                out[i] = rest.predict_proba(items[i][2])
            except Exception as exc:
                logger.debug("%s: prediction failed", items[i][0], exc_info=True)
                out[i] = f"prediction failed ({type(exc).__name__}: {exc})"
        return out
    out, start = {}, 0
    for i in good:
        n = len(items[i][2])
        out[i] = proba[start : start + n]
        start += n
    return out


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
    """

    path: str
    boxes: np.ndarray | None
    proba: np.ndarray | None
    error: str | None


def _check_model(model):
    crop = model.named_steps.get("crop") if hasattr(model, "named_steps") else None
    if crop is None:
        raise ValueError(
            "model must be a fitted skemotion pipeline whose first step is a "
            "FaceCropper named 'crop'"
        )
    return crop


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
        was read. Every front end follows this rule (``skemotion._streaming``).
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
    from ._streaming import iter_crop_chunks
    from .datasets._sources import as_sources

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    crop = _check_model(model)
    if max_file_size != crop.max_file_size:
        crop = copy.copy(crop)  # the model itself is left as it is
        crop.max_file_size = max_file_size
    rest = model[1:]
    chunks = iter_crop_chunks(
        crop, as_sources(paths), chunk_size=chunk_size, strict=not skip_bad,
        all_faces=all_faces, progress=crop.progress,
    )  # fmt: skip
    if skip_bad:
        for chunk in chunks:
            yield from _predictions(chunk, _predict_chunk(rest, chunk, True))
        return
    # Strict: nothing is yielded before every file is known to be good. What
    # is kept meanwhile is the probabilities (a few numbers per face).
    done = []
    for chunk in chunks:
        done.extend(_predictions(chunk, _predict_chunk(rest, chunk, False)))
    yield from done


def _predictions(items: list[tuple], proba: dict) -> list[ImagePrediction]:
    out = []
    for i, (path, boxes, _, error) in enumerate(items):
        if error is not None:
            out.append(ImagePrediction(path, None, None, error.reason))
        elif i not in proba:
            out.append(ImagePrediction(path, None, None, "no face crop to label"))
        elif isinstance(proba[i], str):
            out.append(ImagePrediction(path, None, None, proba[i]))
        else:
            boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
            out.append(ImagePrediction(path, boxes, np.asarray(proba[i]), None))
    return out


def iter_predict_topk(
    model,
    paths,
    k: int = 2,
    *,
    all_faces: bool = False,
    skip_bad: bool = False,
    chunk_size: int = 128,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> Iterator[list[dict]]:
    """Predict image by image in chunks, yielding each image's records.

    The streaming form of :func:`predict_topk`: memory stays bounded by
    ``chunk_size`` images whatever the number of paths, and the records of
    each image are yielded as soon as its chunk is done.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline from :func:`~skemotion.make_emotion_pipeline`
        (its first step must be a :class:`~skemotion.FaceCropper` named
        ``crop``).
    paths : array-like of str or os.PathLike
        Image files.
    k : int, default=2
        Emotions per face.
    all_faces : bool, default=False
        Label every face found in an image, not only the one the cropper's
        ``multiple_faces`` policy picks.
    skip_bad : bool, default=False
        Give bad files an error record instead of raising (the rule about
        bad files is :func:`iter_predict_proba`'s).
    chunk_size : int, default=128
        Images cropped and encoded together.
    max_file_size : int or None, default=268_435_456
        Files larger than this many bytes (256 MiB) are bad files, refused
        before they are opened. ``None`` disables the check. The pixel limit
        is the cropper's ``max_pixels``.

    Yields
    ------
    records : list of dict
        The records of one image, in input order (see :func:`predict_topk`).

    Raises
    ------
    BadImagesError
        When some files cannot be used and ``skip_bad`` is False; it lists
        every one of them, each with its reason.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    _check_model(model)
    classes = model.classes_
    for prediction in iter_predict_proba(
        model, paths, all_faces=all_faces, skip_bad=skip_bad,
        chunk_size=chunk_size, max_file_size=max_file_size,
    ):  # fmt: skip
        yield _records(prediction, classes, k)


def _records(prediction: ImagePrediction, classes, k: int) -> list[dict]:
    """One image's records: its faces' top-k, or its error."""
    path, boxes, proba, error = prediction
    if error is not None:
        return [_error_record(path, error)]
    records = []
    ranked = top_k(proba, classes, k)
    for face, (box, pairs) in enumerate(zip(boxes, ranked, strict=True)):
        for rank, (label, p) in enumerate(pairs, start=1):
            records.append({
                "path": path, "face": face, "box": [int(v) for v in box],
                "rank": rank, "label": label, "probability": p, "error": None,
            })  # fmt: skip
    return records


def predict_topk(
    model,
    paths,
    k: int = 2,
    *,
    all_faces: bool = False,
    skip_bad: bool = False,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> list[dict]:
    """Top-k emotions of every face, as tidy records (one per face and rank).

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline from :func:`~skemotion.make_emotion_pipeline`.
    paths : array-like of str or os.PathLike
        Image files.
    k : int, default=2
        Emotions per face.
    all_faces : bool, default=False
        Label every face found in an image (the original post assumed one
        face per image; group photos break that).
    skip_bad : bool, default=False
        Instead of raising :class:`~skemotion.exceptions.BadImagesError`
        (which lists every bad file, before any encoding), give each bad file
        one record whose ``error`` says why, and predict the good ones.
    max_file_size : int or None, default=268_435_456
        Files larger than this many bytes are bad files; ``None``: no limit.

    Returns
    -------
    records : list of dict
        Keys ``path``, ``face`` (0-based index of the face in its image,
        largest first), ``box`` (``[left, top, right, bottom]`` in the upright
        image; the whole image when no face was found), ``rank`` (1 = most
        probable), ``label``, ``probability`` and ``error`` (None, or the
        reason a file could not be used). Ready for ``pandas.DataFrame``.

    Raises
    ------
    BadImagesError
        When some files cannot be used and ``skip_bad`` is False.

    Examples
    --------
    >>> records = predict_topk(model, ["party.jpg"], all_faces=True)  # doctest: +SKIP
    >>> records[0]  # doctest: +SKIP
    {'path': 'party.jpg', 'face': 0, 'box': [120, 80, 220, 180], 'rank': 1,
     'label': 'happy', 'probability': 0.62, 'error': None}
    """
    return [
        record
        for image_records in iter_predict_topk(
            model,
            paths,
            k,
            all_faces=all_faces,
            skip_bad=skip_bad,
            max_file_size=max_file_size,
        )
        for record in image_records
    ]


def annotate_image(path, records: list[dict], out_path) -> None:
    """Write a copy of an image with each face box and its top-k labels drawn.

    Parameters
    ----------
    path : str or os.PathLike
        The image (read upright, as the model saw it).
    records : list of dict
        Its records from :func:`predict_topk` (error-free).
    out_path : str or os.PathLike
        Where to write the annotated image (format from the suffix).
    """
    from PIL import Image, ImageDraw, ImageFont

    from .datasets._image_io import read_image

    image = Image.fromarray(read_image(path))
    draw = ImageDraw.Draw(image)
    scale = max(image.size) / 640
    width = max(2, round(3 * scale))
    font = ImageFont.load_default(size=max(12, round(18 * scale)))
    faces: dict[int, list[dict]] = {}
    for record in records:
        faces.setdefault(record["face"], []).append(record)
    for face_records in faces.values():
        left, top, right, bottom = face_records[0]["box"]
        draw.rectangle((left, top, right, bottom), outline=(255, 215, 0), width=width)
        text = format_topk(
            [
                (r["label"], r["probability"])
                for r in sorted(face_records, key=lambda r: r["rank"])
            ]
        )
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        tw, th = x1 - x0, y1 - y0
        label_h = th + 2 * width  # the label sits just above the box, else below
        ty = top - width - label_h if top - width - label_h >= 0 else bottom + width
        tx = min(max(0, left), max(0, image.width - tw - 2 * width))
        draw.rectangle(
            (tx, ty, tx + tw + 2 * width, ty + th + 2 * width), fill=(0, 0, 0)
        )
        draw.text(
            (tx + width - x0, ty + width - y0), text, fill=(255, 255, 255), font=font
        )
    image.save(out_path)
