"""The whole chain, image paths to emotion labels, as one scikit-learn Pipeline."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from .classification import EmotionClassifier
from .encoding import VGG16Encoder
from .face_cropping import FaceCropper
from .grayscale import GrayscaleConverter

__all__ = ["make_emotion_pipeline"]


def make_emotion_pipeline(*, memory=None, verbose: bool = False, **params) -> Pipeline:
    """Build the emotion pipeline: ``crop -> gray -> encode -> classify``.

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
        Print the time each step takes to fit.
    **params
        Parameters of the steps, named ``<step>__<parameter>`` as in
        :meth:`~sklearn.pipeline.Pipeline.set_params`: for example
        ``crop__size=(64, 64)``, ``crop__detector="none"``,
        ``encode__weights=None``, ``encode__random_state=0``,
        ``classify__learning_rate=1e-3``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``crop`` (:class:`FaceCropper`), ``gray``
        (:class:`GrayscaleConverter`), ``encode`` (:class:`VGG16Encoder`)
        and ``classify`` (:class:`EmotionClassifier`). ``fit`` takes image
        paths and labels; ``predict`` and ``predict_proba`` take image paths.

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
    pipeline = Pipeline(
        [
            ("crop", FaceCropper(memory=memory)),
            ("gray", GrayscaleConverter()),
            ("encode", VGG16Encoder(memory=memory)),
            ("classify", EmotionClassifier()),
        ],
        verbose=verbose,
    )
    return pipeline.set_params(**params) if params else pipeline
