"""The face detectors: one registry (:data:`DETECTORS`) and their back ends.

Every name a detector is chosen by (``FaceCropper(detector=...)``,
:func:`detect_faces`, the command line's ``--detector``) comes from
:data:`DETECTORS`, in the order hog, haar, mtcnn, none.

The module is imported by the command line to list the detectors, so it
imports no heavy library itself: numpy, OpenCV, dlib and the ``mtcnn``
package (TensorFlow) are imported inside the functions that use them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# DETECTORS (data, not a function or class) is re-exported by the package
__all__ = ["Detector", "detect_faces"]


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
        The back end: ``find(image, scale, *, upsample, min_confidence,
        with_eyes)`` gives ``(boxes, eyes)``, the ``(left, top, right,
        bottom)`` boxes of the faces in ``image`` shrunk by ``scale``, and
        their eyes (``[[x, y], [x, y]]`` each, NaN where unknown) or None
        when ``with_eyes`` is False. None for ``"none"``, which detects
        nothing: the whole image is taken as the face.
    """

    name: str
    summary: str
    extra: str | None
    find: Callable | None


# Detectors hold native objects that cannot be pickled; they are built once per
# process and kept here, never on the estimator, so fitted pipelines pickle.
@functools.lru_cache(maxsize=1)
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def _haar_cascade():
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():  # pragma: no cover - depends on the OpenCV wheel
        raise RuntimeError(
            f"OpenCV's Haar cascade could not be loaded from {path}; install "
            "opencv-python-headless<5 (OpenCV 5 wheels ship no Haar files)"
        )
    return cascade


@functools.lru_cache(maxsize=1)
def _mtcnn():
    """MTCNN (the ``mtcnn`` package; its weights ship in its wheel): TensorFlow
    in this process, about 0.5 GB of memory per process that uses it."""
    try:
        from mtcnn import MTCNN
    except ImportError:
        raise ImportError(
            "detector='mtcnn' needs the mtcnn package: pip install 'skemotion[mtcnn]'"
        ) from None
    return MTCNN(stages="face_and_landmarks_detection", device="CPU:0")


@functools.lru_cache(maxsize=1)
def _eye_cascade():
    import cv2

    path = cv2.data.haarcascades + "haarcascade_eye.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():  # pragma: no cover - depends on the OpenCV wheel
        raise RuntimeError(f"OpenCV's eye cascade could not be loaded from {path}")
    return cascade


def _small_gray(image: np.ndarray, scale: float) -> np.ndarray:
    """The image in gray, shrunk by ``scale``: what HOG and Haar search."""
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return gray


def _cascade_eyes(gray: np.ndarray, box) -> list:
    """Two eyes in the upper half of a face box (OpenCV's eye cascade), or NaN."""
    import numpy as np

    left, top, right, bottom = (int(v) for v in box)
    upper = gray[
        max(0, top) : max(0, top) + max(1, (bottom - top) // 2),
        max(0, left) : max(0, right),
    ]
    side = max(8, (right - left) // 8)
    found = _eye_cascade().detectMultiScale(
        upper, scaleFactor=1.1, minNeighbors=5, minSize=(side, side)
    )
    found = sorted(
        np.asarray(found).reshape(-1, 4).tolist(), key=lambda r: -r[2] * r[3]
    )
    if len(found) < 2:
        return [[np.nan, np.nan], [np.nan, np.nan]]
    centres = sorted(([left + x + w / 2, top + y + h / 2] for x, y, w, h in found[:2]))
    return centres


def _find_hog(image, scale, *, upsample, min_confidence, with_eyes):
    """dlib's HOG detector on the gray image; eyes from OpenCV's eye cascade."""
    gray = _small_gray(image, scale)
    rects = _hog_detector()(gray, int(upsample))
    boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
    return boxes, [_cascade_eyes(gray, box) for box in boxes] if with_eyes else None


def _find_haar(image, scale, *, upsample, min_confidence, with_eyes):
    """OpenCV's Haar cascade on the gray image; eyes from its eye cascade."""
    import numpy as np

    gray = _small_gray(image, scale)
    found = _haar_cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)
    )
    boxes = [(x, y, x + w, y + h) for (x, y, w, h) in np.asarray(found).reshape(-1, 4)]
    return boxes, [_cascade_eyes(gray, box) for box in boxes] if with_eyes else None


