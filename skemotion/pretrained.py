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

from .engines import CompiledNetwork, litert_available
from .packaged import load_packaged, load_packaged_file
from .pipeline import EmotionPipeline, compiled_pipeline, make_emotion_pipeline
from .preprocessing import fast_detector

logger = logging.getLogger(__name__)

__all__ = [  # and PRETRAINED_CLASSES, data: skemotion.pretrained.PRETRAINED_CLASSES
    "load_pretrained",
    "pretrained_digest",
    "pretrained_record",
]

#: The packaged head (its record names the encoder and the crop settings).
_HEAD = "fer2013-head"
#: The ready model compiled (int8, dynamic range) for the LiteRT engine.
_COMPILED = "fer2013-litert"
#: ``engine`` values of :func:`load_pretrained`.
ENGINES = ("litert", "tensorflow")
#: Said once per process where the compiled engine cannot run.
_NO_LITERT = (
    "ai-edge-litert is not installed for this platform: predicting with TensorFlow"
)
_said_no_litert = False
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
        test-time augmentation it predicts with by default (``tta``, None
        where there is none), the command that rebuilt it and the file's
        ``sha256``.

    Raises
    ------
    WeightsError
        If the packaged files are missing or damaged.
    """
    return dict(load_packaged(_HEAD).record)


def pretrained_digest(engine: str | None = None) -> str:
    """The ready model's identity: a digest of its packaged records.

    Each record holds its file's sha256, so another ready model (another
    skemotion release) gives another digest.

    Parameters
    ----------
    engine : {"litert", "tensorflow"} or None, default=None
        The engine that runs it, named after the digest: the two engines'
        probabilities differ a little, so video resumes and the cluster's
        runs go by both. None: the records' digest alone.

    Returns
    -------
    digest : str
        ``"ready-"`` and a sha256 in hex, then ``"-"`` and the engine if given.
    """
    from ._io import strings_sha256
    from .packaged import packaged_folder, packaged_names

    folder = packaged_folder()
    records = [
        (folder / f"{name}.json").read_text(encoding="utf-8")
        for name in packaged_names(folder)
    ]
    digest = "ready-" + strings_sha256(records)
    return f"{digest}-{engine}" if engine else digest


def _crop_settings(record: dict) -> dict:
    """The record's crop; YuNet framed faces as HOG does (benchmarks/framing.py:
    0.534 both), so where YuNet cannot run (neither ai-edge-litert nor the
    ``yuface`` wheel is installed) the ready model detects with HOG instead."""
    crop = dict(record["crop"])
    if crop["detector"] == "yunet" and fast_detector() != "yunet":
        logger.info(
            "the ready model detects faces with HOG: YuNet cannot run here "
            "(neither ai-edge-litert nor yuface is installed)"
        )
        crop["detector"] = "hog"
    return crop


def ready_engine(engine: str | None = None, precision: str = "auto") -> str:
    """The engine that runs the ready model for :func:`load_pretrained`'s
    ``engine`` and ``precision``: ``engine``, or the compiled one where it
    runs (a cluster's client names it for its workers)."""
    global _said_no_litert
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES} or None, got {engine!r}")
    if engine == "tensorflow" or (engine is None and precision != "auto"):
        return "tensorflow"
    if engine == "litert" and precision != "auto":
        raise ValueError(
            f"precision={precision!r} is for the TensorFlow engine: the compiled "
            "ready model computes in int8 (dynamic range); pass "
            "engine='tensorflow' for float32 or bfloat16"
        )
    if litert_available():
        return "litert"
    if not _said_no_litert:
        logger.warning(_NO_LITERT)
        _said_no_litert = True
    return "tensorflow"


def _compiled_ready_model(params: dict) -> EmotionPipeline:
    packaged = load_packaged_file(_COMPILED)
    network = CompiledNetwork.from_bytes(packaged.data, source=str(packaged.path))
    pipeline = compiled_pipeline(network, **_crop_settings(network.record_))
    # the encoder's batch size is the compiled network's; nothing else of the
    # TensorFlow engine's encoder exists here
    params = {
        ("classify__batch_size" if k == "encode__batch_size" else k): v
        for k, v in params.items()
    }
    other = sorted(k for k in params if k.startswith("encode__"))
    if other:
        raise ValueError(
            f"{', '.join(other)}: the compiled ready model has no encode step; "
            "pass engine='tensorflow' to set the encoder's parameters"
        )
    return pipeline.set_params(**params) if params else pipeline


def load_pretrained(
    *, engine: str | None = None, precision: str = "auto", **params
) -> EmotionPipeline:
    """The ready emotion model: a fitted pipeline from photos to FER2013's 7 emotions.

    Face detection, a crop framed as the training faces were, gray, the
    packaged face encoder (:class:`VGG16Encoder` ``weights="fer2013"``) and a
    dense head trained on FER2013's training images, with temperature-scaled
    (calibrated) probabilities. Offline: nothing is downloaded.

    Parameters
    ----------
    engine : {"litert", "tensorflow"} or None, default=None
        What runs the network. ``"litert"``: the packaged compiled network
        (int8 weights, dynamic range) on LiteRT, without importing
        TensorFlow: a new process answers in a fraction of the time, and
        predicts the same label as TensorFlow for more than 99% of faces;
        the pipeline's steps are ``crop``, ``gray`` and ``classify`` (a
        :class:`~skemotion.engines.CompiledNetwork`, which predicts only).
        ``"tensorflow"``: the Keras encoder and classifier (steps ``crop``,
        ``gray``, ``encode``, ``classify``), for exact results or to refit.
        None: ``"litert"`` where ``ai-edge-litert`` is installed and
        ``precision`` is ``"auto"``, else ``"tensorflow"`` (logging once
        that the compiled engine is missing).
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the TensorFlow engine's encoder and head compute in (see
        :class:`VGG16Encoder`); another value than ``"auto"`` chooses that
        engine.
    **params
        Step parameters set on the pipeline, ``<step>__<name>`` as for
        :meth:`~sklearn.pipeline.Pipeline.set_params`, for how images are
        read rather than what was learnt: ``crop__detector="mtcnn"``,
        ``crop__n_jobs=2``, ``crop__multiple_faces="raise"``,
        ``encode__batch_size=64``; ``memory=...`` is not accepted here.
        Every face of a group photo, rather than the largest:
        :func:`~skemotion.predict_topk` with ``all_faces=True``.
        Changing ``crop__size`` or ``encode__*`` weights breaks the model.
        ``tta=None`` turns off the test-time augmentation the ready model
        uses by default where it paid when it was built (its record's
        ``"tta"``: see :class:`~skemotion.EmotionPipeline`), ``tta="flip"``
        and the others choose one.

    Returns
    -------
    pipeline : EmotionPipeline
        Fitted; ``classes_`` are angry, disgust, fear, happy, neutral, sad,
        surprise; ``pipeline.engine`` says which engine runs it. Refit the
        TensorFlow engine's pipeline on your own labels like any pipeline
        (the encoder stays the packaged one).

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
    if ready_engine(engine, precision) == "litert":
        return _compiled_ready_model({"tta": pretrained_record().get("tta"), **params})
    from .classification import classifier_from_arrays  # imports TensorFlow

    head = load_packaged(_HEAD)
    record = head.record
    params = {"tta": record.get("tta"), **params}
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
