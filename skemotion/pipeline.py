"""The whole chain, image paths to emotion labels, as one scikit-learn Pipeline."""

from __future__ import annotations

import logging
import time
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from .datasets import as_sources
from .engines import CompiledNetwork
from .feature_extraction import VGG16Encoder
from .preprocessing import (
    TTA_VIEWS,
    FaceCropper,
    GrayscaleConverter,
    crop_views,
    iter_crop_chunks,
)

#: The crop size of the packaged face encoder (``encode__weights="fer2013"``),
#: :func:`make_emotion_pipeline`'s default.
PACKAGED_ENCODER_SIZE = (48, 48)

__all__ = ["EmotionPipeline", "make_emotion_pipeline", "make_finetune_pipeline"]

logger = logging.getLogger(__name__)

_SKIP = (None, "passthrough")


def _final_has(method: str):
    def check(pipeline: EmotionPipeline) -> bool:
        return hasattr(pipeline._final_estimator, method)

    return check


class EmotionPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that streams images through its steps.

    Same constructor, steps, parameters and results as
    :class:`~sklearn.pipeline.Pipeline`; what changes is how the image steps
    run when they are skemotion's own (:class:`FaceCropper` first, then any
    of :class:`GrayscaleConverter` and :class:`VGG16Encoder`, then the final
    estimator). Instead of cropping every image, then converting every crop,
    then encoding them all, ``fit``, ``predict``, ``predict_proba``,
    ``predict_log_proba``, ``score`` and ``transform`` take the images
    ``chunk_size`` at a time through crop, gray and encode, and keep only the
    feature vectors:

    * memory holds one chunk of images, not the whole data set, so it does
      not grow with the number of images (beyond the feature matrix);
    * with ``crop__n_jobs`` > 1 the cropper's worker processes read, decode
      and search the next images for faces while the encoder works on the
      current chunk.

    Other steps (a ``PCA`` between encoder and classifier, a custom
    transformer), ``memory`` (scikit-learn's step cache) or routed fit
    parameters make it behave exactly as a plain ``Pipeline``.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        As for :class:`~sklearn.pipeline.Pipeline`.
    transform_input : list of str or None, default=None
        As for :class:`~sklearn.pipeline.Pipeline`.
    memory : str, joblib.Memory or None, default=None
        scikit-learn's cache of fitted transformers (turns streaming off). To
        cache crops and features per image, use ``crop__memory`` and
        ``encode__memory`` (``make_emotion_pipeline(memory=...)``) instead.
    verbose : bool, default=False
        Print the time spent on the image steps and on the final estimator.
    chunk_size : int, default=256
        Images taken through crop, gray and encode together.
    tta : {None, "flip", "crops", "crops+flip"}, default=None
        Test-time augmentation: ``predict``, ``predict_proba``,
        ``predict_log_proba`` and ``score`` average the class probabilities
        of a few views of each face (:func:`~skemotion.preprocessing.crop_views`:
        the crop and its mirror; the crop and four crops of it 1/12 smaller
        at its corners; or those ten with their mirrors), taken where the
        crops enter the network (before the encoder, or before a compiled
        network). Each view costs one more pass of the network. Training
        is not affected. With ``tta``, the crops of every image are held
        in memory at once (48x48: 7 KiB each) rather than a chunk at a
        time.

    Notes
    -----
    Bad files follow the rule of every front end that reads files
    (:func:`~skemotion.preprocessing.iter_crop_chunks`): one
    :class:`~skemotion.exceptions.BadImagesError` lists all of them, as with a
    plain Pipeline. Before anything is encoded, every
    file's size and image header are checked (:func:`probe_image`: moments
    for thousands of files); a missing, empty, non-image
    or oversized file stops the encoding before it starts. A file whose
    header is fine but whose pixel data is truncated is only found when it is
    decoded, possibly after some chunks were encoded; encoding stops there.
    Either way every file is still read, so the error lists all bad files.
    With a feature cache (``make_emotion_pipeline(memory=...)``) encoded
    chunks are kept, and a rerun after fixing the files does not redo them.

    Examples
    --------
    >>> from skemotion import make_emotion_pipeline
    >>> pipe = make_emotion_pipeline(crop__n_jobs=2, chunk_size=128)
    >>> type(pipe).__name__, pipe.chunk_size
    ('EmotionPipeline', 128)
    """

    _parameter_constraints: dict = {
        **Pipeline._parameter_constraints,
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "tta": [StrOptions(set(TTA_VIEWS)), None],
    }

    def __init__(
        self,
        steps,
        *,
        transform_input=None,
        memory=None,
        verbose: bool = False,
        chunk_size: int = 256,
        tta: str | None = None,
    ) -> None:
        super().__init__(
            steps, transform_input=transform_input, memory=memory, verbose=verbose
        )
        self.chunk_size = chunk_size
        self.tta = tta

    # -- streaming -------------------------------------------------------
    def _image_steps(self, *, with_final: bool = False) -> list | None:
        """The steps before the final one (or all), when they can stream."""
        steps = self.steps if with_final else self.steps[:-1]
        if self.memory is not None or not steps:
            return None
        first = steps[0][1]
        if not isinstance(first, FaceCropper):
            return None
        rest = [est for _, est in steps[1:] if est not in _SKIP]
        if not all(isinstance(e, (GrayscaleConverter, VGG16Encoder)) for e in rest):
            return None
        return [first, *rest]

    def _stream(self, X, *, fit: bool, with_final: bool = False) -> np.ndarray:
        """Take the images through every step but the last, chunk by chunk."""
        crop, *rest = self._image_steps(with_final=with_final)
        if fit:
            crop.fit(X)
        paths = as_sources(X)
        started = time.perf_counter()
        blocks: list[np.ndarray] = []
        chunks = iter_crop_chunks(
            crop, paths, chunk_size=self.chunk_size, strict=True,
            progress=crop.progress,
        )  # fmt: skip
        for chunk in chunks:
            crops = np.stack([result.crops[0] for result in chunk])
            blocks.append(self._through(crops, rest, fit and not blocks))
        if self.verbose:
            print(
                f"[EmotionPipeline] ... images (crop, gray, encode; "
                f"{len(paths)} images, streamed), total="
                f"{time.perf_counter() - started:.1f}s",
                flush=True,
            )
        return np.concatenate(blocks)

    @staticmethod
    def _through(Xt: np.ndarray, steps: list, fit: bool) -> np.ndarray:
        for step in steps:
            if fit:
                step.fit(Xt)
            if isinstance(step, VGG16Encoder):
                Xt = step.encode(Xt, progress=False)
            else:
                Xt = step.transform(Xt)
        return Xt

    def _streams(self, params, *, with_final: bool = False) -> bool:
        """Whether a call streams: no routed parameters, no ``transform_input``
        (a plain Pipeline checks and applies it) and image steps only."""
        return (
            not params
            and self.transform_input is None
            and self._image_steps(with_final=with_final) is not None
        )

    def _final(self, method: str, X, params: dict, *args, **kwargs):
        """The one dispatcher of the predict-like methods: the final step's
        ``method`` on the streamed features, else the plain Pipeline's; with
        ``tta``, on the probabilities averaged over the views."""
        if self.tta is not None:
            return self._averaged(method, X, params, *args, **kwargs)
        if not self._streams(params):
            return getattr(super(), method)(X, *args, **kwargs, **params)
        features = self._stream(X, fit=False)
        return getattr(self._final_estimator, method)(features, *args, **kwargs)

    # -- test-time augmentation --------------------------------------------
    def _views_enter(self) -> int:
        """Where the views of ``tta`` are taken: the first step that is not a
        cropper or a gray converter (the encoder, or a compiled network)."""
        for i, (_, step) in enumerate(self.steps):
            image_step = isinstance(step, (FaceCropper, GrayscaleConverter))
            if step not in _SKIP and not image_step:
                return i
        return len(self.steps) - 1

    def _averaged(self, method: str, X, params: dict, *args, **kwargs):
        """``method`` on the class probabilities averaged over the views."""
        if params:
            raise ValueError(
                f"tta={self.tta!r} takes no routed parameters; got {sorted(params)}"
            )
        self._validate_params()
        enter = self._views_enter()
        crops = self[:enter].transform(X) if enter else X
        network = [step for _, step in self.steps[enter:-1] if step not in _SKIP]
        final = self._final_estimator
        proba = None
        for view in crop_views(crops, self.tta):
            for step in network:
                view = step.transform(view)
            p = np.asarray(final.predict_proba(view), dtype=np.float64)
            proba = p if proba is None else proba + p
        proba /= len(TTA_VIEWS[self.tta])
        if method == "predict_proba":
            return proba
        if method == "predict_log_proba":
            with np.errstate(divide="ignore"):
                return np.log(proba)
        predicted = np.asarray(final.classes_)[proba.argmax(axis=1)]
        if method == "predict":
            return predicted
        from sklearn.metrics import accuracy_score  # method == "score"

        return accuracy_score(args[0], predicted, **kwargs)

    def __getitem__(self, ind):
        """A step, or a sub-pipeline (an :class:`EmotionPipeline`) for a slice,
        with this one's ``chunk_size`` and ``tta``."""
        sub = super().__getitem__(ind)
        if isinstance(ind, slice):
            sub.chunk_size, sub.tta = self.chunk_size, self.tta
        return sub

    @property
    def engine(self) -> str:
        """What runs the network: ``"litert"`` (a compiled network, from a
        ``.tflite`` file) or ``"tensorflow"``."""
        return getattr(self._final_estimator, "engine", "tensorflow")

    # -- the Pipeline API --------------------------------------------------
    def fit(self, X, y=None, **params):
        """Fit every step on image paths and labels (streamed, see the class).

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.
        y : array-like of shape (n_images,)
            Emotion labels.
        **params : dict
            Fit parameters routed to the steps (a plain Pipeline fit).

        Returns
        -------
        self : EmotionPipeline
        """
        if not self._streams(params):
            return super().fit(X, y, **params)
        return self._fit_streamed(X, y)

    @_fit_context(prefer_skip_nested_validation=False)  # as Pipeline.fit
    def _fit_streamed(self, X, y):
        self._validate_steps()
        features = self._stream(X, fit=True)
        final = self._final_estimator
        if final not in _SKIP:
            started = time.perf_counter()
            final.fit(features, y)
            if self.verbose:
                print(
                    f"[EmotionPipeline] ... final step {self.steps[-1][0]}, "
                    f"total={time.perf_counter() - started:.1f}s",
                    flush=True,
                )
        return self

    @available_if(Pipeline._can_transform)
    def transform(self, X, **params):
        """Image paths to the last step's output, e.g. ``pipe[:-1]`` to features.

        Streamed (see the class) when every step is one of skemotion's image
        steps: ``make_emotion_pipeline(...)[:-1].transform(paths)`` encodes
        any number of images in bounded memory.

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.
        **params : dict
            Parameters routed to the steps (a plain Pipeline transform).

        Returns
        -------
        Xt : ndarray
            The last step's output, one row per image.
        """
        if not self._streams(params, with_final=True):
            return super().transform(X, **params)
        return self._stream(X, fit=False, with_final=True)

    @available_if(Pipeline._can_fit_transform)
    def fit_transform(self, X, y=None, **params):
        """Fit every step and return the last step's output (streamed).

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.
        y : array-like of shape (n_images,), default=None
            Ignored by skemotion's image steps.
        **params : dict
            Fit parameters routed to the steps (a plain Pipeline call).

        Returns
        -------
        Xt : ndarray
            The last step's output, one row per image.
        """
        if not self._streams(params, with_final=True):
            return super().fit_transform(X, y, **params)
        return self._fit_transform_streamed(X)

    @_fit_context(prefer_skip_nested_validation=False)  # as Pipeline.fit_transform
    def _fit_transform_streamed(self, X):
        self._validate_steps()
        return self._stream(X, fit=True, with_final=True)

    @available_if(_final_has("predict"))
    def predict(self, X, **params):
        """Predict the emotion of each image (streamed, see the class).

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.
        **params : dict
            Parameters routed to the steps (a plain Pipeline predict).

        Returns
        -------
        y_pred : ndarray of shape (n_images,)
        """
        return self._final("predict", X, params)

    @available_if(_final_has("predict_proba"))
    def predict_proba(self, X, **params):
        """Probability of each emotion for each image (streamed, see the class).

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.
        **params : dict
            Parameters routed to the steps (a plain Pipeline predict_proba).

        Returns
        -------
        proba : ndarray of shape (n_images, n_classes)
        """
        return self._final("predict_proba", X, params)

    @available_if(_final_has("predict_log_proba"))
    def predict_log_proba(self, X, **params):
        """Log-probability of each emotion (streamed, see the class).

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.
        **params : dict
            Parameters routed to the steps (a plain Pipeline call).

        Returns
        -------
        log_proba : ndarray of shape (n_images, n_classes)
        """
        return self._final("predict_log_proba", X, params)

    @available_if(_final_has("score"))
    def score(self, X, y=None, sample_weight=None, **params):
        """Score of the final estimator on images and labels (streamed).

        Parameters
        ----------
        X : array-like of shape (n_images,)
            Image paths.
        y : array-like of shape (n_images,)
            True labels.
        sample_weight : array-like of shape (n_images,), default=None
            Passed to the final estimator's ``score``.
        **params : dict
            Parameters routed to the steps (a plain Pipeline score).

        Returns
        -------
        score : float
        """
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        return self._final("score", X, params, y, **weights)


