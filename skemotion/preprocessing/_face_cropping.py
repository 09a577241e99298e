"""Pipeline stage 1: image paths to face crops (``path -> image -> crop``)."""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
from collections.abc import Iterator
from numbers import Integral, Real

import cv2
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._progress import progress_iter
from .._validation import normalize_size
from ..datasets._image_io import (
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_PIXELS,
)
from ..datasets._sources import as_sources, read_source, source_content, source_name
from ..exceptions import (
    BadImagesError,
    ImageReadError,
    MultipleFacesError,
    NoFaceError,
)
from ..caching import FeatureCache, as_cache

__all__ = ["FaceCropper", "detect_faces"]

logger = logging.getLogger(__name__)


# Detectors hold native objects that cannot be pickled; they are built once per
# process and kept here, never on the estimator, so fitted pipelines pickle.
@functools.lru_cache(maxsize=1)
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def _haar_cascade():
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
    path = cv2.data.haarcascades + "haarcascade_eye.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():  # pragma: no cover - depends on the OpenCV wheel
        raise RuntimeError(f"OpenCV's eye cascade could not be loaded from {path}")
    return cascade


def _mtcnn_faces(image: np.ndarray, scale: float, min_confidence: float):
    """Boxes ``(left, top, right, bottom)`` and eyes ``[[x, y], [x, y]]``
    (left eye in the image first) of the faces MTCNN is sure enough of."""
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
    scale = 1.0
    longest = max(image.shape[:2])
    if max_detection_side is not None and longest > max_detection_side:
        scale = max_detection_side / longest
    eyes = None
    if detector == "mtcnn":
        boxes, eyes = _mtcnn_faces(image, scale, min_confidence)
        return _finish(boxes, eyes, scale, image, with_eyes)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if detector == "hog":
        rects = _hog_detector()(gray, int(upsample))
        boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
    elif detector == "haar":
        found = _haar_cascade().detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)
        )
        boxes = [
            (x, y, x + w, y + h) for (x, y, w, h) in np.asarray(found).reshape(-1, 4)
        ]
    else:
        raise ValueError(f"unknown detector {detector!r}; use 'hog', 'haar' or 'mtcnn'")
    if with_eyes:
        eyes = [_cascade_eyes(gray, box) for box in boxes]
    return _finish(boxes, eyes, scale, image, with_eyes)


def _cascade_eyes(gray: np.ndarray, box) -> list:
    """Two eyes in the upper half of a face box (OpenCV's eye cascade), or NaN."""
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


def _finish(boxes, eyes, scale: float, image: np.ndarray, with_eyes: bool):
    """Boxes (and eyes) back in the image's coordinates, largest first."""
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


