"""The face detectors' back ends, one ``find`` function each.

``find(image, scale, *, upsample, min_confidence)`` takes an RGB image and
gives the ``(left, top, right, bottom)`` boxes of its faces in the image
shrunk by ``scale``. The registry that names them is ``_detectors``.

Nothing heavy is imported at module level (the command line lists the
detectors without an image library): numpy, OpenCV, dlib, LiteRT, ``yuface`` and the
``mtcnn`` package (TensorFlow) are imported inside the functions that use them.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__: list[str] = []  # the registry (_detectors) names these

#: Faces YuNet is less sure of are dropped unless ``min_confidence`` says so:
#: at 0.85 it finds no face on any of face-count's 13 no-face images (a dog
#: scores 0.81) and misses 9 of the post's 365 photos (benchmarks/detectors.py).
YUNET_CONFIDENCE = 0.85
#: The second YuNet pass, for faces that fill the photo: the image with a
#: quarter of its size added as black border on each side, shrunk to this side.
_CLOSE_UP_SIDE = 320


# Detectors hold native objects that cannot be pickled; they are built once per
# thread (dlib's detector and OpenCV's cascade may not be called from two
# threads at once, and the server finds faces in several) or per process, and
# kept here, never on the estimator, so fitted pipelines pickle.
_per_thread = threading.local()


def _thread_own(make):
    """``make()``'s object, built once in each thread that asks for it."""

    @functools.wraps(make)
    def own():
        built = getattr(_per_thread, make.__name__, None)
        if built is None:
            built = make()
            setattr(_per_thread, make.__name__, built)
        return built

    return own


@_thread_own
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@_thread_own
def _haar_cascade():
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():  # pragma: no cover - depends on the OpenCV wheel
        raise RuntimeError(
            f"OpenCV's cascade could not be loaded from {path}; install "
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
def _yunet_function():
    import os

    # yuface's own OpenMP runtime (a copy of libgomp inside its wheel) reads
    # this once, when it loads. Its default, spinning while it waits, made
    # a 640x360 frame take 230-490 ms instead of 50 when the other core was
    # busy (measured: the encoder runs beside the detector in a video). A
    # value the user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        # on LiteRT where it is installed, else libfacedetection itself, not
        # yuface's wrapper: the wrapper casts the boxes to unsigned integers,
        # which wraps a box that starts left of the image, and its binding
        # leaks (see _yunet)
        from ._yunet import yunet_function

        return yunet_function()
    except ImportError:
        raise ImportError(
            "detector='yunet' needs ai-edge-litert (which runs the YuNet network "
            "packaged with skemotion) or the yuface package (libfacedetection): "
            "pip install 'skemotion[yunet]'"
        ) from None


def yunet_available() -> bool:
    """Whether YuNet can run here: on LiteRT (``ai-edge-litert``) or on
    libfacedetection (the ``yuface`` package)."""
    try:
        _yunet_function()
    except ImportError:
        return False
    return True


def _yunet(bgr: np.ndarray) -> np.ndarray:
    """YuNet on one BGR image: one row per face, ``(score, x, y, width,
    height, then five x, y landmarks)``, float, score in [0, 1]."""
    import numpy as np

    rows = _yunet_function()(np.ascontiguousarray(bgr, dtype=np.uint8))
    found = np.asarray(rows, dtype=float).reshape(-1, rows.shape[-1])[:, :15]
    found[:, 0] /= 100.0
    return found


def _small_gray(image: np.ndarray, scale: float) -> np.ndarray:
    """The image in gray, shrunk by ``scale``: what HOG and Haar search."""
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return gray


def _shrunk(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale == 1.0:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def find_hog(image, scale, *, upsample, min_confidence):
    """dlib's HOG detector on the gray image."""
    rects = _hog_detector()(_small_gray(image, scale), int(upsample))
    return [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]


def find_haar(image, scale, *, upsample, min_confidence):
    """OpenCV's Haar cascade on the gray image."""
    import numpy as np

    found = _haar_cascade().detectMultiScale(
        _small_gray(image, scale), scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)
    )
    return [(x, y, x + w, y + h) for (x, y, w, h) in np.asarray(found).reshape(-1, 4)]


def find_mtcnn(image, scale, *, upsample, min_confidence):
    """The faces MTCNN is at least ``min_confidence`` sure of."""
    found = _mtcnn().detect_faces(_shrunk(image, scale), threshold_onet=min_confidence)
    boxes = []
    for face in found or []:
        if face.get("confidence", 0.0) >= min_confidence:
            x, y, w, h = face["box"]
            boxes.append((x, y, x + w, y + h))
    return boxes


def find_yunet(image, scale, *, upsample, min_confidence):
    """YuNet on the image; when it finds nothing, a second look at the image
    framed by a border and shrunk (faces that fill a close-up are larger than
    YuNet's largest anchors)."""
    bgr = _shrunk(image, scale)[:, :, ::-1]
    found = _yunet(bgr)
    boxes = _confident_boxes(found, min_confidence, 0, 0, 1.0)
    if boxes:
        return boxes
    import cv2

    h, w = bgr.shape[:2]
    dy, dx = h // 4, w // 4
    framed = cv2.copyMakeBorder(bgr, dy, dy, dx, dx, cv2.BORDER_CONSTANT, value=0)
    shrink = min(1.0, _CLOSE_UP_SIDE / max(framed.shape[:2]))
    found = _yunet(_shrunk(framed, shrink))
    return _confident_boxes(found, min_confidence, dx, dy, shrink)


def _confident_boxes(found, min_confidence, dx, dy, shrink):
    """HOG-framed boxes (:func:`_hog_framed`) of YuNet's rows at least
    ``min_confidence`` sure, from an image shrunk by ``shrink`` after a
    border of ``dx, dy``."""
    boxes = []
    for score, x, y, w, h in found[:, :5]:
        if score >= min_confidence:
            boxes.append(_hog_framed(x / shrink - dx, y / shrink - dy, w / shrink,
                                     h / shrink))  # fmt: skip
    return boxes


def _hog_framed(x, y, width, height):
    """YuNet's box ``(x, y, width, height)``, which runs from the hairline to
    below the chin (1.35 times as tall as wide), as the square HOG would
    draw around the same face: brows to chin, as FER2013's faces and the
    ready model's crops are framed. Measured on the 316 seed photos where
    both find one face: HOG's box is 1.085 times YuNet's width wide, 0.815
    times its height tall, its centre 0.058 of the height lower (medians)."""
    side = 1.09 * width
    centre_x, centre_y = x + width / 2, y + height * (0.5 + 0.058)
    return (centre_x - side / 2, centre_y - side / 2, centre_x + side / 2,
            centre_y + side / 2)  # fmt: skip