def make_emotion_pipeline(
    *, memory=None, verbose: bool = False, chunk_size: int = 256, **params
) -> EmotionPipeline:
    """Build the emotion pipeline: ``crop -> gray -> encode -> classify``.

    By default the encoder is the face encoder shipped with skemotion
    (``encode__weights="fer2013"``, offline) and faces are cropped to its
    48x48; for the original post's setup, ImageNet's VGG16 at 224x224, pass
    ``crop__size=224, encode__weights="imagenet"`` (downloaded once).

    Parameters
    ----------
    memory : str, joblib.Memory, FeatureCache or None, default=None
        A folder caching face crops and feature vectors per image, keyed by
        the image's content and every parameter that changes the result
        (``crop__memory`` and ``encode__memory``). With it, cross-validation
        and grid searches over ``classify__*`` detect, crop and encode each
        image once in total, and a second run starts warm; changing
        ``crop__size`` or ``encode__weights`` misses the cache.
    verbose : bool, default=False
        Print the time the image steps and the classifier take to fit.
    chunk_size : int, default=256
        Images taken through crop, gray and encode together
        (:class:`EmotionPipeline`): memory stays bounded by one chunk.
    **params
        Parameters of the steps, named ``<step>__<parameter>`` as in
        :meth:`~sklearn.pipeline.Pipeline.set_params`: for example
        ``crop__size=(64, 64)``, ``crop__detector="none"``,
        ``crop__n_jobs=2``, ``encode__weights=None``,
        ``encode__random_state=0``, ``classify__learning_rate=1e-3``.

    Returns
    -------
    pipeline : EmotionPipeline
        A :class:`~sklearn.pipeline.Pipeline` with steps ``crop``
        (:class:`FaceCropper`), ``gray`` (:class:`GrayscaleConverter`),
        ``encode`` (:class:`VGG16Encoder`) and ``classify``
        (:class:`EmotionClassifier`). ``fit`` takes image paths and labels;
        ``predict`` and ``predict_proba`` take image paths.

    Examples
    --------
    >>> from skemotion import make_emotion_pipeline
    >>> pipe = make_emotion_pipeline(crop__size=64, encode__weights=None,
    ...                              encode__random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['crop', 'gray', 'encode', 'classify']
    >>> pipe.get_params()["crop__size"]
    64
    """
    from .classification import EmotionClassifier  # scikeras imports TensorFlow

    pipeline = EmotionPipeline(
        [
            ("crop", FaceCropper(size=PACKAGED_ENCODER_SIZE, memory=memory)),
            ("gray", GrayscaleConverter()),
            ("encode", VGG16Encoder(weights="fer2013", memory=memory)),
            ("classify", EmotionClassifier()),
        ],
        verbose=verbose,
        chunk_size=chunk_size,
    )
    return pipeline.set_params(**params) if params else pipeline


