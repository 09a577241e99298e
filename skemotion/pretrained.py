"""The ready emotion model shipped inside the package: :func:`load_pretrained`.

Built from packaged arrays and JSON records (:mod:`skemotion.packaged`), never
from a pickle: it loads with every supported version of the dependencies and
runs no code from a file. The model card (``docs/model_card.md``) says what it
learnt from, how well it does per class and where it fails.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .classification import classifier_from_arrays
from .packaged import load_packaged
from .pipeline import EmotionPipeline, make_emotion_pipeline
from .preprocessing import fast_detector

logger = logging.getLogger(__name__)

__all__ = [  # and PRETRAINED_CLASSES, data: skemotion.pretrained.PRETRAINED_CLASSES
    "load_pretrained",
    "pretrained_digest",
    "pretrained_record",
]

#: The packaged head (its record names the encoder and the crop settings).
_HEAD = "fer2013-head"
#: The classes the ready model predicts (FER2013's seven).
PRETRAINED_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def pretrained_record() -> dict[str, Any]:
    """What the ready model is: its packaged record (checked against its file).

    Returns
    -------
    record : dict
        ``classes``, ``encoder`` (the packaged encoder's name), ``crop``
        (the :class:`FaceCropper` parameters it was made for), ``params``,
        ``temperature``, ``metrics`` (measured when it was built), the
        command that rebuilt it and the file's ``sha256``.

    Raises
    ------
    WeightsError
        If the packaged files are missing or damaged.
    """
    return dict(load_packaged(_HEAD).record)


def pretrained_digest() -> str:
    """The ready model's identity: a digest of its packaged records.

    Each record holds its file's sha256, so another ready model (another
    skemotion release) gives another digest; video resumes and the cluster's
    worker plugin go by it.

    Returns
    -------
    digest : str
        ``"ready-"`` and a sha256 in hex.
    """
    from ._io import strings_sha256
    from .packaged import packaged_folder, packaged_names

    folder = packaged_folder()
    records = [
        (folder / f"{name}.json").read_text(encoding="utf-8")
        for name in packaged_names(folder)
    ]
    return "ready-" + strings_sha256(records)


def _crop_settings(record: dict) -> dict:
    """The record's crop; YuNet framed faces as HOG does (benchmarks/framing.py:
    0.534 both), so where its ``yuface`` wheel does not exist (Python 3.12+,
    macOS, ARM) the ready model detects with HOG instead."""
    crop = dict(record["crop"])
    if crop["detector"] == "yunet" and fast_detector() != "yunet":
        logger.info("the ready model detects faces with HOG: yuface is not installed")
        crop["detector"] = "hog"
    return crop


def load_pretrained(*, precision: str = "auto", **params) -> EmotionPipeline:
    """The ready emotion model: a fitted pipeline from photos to FER2013's 7 emotions.

    Face detection, a crop framed as the training faces were, gray, the
    packaged face encoder (:class:`VGG16Encoder` ``weights="fer2013"``) and a
    dense head trained on FER2013's training images, with temperature-scaled
    (calibrated) probabilities. Offline: nothing is downloaded.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the encoder and the head compute in (see :class:`VGG16Encoder`).
    **params
        Step parameters set on the pipeline, ``<step>__<name>`` as for
        :meth:`~sklearn.pipeline.Pipeline.set_params`, for how images are
        read rather than what was learnt: ``crop__detector="mtcnn"``,
        ``crop__n_jobs=2``, ``crop__multiple_faces="raise"``,
        ``encode__batch_size=64``; ``memory=...`` is not accepted here.
        Every face of a group photo, rather than the largest:
        :func:`~skemotion.predict_topk` with ``all_faces=True``.
        Changing ``crop__size`` or ``encode__*`` weights breaks the model.

    Returns
    -------
    pipeline : EmotionPipeline
        Fitted; ``classes_`` are angry, disgust, fear, happy, neutral, sad,
        surprise. Refit it on your own labels like any pipeline (the encoder
        stays the packaged one).

    Raises
    ------
    WeightsError
        If a packaged file is missing or damaged (its sha256 is checked).

    Examples
    --------
    >>> from skemotion import load_pretrained
    >>> model = load_pretrained()
    >>> list(model.classes_)
    ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise']
    """
    head = load_packaged(_HEAD)
    record = head.record
    pipeline = make_emotion_pipeline(
        **{f"crop__{k}": v for k, v in _crop_settings(record).items()},
        encode__weights=record["encoder"],
        encode__precision=precision,
    )
    size = tuple(record["crop"]["size"])
    blank = np.zeros((1, *size, 3), dtype=np.uint8)
    gray = pipeline.named_steps["gray"].fit(blank)
    pipeline.named_steps["encode"].fit(gray.transform(blank))
    pipeline.steps[-1] = (
        "classify",
        classifier_from_arrays(record["head"], head.arrays, precision=precision),
    )
    return pipeline.set_params(**params) if params else pipeline
