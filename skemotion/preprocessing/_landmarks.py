"""Five landmarks of a face box, whatever detector found it.

The landmark model is dlib's five-point shape predictor (the outer and inner
corner of each eye and the base of the nose; public domain, shipped in
``files/``). It places the points from the face inside any box, so
``align=True`` levels the same eyes whether HOG, Haar, MTCNN or YuNet drew
the box: on a face tilted by 20 degrees the three boxes of Haar, MTCNN and
YuNet give eye angles within half a degree of each other.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

__all__ = ["face_landmarks"]

#: The five points, in the order :func:`face_landmarks` gives them. "left" is
#: the side on the image's left (the person's right).
LANDMARKS = (
    "left_eye_outer",
    "left_eye_inner",
    "right_eye_inner",
    "right_eye_outer",
    "nose",
)

_MODEL = Path(__file__).parent / "files" / "shape_predictor_5_face_landmarks.dat"
_MODEL_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"


@functools.lru_cache(maxsize=1)
def _shape_predictor():
    """dlib's predictor, loaded once per process after its sha256 is checked
    (it holds native state: never kept on an estimator)."""
    import dlib

    digest = hashlib.sha256(_MODEL.read_bytes()).hexdigest()
    if digest != _MODEL_SHA256:
        raise RuntimeError(
            f"{_MODEL}: the landmark model's sha256 is {digest[:12]}..., not "
            f"{_MODEL_SHA256[:12]}...: the installation is damaged; reinstall skemotion"
        )
    return dlib.shape_predictor(str(_MODEL))


def face_landmarks(image: np.ndarray, boxes) -> np.ndarray:
    """Eye corners and nose of each face box of an RGB image.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), dtype uint8
        RGB image, as :func:`skemotion.read_image` returns it.
    boxes : array-like of shape (n_faces, 4)
        ``(left, top, right, bottom)`` of each face, from any detector
        (:func:`detect_faces`, :meth:`FaceCropper.detect`) or drawn by hand.

    Returns
    -------
    landmarks : ndarray of shape (n_faces, 5, 2), float
        ``[x, y]`` in the image's pixels of, in order: the outer and the
        inner corner of the eye on the image's left, the inner and the outer
        corner of the other eye, and the base of the nose.

    Notes
    -----
    The model is dlib's ``shape_predictor_5_face_landmarks`` (Davis King,
    public domain), shipped with skemotion: nothing is downloaded. It always
    places five points in a box; on a box with no face in it the points mean
    nothing, so give it boxes a detector found. About 1 ms a face.
    """
    import dlib

    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    points = np.empty((len(boxes), 5, 2))
    if not len(boxes):
        return points
    predictor = _shape_predictor()
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    for i, (left, top, right, bottom) in enumerate(np.rint(boxes).astype(int)):
        shape = predictor(pixels, dlib.rectangle(left, top, right, bottom))
        found = np.array([[shape.part(j).x, shape.part(j).y] for j in range(5)])
        corners = found[:4][np.argsort(found[:4, 0], kind="stable")]
        points[i, :4], points[i, 4] = corners, found[4]
    return points


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """``(n_faces, 2, 2)``: the centre of each eye (its two corners' middle),
    the eye on the image's left first."""
    landmarks = np.asarray(landmarks, dtype=float)
    return np.stack(
        [landmarks[:, 0:2].mean(axis=1), landmarks[:, 2:4].mean(axis=1)], axis=1
    )