def make_finetune_pipeline(*, memory=None, **params) -> Pipeline:
    """Build the fine-tuning pipeline: ``crop -> gray -> finetune``.

    Parameters
    ----------
    memory : str, joblib.Memory, FeatureCache or None, default=None
        A folder caching face crops (``crop__memory``), so a resumed or
        repeated run does not detect and crop again.
    **params
        Parameters of the steps, ``<step>__<parameter>``: for example
        ``crop__detector="none"``, ``crop__size=48``,
        ``finetune__weights=None``, ``finetune__trainable_blocks=5``,
        ``finetune__checkpoint_dir="ckpt"``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``crop`` (:class:`FaceCropper`), ``gray``
        (:class:`GrayscaleConverter`) and ``finetune``
        (:class:`VGG16FineTuner`): ``fit`` takes image paths and labels,
        ``predict`` image paths. ``pipeline[-1].export_weights(FILE)``
        writes the adapted encoder for ``make_emotion_pipeline(
        encode__weights=FILE)``.

    Examples
    --------
    >>> from skemotion import make_finetune_pipeline
    >>> pipe = make_finetune_pipeline(crop__detector="none", crop__size=48)
    >>> [name for name, _ in pipe.steps]
    ['crop', 'gray', 'finetune']
    """
    from .finetuning import VGG16FineTuner

    pipeline = Pipeline(
        [
            ("crop", FaceCropper(memory=memory)),
            ("gray", GrayscaleConverter()),
            ("finetune", VGG16FineTuner()),
        ]
    )
    return pipeline.set_params(**params) if params else pipeline


def compiled_pipeline(network: CompiledNetwork, **crop) -> EmotionPipeline:
    """The pipeline of a compiled network: ``crop -> gray -> classify``.

    Built from the network's record (its cropper's and gray converter's
    settings) without TensorFlow; what :func:`~skemotion.load_model` returns
    for a ``.tflite`` file.

    Parameters
    ----------
    network : CompiledNetwork
        Read from a file (:meth:`CompiledNetwork.from_file`).
    **crop
        Cropper parameters that replace the record's.

    Returns
    -------
    pipeline : EmotionPipeline
        Fitted: steps ``crop`` (:class:`FaceCropper`), ``gray``
        (:class:`GrayscaleConverter`) and ``classify`` (the network).
    """
    known = FaceCropper().get_params()
    settings = {k: v for k, v in network.record_["crop"].items() if k in known}
    settings.update(crop)
    if isinstance(settings.get("size"), list):
        settings["size"] = tuple(settings["size"])
    height, width, _ = network.input_shape_
    gray = GrayscaleConverter(**network.record_["gray"])
    gray.fit(np.zeros((1, height, width, 3), dtype=np.uint8))
    return EmotionPipeline(
        [("crop", FaceCropper(**settings)), ("gray", gray), ("classify", network)]
    )
