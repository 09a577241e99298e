"""Pipeline stage 1: image paths to face crops (``path -> image -> crop``).

:class:`FaceCropper` reads each source, finds its faces with one of
:data:`~skemotion.preprocessing.DETECTORS` and crops them. One image is
cropped in one place, :meth:`FaceCropper.crop_file` (through the cache, one
:class:`CropResult` whatever happens); many images go through it in order, in
worker processes when asked (``_workers``), and files under the bad-file rule
(``_chunks``).
"""

from __future__ import annotations

import functools
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
    source_content,
    source_name,
)
from ..exceptions import (
    ImageReadError,
    MultipleFacesError,
    NoFaceError,
)
from ._chunks import iter_crop_chunks
from ._detectors import DETECTORS, detect_faces
from ._geometry import _expand_box, _pixel_names, _resize, align_face
from ._landmarks import eye_centres, face_landmarks
from ._results import CropResult
from ._workers import in_order

__all__ = ["FaceCropper", "pipeline_cropper"]

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

        Files follow the one bad-file rule of everything that reads images
        (:func:`~skemotion.preprocessing.iter_crop_chunks`): every file's
        size and image header are checked before any is decoded, then each
        is read and cropped (:meth:`crop_file`).

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
        paths = as_sources(X)
        out = np.empty((len(paths), *normalize_size(self.size), 3), dtype=np.uint8)
        done = 0
        for chunk in iter_crop_chunks(
            self, paths, chunk_size=64, strict=True, progress=self.progress
        ):
            for result in chunk:
                out[done] = result.crops[0]
                done += 1
        return out

    def crop_each(self, X, *, all_faces: bool = False) -> Iterator[CropResult]:
        """Crop image by image, never stopping at a bad file.

        :meth:`crop_file` on each image, in input order; in ``n_jobs`` worker
        processes when there are several, which read ahead while the caller
        works on what they yielded.

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
            One per image, in input order (see :meth:`crop_file`).
        """
        self._validate_params()
        sources = as_sources(X)
        counts = {"no_face": 0, "multiple_faces": 0}
        cache = as_cache(self.memory)
        crop_file = functools.partial(self.crop_file, all_faces=all_faces)
        results, in_workers = in_order(crop_file, sources, self.n_jobs)
        for result in progress_iter(
            results, total=len(sources), desc="Cropping faces", progress=self.progress
        ):
            counts["no_face"] += result.face_found is False
            counts["multiple_faces"] += result.faces_found > 1 or isinstance(
                result.error, MultipleFacesError
            )
            if in_workers and cache is not None and result.cached is not None:
                # a worker's look-up was counted in its own process only
                cache.count(hits=int(result.cached), misses=int(not result.cached))
            yield result
        if self._detects():
            logger.info(
                "Cropped %d images: no face found in %d (%s), several faces in %d (%s)",
                len(sources),
                counts["no_face"],
                self.no_face,
                counts["multiple_faces"],
                "all" if all_faces else self.multiple_faces,
            )

    def crop_file(self, source, *, all_faces: bool = False) -> CropResult:
        """Read one image, find its faces and crop them: the one per-image path.

        Every crop is made here: :meth:`transform`, :meth:`crop_each` (in
        its worker processes too) and so
        :func:`~skemotion.preprocessing.iter_crop_chunks`, the pipeline's
        methods, the predictions and every front end. Through the cache
        (``memory``) when there is one. A bad file never raises: its error
        is in the result. The parameters are checked by :meth:`transform`
        and :meth:`crop_each`, once for all their images, not here.

        Parameters
        ----------
        source : str, os.PathLike, ndarray, PIL image, bytes or InMemoryImage
            One image, as an item of :meth:`transform`'s ``X``.
        all_faces : bool, default=False
            Crop every face found instead of applying ``multiple_faces``.

        Returns
        -------
        result : CropResult
            The image's name, face boxes and crops, whether a face was found
            (``face_found``; False: the crop is the whole image), how many,
            and, for a bad file, its error.
        """
        (source,) = as_sources([source])
        name = source_name(source)
        try:
            return _through_cache(self, source, all_faces)
        except ImageReadError as exc:
            found = {NoFaceError: False, MultipleFacesError: True}.get(type(exc))
            return CropResult(name, None, None, exc, found)
        except Exception as exc:  # a bug or a broken library: this file only
            logger.debug("%s: unexpected error", name, exc_info=True)
            reason = f"could not be read or cropped ({type(exc).__name__}: {exc})"
            return CropResult(name, None, None, ImageReadError(name, reason))

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

    def _crop_image(self, source, all_faces: bool) -> CropResult:
        """One source read and cropped (no cache); raises ImageReadError."""
        image = read_source(
            source, max_pixels=self.max_pixels, max_file_size=self.max_file_size
        )
        name = source_name(source)
        size = normalize_size(self.size)
        h, w = image.shape[:2]
        whole = np.array([[0, 0, w, h]])
        if not self._detects():  # the image is the face
            return CropResult(name, whole, _resize(image, size)[np.newaxis], None,
                              True, 1)  # fmt: skip
        try:
            boxes = self._find(image)
        except cv2.error as exc:  # pragma: no cover - defensive
            raise ImageReadError(name, f"face detection failed ({exc})") from None
        if len(boxes) == 0:
            if self.no_face == "raise":
                raise NoFaceError(name, f"no face found (detector={self.detector!r})")
            crops = _resize(image, size)[np.newaxis]
            return CropResult(name, whole, crops, None, False, 0)
        if len(boxes) > 1 and self.multiple_faces == "raise" and not all_faces:
            raise MultipleFacesError(
                name, f"{len(boxes)} faces found (detector={self.detector!r})"
            )
        kept = boxes if all_faces else boxes[:1]
        crops = self.crop_boxes(image, kept)
        return CropResult(name, kept, crops, None, True, len(boxes))

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


