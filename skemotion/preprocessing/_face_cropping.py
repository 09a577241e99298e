"""Pipeline stage 1: image paths to face crops (``path -> image -> crop``).

:class:`FaceCropper` reads each source, finds its faces with one of
:data:`~skemotion.preprocessing.DETECTORS` and crops them; the work on many
paths (cache, worker processes) is in ``_workers``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from numbers import Integral, Real

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._progress import progress_iter
from .._validation import normalize_size
from ..caching import FeatureCache, as_cache
from ..datasets import (
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_PIXELS,
    as_sources,
    read_source,
    source_name,
)
from ..exceptions import (
    BadImagesError,
    ImageReadError,
    MultipleFacesError,
    NoFaceError,
)
from ._detectors import DETECTORS, detect_faces
from ._geometry import _expand_box, _pixel_names, _resize, align_face
from ._landmarks import eye_centres, face_landmarks
from ._results import CropResult, PathResult
from ._workers import crop_results

__all__ = ["FaceCropper"]

logger = logging.getLogger(__name__)


class FaceCropper(TransformerMixin, BaseEstimator):
    """Read image files, find the face, crop it with a margin and resize it.

    The first step of the emotion pipeline: a 1-D array-like of image paths
    goes in, a batch of RGB face crops comes out.

    Parameters
    ----------
    detector : {"hog", "haar", "mtcnn", "yunet", "none"}, default="hog"
        ``"hog"``: dlib's frontal-face HOG detector, as in the original post.
        ``"haar"``: OpenCV's frontal-face Haar cascade (faster, less precise).
        ``"none"``: the images are already face crops (as in FER2013); they
        are only resized.
        ``"mtcnn"``: the MTCNN network (``pip install skemotion[mtcnn]``;
        TensorFlow in each process that detects: about 0.5 GB more per
        worker of ``n_jobs``), which finds turned, partly hidden and small
        faces that HOG misses.
        ``"yunet"``: libfacedetection's YuNet (``pip install
        skemotion[yunet]``), which finds about as many faces as MTCNN in a
        tenth of its time, faster than HOG.
    min_confidence : float or None, default=None
        For ``"mtcnn"`` and ``"yunet"``: faces it is less sure of are left
        out. None: the detector's own (0.8 for MTCNN, 0.85 for YuNet).
    align : bool, default=False
        Rotate each face about its eyes so that they are level before the
        crop (as FER2013's faces are). The eyes come from the same landmark
        model whatever found the face (:func:`face_landmarks`); a face where
        it finds none is cropped as it is.
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
        "detector": [StrOptions(set(DETECTORS))],
        "min_confidence": [Interval(Real, 0, 1, closed="both"), None],
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
        min_confidence: float | None = None,
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
        for i, result in enumerate(self.crop_each(paths)):
            if result.error is not None:
                errors.append(result.error)
            else:
                out[i] = result.crops[0]
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
        result : CropResult
            One per source, in input order: a named tuple ``(name, boxes,
            crops, error)``. ``name``: the image path, or a name for an image
            in memory (``"<array #3>"``). ``boxes``: ``(left, top, right,
            bottom)`` of each cropped face in the upright image; the whole
            image when no face was found (``no_face="full_image"``) or
            ``detector="none"``; None for a bad file. ``crops``: the crops,
            resized to ``size``, shape ``(n_faces, height, width, 3)``; None
            for a bad file. ``error``: why the file could not be used
            (unreadable, or a policy set to ``"raise"``), else None.
        """
        self._validate_params()
        yield from self._crop_stream(
            as_sources(X), all_faces=all_faces, progress=self.progress
        )

    def _crop_stream(
        self, paths: list[str], *, all_faces: bool, progress: bool | None
    ) -> Iterator[CropResult]:
        """:meth:`crop_each` on validated paths, with its own progress switch."""
        size = normalize_size(self.size)
        counts = {"no_face": 0, "multiple_faces": 0}
        cache = as_cache(self.memory)
        results, in_workers = crop_results(self, paths, size, all_faces, cache)
        for path, result in progress_iter(
            zip(paths, results, strict=True),
            total=len(paths),
            desc="Cropping faces",
            progress=progress,
        ):
            if result.event is not None:
                counts[result.event] += 1
            hit = result.hit
            if in_workers and cache is not None and hit is not None:
                # a worker's look-up was counted in its own process only
                cache.count(hits=int(hit), misses=int(not hit))
            yield CropResult(
                source_name(path), result.boxes, result.crops, result.error
            )
        if self._detects():
            logger.info(
                "Cropped %d images: no face found in %d (%s), several faces in %d (%s)",
                len(paths),
                counts["no_face"],
                self.no_face,
                counts["multiple_faces"],
                "all" if all_faces else self.multiple_faces,
            )

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

    def _detects(self) -> bool:
        """Whether the detector looks for faces (``"none"`` does not)."""
        return DETECTORS[self.detector].find is not None

    def _find(self, image: np.ndarray) -> np.ndarray:
        if not self._detects():
            h, w = image.shape[:2]
            return np.array([[0, 0, w, h]])
        return detect_faces(
            image,
            self.detector,
            upsample=self.upsample,
            max_detection_side=self.max_detection_side,
            min_confidence=self.min_confidence,
        )

    def crop_boxes(self, image: np.ndarray, boxes) -> np.ndarray:
        """Crop given face boxes of one image as :meth:`transform` would.

        The margin, the alignment and the size of the cropper apply; the
        detector does not run. For boxes found once and followed in later
        frames of a video, or drawn by hand.

        Parameters
        ----------
        image : ndarray of shape (height, width, 3), dtype uint8
            RGB image.
        boxes : array-like of shape (n_faces, 4)
            ``(left, top, right, bottom)`` of each face.

        Returns
        -------
        crops : ndarray of shape (n_faces, height, width, 3), dtype uint8
        """
        size = normalize_size(self.size)
        boxes = np.asarray(boxes).reshape(-1, 4)
        crops = np.empty((len(boxes), *size, 3), dtype=np.uint8)
        eyes = eye_centres(face_landmarks(image, boxes)) if self.align else None
        for j, box in enumerate(boxes):
            source = align_face(image, eyes[j]) if self.align else image
            left, top, right, bottom = _expand_box(box, self.margin, image.shape)
            crops[j] = _resize(source[top:bottom, left:right], size)
        return crops

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
            "min_confidence": None
            if self.min_confidence is None
            else float(self.min_confidence),
            "align": bool(self.align),
        }

    def _crop_one(self, path, size: tuple[int, int], all_faces: bool) -> PathResult:
        """One source's crops (its ``hit`` None); raises ImageReadError."""
        image = read_source(
            path, max_pixels=self.max_pixels, max_file_size=self.max_file_size
        )
        path = source_name(path)
        h, w = image.shape[:2]
        whole = np.array([[0, 0, w, h]])
        if not self._detects():
            return PathResult(whole, _resize(image, size)[np.newaxis], None, None, None)
        try:
            boxes = self._find(image)
        except cv2.error as exc:  # pragma: no cover - defensive
            raise ImageReadError(path, f"face detection failed ({exc})") from None
        event = None
        if len(boxes) == 0:
            if self.no_face == "raise":
                raise NoFaceError(path, f"no face found (detector={self.detector!r})")
            crops = _resize(image, size)[np.newaxis]
            return PathResult(whole, crops, None, "no_face", None)
        if len(boxes) > 1:
            event = "multiple_faces"
            if self.multiple_faces == "raise" and not all_faces:
                raise MultipleFacesError(
                    path, f"{len(boxes)} faces found (detector={self.detector!r})"
                )
        if not all_faces:
            boxes = boxes[:1]
        return PathResult(boxes, self.crop_boxes(image, boxes), None, event, None)

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
