"""The face detectors: one registry (:data:`DETECTORS`) and :func:`detect_faces`.

Every name a detector is chosen by (``FaceCropper(detector=...)``,
:func:`detect_faces`, the command line's ``--detector``) comes from
:data:`DETECTORS`, in the order hog, haar, mtcnn, yunet, none; the back ends
are in ``_backends``.

The module is imported by the command line to list the detectors, so it
imports no heavy library itself: numpy, OpenCV, dlib, LiteRT, ``yuface`` and the
``mtcnn`` package (TensorFlow) are imported inside the functions that use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from ._backends import (
    YUNET_CONFIDENCE,
    find_haar,
    find_hog,
    find_mtcnn,
    find_yunet,
    yunet_available,
)

if TYPE_CHECKING:
    import numpy as np

# DETECTORS (data, not a function or class) is re-exported by the package
__all__ = ["Detector", "detect_faces", "fast_detector"]


@dataclass(frozen=True)
class Detector:
    """One face detector of :data:`DETECTORS`.

    Attributes
    ----------
    name : str
        Its name, as ``FaceCropper(detector=...)`` and ``--detector`` take it.
    summary : str
        What it is and when to use it, in a few words (for help texts).
    extra : str or None
        The ``skemotion`` extra that installs what it needs
        (``pip install 'skemotion[<extra>]'``); None when the plain install
        has it.
    find : callable or None
        The back end: ``find(image, scale, *, upsample, min_confidence)``
        gives the ``(left, top, right, bottom)`` boxes of the faces in
        ``image`` shrunk by ``scale``. None for ``"none"``, which detects
        nothing: the whole image is taken as the face.
    confidence : float or None
        The ``min_confidence`` it uses when none is given; None for a
        detector that gives no confidence (HOG, Haar).
    licence : str
        The licence of its code and weights.
    """

    name: str
    summary: str
    extra: str | None
    find: Callable | None
    confidence: float | None = None
    licence: str = ""


#: Every face detector, by name, in the order hog, haar, mtcnn, yunet, none.
DETECTORS: MappingProxyType[str, Detector] = MappingProxyType(
    {
        detector.name: detector
        for detector in (
            Detector(
                "hog",
                "dlib's frontal-face HOG detector, as in the original post",
                None,
                find_hog,
                licence="Boost Software Licence 1.0 (dlib, code and model)",
            ),
            Detector(
                "haar",
                "OpenCV's frontal-face Haar cascade (faster, less precise)",
                None,
                find_haar,
                licence="Apache 2.0 (OpenCV); the cascade file: Intel's "
                "BSD-style licence",
            ),
            Detector(
                "mtcnn",
                "the MTCNN network (TensorFlow, about 0.5 GB per process): "
                "finds turned, partly hidden and small faces",
                "mtcnn",
                find_mtcnn,
                confidence=0.8,
                licence="MIT (the mtcnn package, code and weights)",
            ),
            Detector(
                "yunet",
                "libfacedetection's YuNet CNN (its network ships with skemotion "
                "and runs on LiteRT; else the yuface package): fast, finds "
                "turned and small faces",
                "yunet",
                find_yunet,
                confidence=YUNET_CONFIDENCE,
                licence="BSD 3-Clause (libfacedetection, code and weights)",
            ),
            Detector(
                "none",
                "no detection: the images are already face crops (as in "
                "FER2013) and are only resized",
                None,
                None,
            ),
        )
    }
)


def fast_detector() -> str:
    """The fastest detector installed here: ``"yunet"``, else ``"hog"``.

    What ``skemotion video`` uses when no ``--detector`` is given.

    Returns
    -------
    name : str
        A key of :data:`DETECTORS`.
    """
    return "yunet" if yunet_available() else "hog"


def detect_faces(
    image: np.ndarray,
    detector: str = "hog",
    *,
    upsample: int = 1,
    max_detection_side: int | None = 800,
    min_confidence: float | None = None,
    with_landmarks: bool = False,
):
    """Find faces in one RGB image.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), dtype uint8
        RGB image, as returned by :func:`skemotion.read_image`.
    detector : {"hog", "haar", "mtcnn", "yunet"}, default="hog"
        ``"hog"``: dlib's frontal-face HOG detector (the original post's);
        ``"haar"``: OpenCV's frontal-face Haar cascade; ``"mtcnn"``: the MTCNN
        network (the ``mtcnn`` package, TensorFlow; the ``mtcnn`` extra),
        which finds more faces (turned, partly hidden, small);
        ``"yunet"``: libfacedetection's YuNet, about as thorough as MTCNN and
        faster than HOG: its network packaged with skemotion, run by LiteRT
        where ``ai-edge-litert`` is installed, else libfacedetection itself
        (the ``yuface`` package; the ``yunet`` extra), which finds the same
        faces.
    upsample : int, default=1
        For ``"hog"``: times the image is upsampled before detection, which
        finds smaller faces at some cost. Ignored by the others.
    max_detection_side : int or None, default=800
        Images whose longest side is larger are shrunk to it for detection
        (boxes are scaled back). Large photos are slow to scan and their
        faces are big enough to be found at this size. ``None`` keeps the
        full resolution.
    min_confidence : float or None, default=None
        For ``"mtcnn"`` and ``"yunet"``: faces it is less sure of are left
        out. None: the detector's own (:attr:`Detector.confidence`: 0.8 for
        MTCNN, 0.85 for YuNet).
    with_landmarks : bool, default=False
        Also return each face's five landmarks (:func:`face_landmarks`, the
        same model whatever the detector).

    Returns
    -------
    boxes : ndarray of shape (n_faces, 4), dtype int
        ``(left, top, right, bottom)`` of each face in the image's pixel
        coordinates, clipped to the image, largest first.
    landmarks : ndarray of shape (n_faces, 5, 2), float
        With ``with_landmarks``: as :func:`face_landmarks` gives them.
    """
    entry = DETECTORS.get(detector) if isinstance(detector, str) else None
    if entry is None or entry.find is None:
        *others, last = (repr(name) for name, d in DETECTORS.items() if d.find)
        raise ValueError(
            f"unknown detector {detector!r}; use {', '.join(others)} or {last}"
        )
    scale = 1.0
    longest = max(image.shape[:2])
    if max_detection_side is not None and longest > max_detection_side:
        scale = max_detection_side / longest
    if min_confidence is None:
        min_confidence = entry.confidence
    boxes = entry.find(image, scale, upsample=upsample, min_confidence=min_confidence)
    boxes = _in_image(boxes, scale, image)
    if not with_landmarks:
        return boxes
    from ._landmarks import face_landmarks

    return boxes, face_landmarks(image, boxes)


def _in_image(boxes, scale: float, image: np.ndarray) -> np.ndarray:
    """Boxes back in the image's coordinates, clipped to it, largest first."""
    import numpy as np

    if not len(boxes):
        return np.zeros((0, 4), dtype=int)
    arr = np.asarray(boxes, dtype=float) / scale
    h, w = image.shape[:2]
    arr[:, [0, 2]] = arr[:, [0, 2]].clip(0, w)
    arr[:, [1, 3]] = arr[:, [1, 3]].clip(0, h)
    arr = np.rint(arr).astype(int)
    areas = (arr[:, 2] - arr[:, 0]) * (arr[:, 3] - arr[:, 1])
    order = np.argsort(-areas, kind="stable")
    return arr[order[areas[order] > 0]]