def _find_mtcnn(image, scale, *, upsample, min_confidence, with_eyes):
    """Boxes ``(left, top, right, bottom)`` and eyes ``[[x, y], [x, y]]``
    (left eye in the image first) of the faces MTCNN is sure enough of."""
    import cv2
    import numpy as np

    small = image
    if scale != 1.0:
        small = cv2.resize(
            image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
        )
    found = _mtcnn().detect_faces(small, threshold_onet=min_confidence)
    boxes, eyes = [], []
    for face in found or []:
        if face.get("confidence", 0.0) < min_confidence:
            continue
        x, y, w, h = face["box"]
        boxes.append((x, y, x + w, y + h))
        points = face.get("keypoints", {})
        left, right = points.get("left_eye"), points.get("right_eye")
        eyes.append([left, right] if left and right else [[np.nan] * 2] * 2)
    return boxes, eyes


#: Every face detector, by name, in the order hog, haar, mtcnn, none.
DETECTORS: MappingProxyType[str, Detector] = MappingProxyType(
    {
        detector.name: detector
        for detector in (
            Detector(
                "hog",
                "dlib's frontal-face HOG detector, as in the original post",
                None,
                _find_hog,
            ),
            Detector(
                "haar",
                "OpenCV's frontal-face Haar cascade (faster, less precise)",
                None,
                _find_haar,
            ),
            Detector(
                "mtcnn",
                "the MTCNN network (TensorFlow, about 0.5 GB per process): "
                "finds turned, partly hidden and small faces, and their eyes",
                "mtcnn",
                _find_mtcnn,
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


def detect_faces(
    image: np.ndarray,
    detector: str = "hog",
    *,
    upsample: int = 1,
    max_detection_side: int | None = 800,
    min_confidence: float = 0.8,
    with_eyes: bool = False,
):
    """Find faces in one RGB image.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), dtype uint8
        RGB image, as returned by :func:`skemotion.read_image`.
    detector : {"hog", "haar", "mtcnn"}, default="hog"
        ``"hog"``: dlib's frontal-face HOG detector (the original post's);
        ``"haar"``: OpenCV's frontal-face Haar cascade; ``"mtcnn"``: the MTCNN
        network (the ``mtcnn`` package, TensorFlow; the ``mtcnn`` extra),
        which finds more faces (turned, partly hidden, small) and their eyes.
    upsample : int, default=1
        For ``"hog"``: times the image is upsampled before detection, which
        finds smaller faces at some cost. Ignored by the others.
    max_detection_side : int or None, default=800
        Images whose longest side is larger are shrunk to it for detection
        (boxes are scaled back). Large photos are slow to scan and their
        faces are big enough to be found at this size. ``None`` keeps the
        full resolution.
    min_confidence : float, default=0.8
        For ``"mtcnn"``: faces it is less sure of are left out.
    with_eyes : bool, default=False
        Also return where each face's eyes are.

    Returns
    -------
    boxes : ndarray of shape (n_faces, 4), dtype int
        ``(left, top, right, bottom)`` of each face in the image's pixel
        coordinates, clipped to the image, largest first.
    eyes : ndarray of shape (n_faces, 2, 2), float
        With ``with_eyes``: ``[[x, y] of the eye on the image's left, [x, y]
        of the other]`` per face, NaN where unknown. MTCNN gives them; for
        HOG and Haar, OpenCV's eye cascade looks for two eyes in the upper
        half of each face box.
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
    boxes, eyes = entry.find(
        image,
        scale,
        upsample=upsample,
        min_confidence=min_confidence,
        with_eyes=with_eyes,
    )
    return _finish(boxes, eyes, scale, image, with_eyes)


def _finish(boxes, eyes, scale: float, image: np.ndarray, with_eyes: bool):
    """Boxes (and eyes) back in the image's coordinates, largest first."""
    import numpy as np

    if not boxes:
        empty = np.zeros((0, 4), dtype=int)
        return (empty, np.zeros((0, 2, 2))) if with_eyes else empty
    arr = np.asarray(boxes, dtype=float) / scale
    h, w = image.shape[:2]
    arr[:, [0, 2]] = arr[:, [0, 2]].clip(0, w)
    arr[:, [1, 3]] = arr[:, [1, 3]].clip(0, h)
    arr = np.rint(arr).astype(int)
    areas = (arr[:, 2] - arr[:, 0]) * (arr[:, 3] - arr[:, 1])
    order = np.argsort(-areas, kind="stable")
    order = order[areas[order] > 0]
    if not with_eyes:
        return arr[order]
    eye_arr = np.asarray(eyes, dtype=float).reshape(-1, 2, 2) / scale
    return arr[order], eye_arr[order]