def _through_cache(cropper: FaceCropper, source, all_faces: bool) -> CropResult:
    """:meth:`FaceCropper._crop_image` through the cropper's cache, if any."""
    cache = as_cache(cropper.memory)
    if cache is None:
        return cropper._crop_image(source, all_faces)
    key = _crop_key(cropper, source, all_faces, cache)
    if key is None:  # read_source will name the problem
        return cropper._crop_image(source, all_faces)
    stored = cache.get(key)
    if stored is not None:
        return CropResult(
            source_name(source), stored["boxes"].astype(int), stored["crops"], None,
            bool(stored["face_found"]), int(stored["faces_found"]), True,
        )  # fmt: skip
    result = cropper._crop_image(source, all_faces)
    cache.put(
        key,
        boxes=np.asarray(result.boxes, dtype=np.int64),
        crops=result.crops,
        face_found=np.array(result.face_found),
        faces_found=np.array(result.faces_found),
    )
    return result._replace(cached=False)


def _crop_key(cropper: FaceCropper, source, all_faces: bool, cache) -> str | None:
    """The cache key of a source's crops; None when it cannot be read.

    A file is stat-ed first (never read a huge file whole, never a FIFO); one
    the cache's memo saw unchanged in this process is not read again."""
    params = {
        "detector": cropper.detector,
        "size": normalize_size(cropper.size),
        "margin": float(cropper.margin),
        "no_face": cropper.no_face,
        "multiple_faces": cropper.multiple_faces,
        "upsample": cropper.upsample,
        "max_detection_side": cropper.max_detection_side,
        "all_faces": all_faces,
        "min_confidence": None
        if cropper.min_confidence is None
        else float(cropper.min_confidence),
        "align": bool(cropper.align),
        "stores": "face_found",  # older entries, without it, are not read
    }
    max_size = cropper.max_file_size

    def read() -> bytes | None:
        return source_content(source, max_file_size=max_size)

    if isinstance(source, str):
        return cache.file_key("crop", source, params, read, max_size=max_size)
    content = read()
    return None if content is None else cache.key("crop", content, params)


def pipeline_cropper(model) -> FaceCropper | None:
    """The :class:`FaceCropper` a pipeline starts with, else None.

    The one way every front end finds a model's cropper, whatever the step is
    called: it crops the faces, and the rest of the pipeline (``model[1:]``)
    classifies them.

    Parameters
    ----------
    model : object
        Anything; a pipeline (an object with ``steps``) whose first step is a
        :class:`FaceCropper` gives that cropper.

    Returns
    -------
    cropper : FaceCropper or None
    """
    steps = getattr(model, "steps", None)
    if not isinstance(steps, list) or not steps:
        return None
    first = steps[0][1] if isinstance(steps[0], tuple) and len(steps[0]) == 2 else None
    return first if isinstance(first, FaceCropper) else None
