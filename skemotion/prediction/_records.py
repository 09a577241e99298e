"""Top-k records, one per face and rank: :func:`predict_topk` and its
streaming form, built on :func:`iter_predict_proba`."""

from __future__ import annotations

from collections.abc import Iterator

from ..datasets import DEFAULT_MAX_FILE_SIZE
from ._engine import ImagePrediction, check_model, iter_predict_proba
from ._topk import top_k

__all__ = ["RECORD_FIELDS", "iter_predict_topk", "predict_topk"]

#: Keys of every record returned by :func:`predict_topk` (the columns of
#: ``skemotion predict --format csv``).
RECORD_FIELDS = (
    "path", "face", "face_found", "box", "rank", "label", "probability", "error"
)  # fmt: skip


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
    check_model(model)
    classes = model.classes_
    for prediction in iter_predict_proba(
        model, paths, all_faces=all_faces, skip_bad=skip_bad,
        chunk_size=chunk_size, max_file_size=max_file_size,
    ):  # fmt: skip
        yield _records(prediction, classes, k)


def _records(prediction: ImagePrediction, classes, k: int) -> list[dict]:
    """One image's records: its faces' top-k, or its error."""
    path, found = prediction.path, prediction.face_found
    if prediction.error is not None:
        return [_error_record(path, prediction.error)]
    records = []
    ranked = top_k(prediction.proba, classes, k)
    # faces are numbered from 1, as people count them (and as the page does)
    faces = enumerate(zip(prediction.boxes, ranked, strict=True), start=1)
    for face, (box, pairs) in faces:
        for rank, (label, p) in enumerate(pairs, start=1):
            records.append({
                "path": path, "face": face, "face_found": found,
                "box": [int(v) for v in box], "rank": rank, "label": label,
                "probability": p, "error": None,
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
        Keys ``path``, ``face`` (the face's number in its image, from 1, the
        largest first), ``face_found`` (False when no face was found and the
        whole image was classified), ``box`` (``[left, top, right, bottom]``
        in the upright image; the whole image when no face was found),
        ``rank`` (1 = most probable), ``label``, ``probability`` and
        ``error`` (None, or the reason a file could not be used; ``face``,
        ``face_found`` and the rest are then None). Ready for
        ``pandas.DataFrame``.

    Raises
    ------
    BadImagesError
        When some files cannot be used and ``skip_bad`` is False.

    Examples
    --------
    >>> records = predict_topk(model, ["party.jpg"], all_faces=True)  # doctest: +SKIP
    >>> records[0]  # doctest: +SKIP
    {'path': 'party.jpg', 'face': 1, 'face_found': True, 'box': [120, 80, 220, 180],
     'rank': 1, 'label': 'happy', 'probability': 0.62, 'error': None}
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
