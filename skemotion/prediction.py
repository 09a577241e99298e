"""Top-k emotions with their probabilities, as the original post printed them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = [
    "annotate_image",
    "format_topk",
    "iter_predict_topk",
    "predict_topk",
    "top_k",
]


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


#: Keys of every record returned by :func:`predict_topk`.
RECORD_FIELDS = ("path", "face", "box", "rank", "label", "probability", "error")


def _error_record(path: str, reason: str) -> dict:
    return dict.fromkeys(RECORD_FIELDS) | {"path": path, "error": reason}


def iter_predict_topk(
    model,
    paths,
    k: int = 2,
    *,
    all_faces: bool = False,
    skip_bad: bool = False,
    chunk_size: int = 128,
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
        Give bad files an error record instead of raising.
    chunk_size : int, default=128
        Images cropped and encoded together.

    Yields
    ------
    records : list of dict
        The records of one image, in input order (see :func:`predict_topk`).
    """
    from .exceptions import BadImagesError

    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    crop = model.named_steps.get("crop") if hasattr(model, "named_steps") else None
    if crop is None:
        raise ValueError(
            "model must be a fitted skemotion pipeline whose first step is a "
            "FaceCropper named 'crop'"
        )
    rest = model[1:]
    classes = model.classes_
    from ._validation import check_paths

    paths = check_paths(paths)
    if not skip_bad:  # look at every file first: one error lists every bad file
        errors = [err for *_, err in crop.crop_each(paths) if err is not None]
        if errors:
            raise BadImagesError(errors, len(paths))
    for start in range(0, len(paths), chunk_size):
        chunk = list(
            crop.crop_each(paths[start : start + chunk_size], all_faces=all_faces)
        )
        good = [item for item in chunk if item[3] is None]
        if good:
            proba = rest.predict_proba(np.concatenate([item[2] for item in good]))
            ranked = iter(top_k(proba, classes, k))
        for path, boxes, _, error in chunk:
            if error is not None:
                yield [_error_record(path, error.reason)]
                continue
            records = []
            for face, box in enumerate(boxes):
                for rank, (label, p) in enumerate(next(ranked), start=1):
                    records.append({
                        "path": path, "face": face, "box": [int(v) for v in box],
                        "rank": rank, "label": label, "probability": p, "error": None,
                    })  # fmt: skip
            yield records


def predict_topk(
    model, paths, k: int = 2, *, all_faces: bool = False, skip_bad: bool = False
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
        Instead of raising :class:`~skemotion.exceptions.BadImagesError`,
        give each bad file one record whose ``error`` says why.

    Returns
    -------
    records : list of dict
        Keys ``path``, ``face`` (0-based index of the face in its image,
        largest first), ``box`` (``[left, top, right, bottom]`` in the upright
        image; the whole image when no face was found), ``rank`` (1 = most
        probable), ``label``, ``probability`` and ``error`` (None, or the
        reason a file could not be used). Ready for ``pandas.DataFrame``.

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
            model, paths, k, all_faces=all_faces, skip_bad=skip_bad
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

    from .image_io import read_image

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