def align_face(image: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """The image rotated about the eyes' midpoint so that they are level.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3)
    eyes : ndarray of shape (2, 2)
        ``[x, y]`` of each eye; NaN: the image as it is.

    Returns
    -------
    rotated : ndarray, same shape
        Borders replicated, so that the crop around the face has no black
        corners.
    """
    eyes = np.asarray(eyes, dtype=float)
    if not np.isfinite(eyes).all():
        return image
    (x1, y1), (x2, y2) = sorted(eyes.tolist())
    angle = np.degrees(np.arctan2(y2 - y1, x2 - x1))
    if abs(angle) < 0.5 or abs(angle) > 45:  # level already, or not a pair of eyes
        return image
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    h, w = image.shape[:2]
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _expand_box(
    box: np.ndarray, margin: float, shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    left, top, right, bottom = (int(v) for v in box)
    dx = round((right - left) * margin)
    dy = round((bottom - top) * margin)
    h, w = shape[:2]
    return max(0, left - dx), max(0, top - dy), min(w, right + dx), min(h, bottom + dy)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    shrinking = image.shape[0] > height or image.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


class FaceCropper(TransformerMixin, BaseEstimator):
    """Read image files, find the face, crop it with a margin and resize it.

    The first step of the emotion pipeline: a 1-D array-like of image paths
    goes in, a batch of RGB face crops comes out.

    Parameters
    ----------
    detector : {"hog", "haar", "mtcnn", "none"}, default="hog"
        ``"hog"``: dlib's frontal-face HOG detector, as in the original post.
        ``"haar"``: OpenCV's frontal-face Haar cascade (faster, less precise).
        ``"none"``: the images are already face crops (as in FER2013); they
        are only resized.
        ``"mtcnn"``: the MTCNN network (``pip install skemotion[mtcnn]``;
        TensorFlow in each process that detects: about 0.5 GB more per
        worker of ``n_jobs``), which finds turned, partly hidden and small
        faces that HOG misses, and their eyes.
    min_confidence : float, default=0.8
        For ``"mtcnn"``: faces it is less sure of are left out.
    align : bool, default=False
        Rotate each face about its eyes so that they are level before the
        crop (as FER2013's faces are): MTCNN's eye landmarks; for ``"hog"`` and
        ``"haar"``, OpenCV's eye cascade in the upper half of the face box
        (a face where it does not find two eyes is cropped as it is).
    size : int or tuple of (int, int), default=(224, 224)
        Output ``(height, width)`` of every crop; an int means a square.
    margin : float, default=0.2
        Space kept around the detected face box, as a fraction of the box's
        width (left and right) and height (top and bottom), clipped to the
        image.
    no_face : {"full_image", "raise"}, default="full_image"
        What to do with an image in which no face is found: use the whole
        image (resized), or raise :class:`~skemotion.exceptions.NoFaceError`.
    multiple_faces : {"largest", "raise"}, default="largest"
        What to do when several faces are found: crop the largest, or raise
        :class:`~skemotion.exceptions.MultipleFacesError`.
    upsample : int, default=1
        HOG only: upsampling passes before detection (finds smaller faces).
    max_detection_side : int or None, default=800
        Photos larger than this (longest side) are shrunk for detection only;
        crops are always taken from the full-resolution image.
    max_pixels : int or None, default=100_000_000
        Refuse images with more pixels (decompression bombs).
    max_file_size : int or None, default=268_435_456
        Refuse files larger than this many bytes (256 MiB), before reading.
    n_jobs : int or None, default=None
        Worker processes that read, decode and search images for faces in
        parallel (``None`` means 1 unless in a :func:`joblib.parallel_config`
        context; ``-1`` means all cores). Processes, not threads: dlib's
        detector is not thread-safe. Crops are yielded in input order as they
        are ready, so later steps (the encoder) work while the workers read
        ahead. Worth it for large or slow images (HOG on photos); for small
        ready-made crops (``detector="none"``) one process is usually enough.
    progress : bool or None, default=None
        Show a progress bar; ``None`` shows one when stderr is a terminal.
    memory : str, joblib.Memory, FeatureCache or None, default=None
        Cache crops on disk, keyed by each file's bytes and every parameter
        above that changes the crop, so repeated work (cross-validation,
        grid search, a second run) reads and detects each image once.

    See Also
    --------
    GrayscaleConverter : the next step of the pipeline.
    make_emotion_pipeline : the whole chain from paths to labels.

    Notes
    -----
    The transformer is stateless: :meth:`fit` only validates the parameters,
    learns nothing and sets no fitted attribute, and :meth:`transform` works
    without it. Every path is read and checked
    before any crop is returned; when some files are bad, one
    :class:`~skemotion.exceptions.BadImagesError` lists every one of them.

    Examples
    --------
    >>> from skemotion import FaceCropper
    >>> cropper = FaceCropper(detector="hog", size=64)
    >>> crops = cropper.transform(["photo.jpg"])  # doctest: +SKIP
    >>> crops.shape  # doctest: +SKIP
    (1, 64, 64, 3)
    """

    _parameter_constraints: dict = {
        "detector": [StrOptions({"hog", "haar", "mtcnn", "none"})],
        "min_confidence": [Interval(Real, 0, 1, closed="both")],
        "align": ["boolean"],
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "margin": [Interval(Real, 0, None, closed="left")],
        "no_face": [StrOptions({"full_image", "raise"})],
        "multiple_faces": [StrOptions({"largest", "raise"})],
        "upsample": [Interval(Integral, 0, 4, closed="both")],
        "max_detection_side": [Interval(Integral, 32, None, closed="left"), None],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
        "max_file_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "progress": ["boolean", None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"]), FeatureCache],
    }

    def __init__(
        self,
        detector: str = "hog",
        min_confidence: float = 0.8,
        align: bool = False,
        size: int | tuple[int, int] = (224, 224),
        margin: float = 0.2,
        no_face: str = "full_image",
        multiple_faces: str = "largest",
        upsample: int = 1,
        max_detection_side: int | None = 800,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
        n_jobs: int | None = None,
        progress: bool | None = None,
        memory=None,
    ) -> None:
        self.detector = detector
        self.min_confidence = min_confidence
        self.align = align
        self.size = size
        self.margin = margin
        self.no_face = no_face
        self.multiple_faces = multiple_faces
        self.upsample = upsample
        self.max_detection_side = max_detection_side
        self.max_pixels = max_pixels
        self.max_file_size = max_file_size
        self.n_jobs = n_jobs
        self.progress = progress
        self.memory = memory

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the paths; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths (str or os.PathLike).
        y : None
            Ignored.

        Returns
        -------
        self : FaceCropper
        """
        as_sources(X)
        normalize_size(self.size)
        return self

    def transform(self, X) -> np.ndarray:
        """Read every image and return its face crop.

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths (str or os.PathLike).

        Returns
        -------
        crops : ndarray of shape (n_images, height, width, 3), dtype uint8
            RGB face crops, in input order.

        Raises
        ------
        BadImagesError
            If any file cannot be read, or breaks the ``no_face`` or
            ``multiple_faces`` policy; it lists every such file. Raised after
            all files were looked at, so one error tells about all of them.
        """
        self._validate_params()
        size = normalize_size(self.size)
        paths = as_sources(X)
        out = np.empty((len(paths), *size, 3), dtype=np.uint8)
        errors: list[ImageReadError] = []
        for i, (_, _, crops, error) in enumerate(self.crop_each(paths)):
            if error is not None:
                errors.append(error)
            else:
                out[i] = crops[0]
        if errors:
            raise BadImagesError(errors, len(paths))
        return out

    def crop_each(self, X, *, all_faces: bool = False):
        """Crop image by image, never stopping at a bad file.

        Parameters
        ----------
        X : array-like of shape (n_images,) or ndarray of shape (n_images, H, W, 3)
            Image paths or images in memory (arrays, PIL images, encoded
            bytes), as for :meth:`transform`.
        all_faces : bool, default=False
            Crop every face found instead of applying ``multiple_faces``.

        Yields
        ------
        path : str
            The image path, or a name for an image in memory
            (``"<array #3>"``).
        boxes : ndarray of shape (n_faces, 4) or None
            ``(left, top, right, bottom)`` of each cropped face in the upright
            image; the whole image when no face was found (``no_face=
            "full_image"``) or ``detector="none"``. None for a bad file.
        crops : ndarray of shape (n_faces, height, width, 3) or None
            The crops, resized to ``size``. None for a bad file.
        error : ImageReadError or None
            Why the file could not be used (unreadable, or a policy set to
            ``"raise"``), else None.
        """
        self._validate_params()
        yield from self._crop_stream(
            as_sources(X), all_faces=all_faces, progress=self.progress
        )

    def _crop_stream(
        self, paths: list[str], *, all_faces: bool, progress: bool | None
    ) -> Iterator[tuple]:
        """:meth:`crop_each` on validated paths, with its own progress switch."""
        size = normalize_size(self.size)
        counts = {"no_face": 0, "multiple_faces": 0}
        cache = as_cache(self.memory)
        results, in_workers = self._iter_results(paths, size, all_faces, cache)
        for path, (boxes, crops, error, event, hit) in progress_iter(
            zip(paths, results, strict=True),
            total=len(paths),
            desc="Cropping faces",
            progress=progress,
        ):
            if event is not None:
                counts[event] += 1
            if in_workers and cache is not None and hit is not None:
                # a worker's look-up was counted in its own process only
                cache.count(hits=int(hit), misses=int(not hit))
            yield source_name(path), boxes, crops, error
        if self.detector != "none":
            logger.info(
                "Cropped %d images: no face found in %d (%s), several faces in %d (%s)",
                len(paths),
                counts["no_face"],
                self.no_face,
                counts["multiple_faces"],
                "all" if all_faces else self.multiple_faces,
            )

    def _iter_results(
        self, paths: list[str], size: tuple[int, int], all_faces: bool, cache
    ) -> tuple[Iterator[tuple], bool]:
        """Each path's ``_crop_path`` result, in order, from 1 or more processes,
        and whether worker processes compute them."""
        n_jobs = effective_n_jobs(self.n_jobs)
        if n_jobs == 1 or len(paths) < 2:
            return (self._crop_path(p, size, all_faces, cache) for p in paths), False
        n_jobs = min(n_jobs, len(paths))
        # Small tasks keep every worker busy and the first crops coming early;
        # a few images per task amortise the cost of sending them.
        per_task = max(1, min(16, math.ceil(len(paths) / (4 * n_jobs))))
        tasks = (
            delayed(_crop_paths)(self, paths[i : i + per_task], size, all_faces, cache)
            for i in range(0, len(paths), per_task)
        )
        parallel = Parallel(
            n_jobs=n_jobs,
            backend="loky",
            return_as="generator",
            pre_dispatch=f"{4 * n_jobs}",
        )
        return itertools.chain.from_iterable(parallel(tasks)), True

    def detect(self, X) -> list[np.ndarray]:
        """Return the face boxes found in each image, without cropping.

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.

        Returns
        -------
        boxes : list of ndarray of shape (n_faces, 4)
            ``(left, top, right, bottom)`` per face, largest first; for
            ``detector="none"`` the whole image is one box.
        """
        self._validate_params()
        result = []
        for source in as_sources(X):
            image = read_source(
                source, max_pixels=self.max_pixels, max_file_size=self.max_file_size
            )
            result.append(self._find(image))
        return result

    def _find(self, image: np.ndarray, with_eyes: bool = False):
        if self.detector == "none":
            h, w = image.shape[:2]
            whole = np.array([[0, 0, w, h]])
            return (whole, np.full((1, 2, 2), np.nan)) if with_eyes else whole
        return detect_faces(
            image,
            self.detector,
            upsample=self.upsample,
            max_detection_side=self.max_detection_side,
            min_confidence=self.min_confidence,
            with_eyes=with_eyes,
        )

    def _cache_params(self, size: tuple[int, int], all_faces: bool) -> dict:
        return {
            "detector": self.detector,
            "size": size,
            "margin": float(self.margin),
            "no_face": self.no_face,
            "multiple_faces": self.multiple_faces,
            "upsample": self.upsample,
            "max_detection_side": self.max_detection_side,
            "all_faces": all_faces,
            "min_confidence": float(self.min_confidence),
            "align": bool(self.align),
        }

    def _crop_path(
        self, path: str, size: tuple[int, int], all_faces: bool, cache
    ) -> tuple:
        """Crop one file, never raising for a bad one.

        Returns ``(boxes, crops, error, event, hit)``: ``event`` is
        ``"no_face"``, ``"multiple_faces"`` or None; ``hit`` is whether the
        cache answered (None without a cache or for an unreadable file).
        """
        try:
            if cache is None:
                return (*self._crop_one(path, size, all_faces), None)
            # a file is stat-ed first: never read a huge file whole, never a FIFO
            content = source_content(path, max_file_size=self.max_file_size)
            if content is None:  # read_source will name the problem
                return (*self._crop_one(path, size, all_faces), None)
            key = cache.key("crop", content, self._cache_params(size, all_faces))
            stored = cache.get(key)
            if stored is not None:
                event = str(stored["event"]) if "event" in stored else ""
                boxes, crops = stored["boxes"].astype(int), stored["crops"]
                return boxes, crops, None, event or None, True
            boxes, crops, error, event = self._crop_one(path, size, all_faces)
            cache.put(
                key,
                boxes=np.asarray(boxes, dtype=np.int64),
                crops=crops,
                event=np.array(event or ""),
            )
            return boxes, crops, error, event, False
        except ImageReadError as exc:
            return None, None, exc, _policy_event(exc), None
        except Exception as exc:  # a bug or a broken library: this file only
            name = source_name(path)
            logger.debug("%s: unexpected error", name, exc_info=True)
            reason = f"could not be read or cropped ({type(exc).__name__}: {exc})"
            return None, None, ImageReadError(name, reason), None, None

    def _crop_one(
        self, path: str, size: tuple[int, int], all_faces: bool
    ) -> tuple[np.ndarray, np.ndarray, None, str | None]:
        """``(boxes, crops, None, event)`` for one source; raises ImageReadError."""
        image = read_source(
            path, max_pixels=self.max_pixels, max_file_size=self.max_file_size
        )
        path = source_name(path)
        h, w = image.shape[:2]
        whole = np.array([[0, 0, w, h]])
        if self.detector == "none":
            return whole, _resize(image, size)[np.newaxis], None, None
        try:
            if self.align:
                boxes, eyes = self._find(image, with_eyes=True)
            else:
                boxes = self._find(image)
                eyes = [None] * len(boxes)
        except cv2.error as exc:  # pragma: no cover - defensive
            raise ImageReadError(path, f"face detection failed ({exc})") from None
        event = None
        if len(boxes) == 0:
            if self.no_face == "raise":
                raise NoFaceError(path, f"no face found (detector={self.detector!r})")
            return whole, _resize(image, size)[np.newaxis], None, "no_face"
        if len(boxes) > 1:
            event = "multiple_faces"
            if self.multiple_faces == "raise" and not all_faces:
                raise MultipleFacesError(
                    path, f"{len(boxes)} faces found (detector={self.detector!r})"
                )
        if not all_faces:
            boxes, eyes = boxes[:1], eyes[:1]
        crops = np.empty((len(boxes), *size, 3), dtype=np.uint8)
        for j, box in enumerate(boxes):
            source = align_face(image, eyes[j]) if self.align else image
            left, top, right, bottom = _expand_box(box, self.margin, image.shape)
            crops[j] = _resize(source[top:bottom, left:right], size)
        return boxes, crops, None, event

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output values: one per pixel and channel.

        Parameters
        ----------
        input_features : None
            Ignored (the input is file paths).

        Returns
        -------
        feature_names_out : ndarray of str
            ``pixel_<row>_<col>_<channel>`` in C order.
        """
        return _pixel_names(normalize_size(self.size), 3)


def _policy_event(error: ImageReadError) -> str | None:
    if isinstance(error, NoFaceError):
        return "no_face"
    if isinstance(error, MultipleFacesError):
        return "multiple_faces"
    return None


def _crop_paths(
    cropper: FaceCropper,
    paths: list[str],
    size: tuple[int, int],
    all_faces: bool,
    cache,
) -> list[tuple]:
    """Worker task of ``FaceCropper(n_jobs>1)``: crop a few files in order."""
    return [cropper._crop_path(p, size, all_faces, cache) for p in paths]


def _pixel_names(size: tuple[int, int], channels: int) -> np.ndarray:
    rows, cols, chans = np.meshgrid(
        np.arange(size[0]), np.arange(size[1]), np.arange(channels), indexing="ij"
    )
    return np.char.add(
        np.char.add(
            np.char.add("pixel_", rows.ravel().astype(str)),
            np.char.add("_", cols.ravel().astype(str)),
        ),
        np.char.add("_", chans.ravel().astype(str)),
    ).astype(object)
