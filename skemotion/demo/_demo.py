"""The original post's experiment, end to end, as one function.

:func:`run_demo` reproduces "Building Emotional State Predictor using Deep
Learning" (2018) on its own 6-class data: detect, crop and encode every photo
once, train the dense classifier on the training split, report validation
accuracy and stratified cross-validated accuracy, and predict a few
validation photos. It returns a :class:`DemoResult`; ``skemotion demo`` prints
its :meth:`DemoResult.format_text`.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["DemoResult", "run_demo"]

logger = logging.getLogger(__name__)

#: The post's own figure, with ImageNet weights, on its 12 validation photos.
POST_VALIDATION_ACCURACY = 0.33


@dataclass
class DemoResult:
    """What :func:`run_demo` measured.

    Attributes
    ----------
    data_root : str
        Where the seed data was found (or downloaded to).
    classes : list of str
    n_train, n_validation : int
        Photos in each split.
    size : tuple of (int, int)
        Face crop size.
    weights_used : str
        The encoder's weights, in words (report it with every figure).
    precision : str
        What the encoder computed in.
    imagenet_unavailable : str or None
        Why ImageNet weights could not be used (random weights were, then).
    n_features : int
        Length of each feature vector.
    encode_seconds : float
        Detecting, cropping and encoding every photo once.
    validation_accuracy : float
        The classifier trained on the training split, on the validation split.
    cv_scores : list of float
        Stratified cross-validation accuracy of each fold, on both splits.
    fit_seconds : float
        Training and cross-validation.
    examples : list of dict
        ``{"path", "true", "top_k": [(label, probability), ...]}`` for a few
        validation photos.
    wall_seconds : float
        The whole run.
    pipeline : EmotionPipeline
        The pipeline, with the classifier trained on the training split.
    """

    data_root: str
    classes: list[str]
    n_train: int
    n_validation: int
    size: tuple[int, int]
    weights_used: str
    precision: str
    imagenet_unavailable: str | None
    n_features: int
    encode_seconds: float
    validation_accuracy: float
    cv_scores: list[float]
    fit_seconds: float
    examples: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0
    pipeline: object = field(default=None, repr=False)

    @property
    def cv_mean(self) -> float:
        """Mean cross-validated accuracy."""
        return float(np.mean(self.cv_scores))

    @property
    def cv_std(self) -> float:
        """Standard deviation of the folds' accuracies."""
        return float(np.std(self.cv_scores))

    @property
    def chance(self) -> float:
        """Accuracy of a uniform guess."""
        return 1.0 / len(self.classes)

    def format_text(self) -> str:
        """The report ``skemotion demo`` prints.

        Returns
        -------
        text : str
        """
        from ..prediction import format_topk

        n = self.n_train + self.n_validation
        lines = [
            f"Data: {self.data_root} ({self.n_train} train + {self.n_validation} "
            f"validation images, classes: {', '.join(self.classes)})",
        ]
        if self.imagenet_unavailable:
            lines += [
                f"ImageNet weights are not available: {self.imagenet_unavailable}",
                "Used random VGG16 weights instead; expect accuracy near chance "
                f"({self.chance:.0%}), not the post's figure.",
            ]
        lines += [
            f"Encoded {n} images at {self.size[0]}x{self.size[1]} in "
            f"{self.encode_seconds:.1f} s ({n / self.encode_seconds:.1f} images/s), "
            f"{self.n_features} features each; weights: {self.weights_used}, "
            f"precision {self.precision}",
            f"Validation accuracy (train on train, {self.n_validation} validation "
            f"images): {self.validation_accuracy:.1%} with weights "
            f"{self.weights_used}   [original post: "
            f"{POST_VALIDATION_ACCURACY:.0%}, ImageNet weights]",
            f"{len(self.cv_scores)}-fold stratified cross-validation accuracy on "
            f"train+validation: {self.cv_mean:.1%} +/- {self.cv_std:.1%} "
            f"(chance {self.chance:.1%}) with weights {self.weights_used}",
            f"Training and cross-validation took {self.fit_seconds:.1f} s",
            f"Top-{len(self.examples[0]['top_k']) if self.examples else 0} "
            f"predictions for {len(self.examples)} validation images:",
        ]
        for example in self.examples:
            lines.append(
                f"  {Path(example['path']).name} (true: {example['true']}): "
                f"{format_topk(example['top_k'])}"
            )
        lines.append(
            f"Weights used for every figure above: {self.weights_used}, precision "
            f"{self.precision}. Wall time: {self.wall_seconds:.1f} s"
        )
        return "\n".join(lines)


def _imagenet_problem(size: tuple[int, int]) -> str | None:
    """None when ImageNet weights load, else the reason they do not."""
    from ..exceptions import WeightsError
    from ..feature_extraction import VGG16Encoder

    try:
        VGG16Encoder(weights="imagenet", pooling="avg").fit(
            np.zeros((1, *size, 3), dtype=np.uint8)
        )
    except WeightsError as exc:
        return str(exc)
    return None


def demo_crop_size(weights) -> tuple[int, int]:
    """The crop size the packaged encoder or an adapted weights file was trained
    on, else the post's 224.

    Raises
    ------
    WeightsError
        If ``weights`` names a file that does not exist.
    """
    if isinstance(weights, str) and weights == "fer2013":
        from ..pipeline import PACKAGED_ENCODER_SIZE

        return PACKAGED_ENCODER_SIZE
    if weights is not None and not (isinstance(weights, str) and weights == "imagenet"):
        from ..feature_extraction import read_weights_info

        info = read_weights_info(weights)
        if info is not None:
            return tuple(info.input_size)
    return (224, 224)


class _Scores(NamedTuple):
    validation: float
    folds: list[float]
    seconds: float


def _train_and_score(pipeline, features, data, folds: int, random_state) -> _Scores:
    """Train the classifier on the training photos' features (in place, so the
    pipeline predicts from files), score it on the validation photos, and
    cross-validate a clone of it on every photo."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    train, val = data.split == "train", data.split == "validation"
    classifier = pipeline.named_steps["classify"]
    started = time.perf_counter()
    classifier.fit(features[train], data.target[train])
    validation = float(classifier.score(features[val], data.target[val]))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    fold_scores = cross_val_score(clone(classifier), features, data.target, cv=cv)
    seconds = time.perf_counter() - started
    return _Scores(validation, [float(s) for s in fold_scores], seconds)


def _examples(pipeline, data, picked: np.ndarray, k: int) -> list[dict]:
    """The top-k of a few photos, from the files, through the whole pipeline,
    as a user would."""
    from ..prediction import top_k

    proba = pipeline.predict_proba(data.filenames[picked])
    return [
        {"path": str(data.filenames[i]), "true": str(data.target[i]), "top_k": pairs}
        for i, pairs in zip(picked, top_k(proba, pipeline.classes_, k), strict=True)
    ]


def run_demo(
    data_home: str | os.PathLike | None = None,
    *,
    weights: str | os.PathLike | None = "fer2013",
    size: int | tuple[int, int] | None = None,
    precision: str = "auto",
    folds: int = 5,
    top_k: int = 2,
    n_examples: int = 4,
    random_state: int = 0,
    progress: bool | None = None,
) -> DemoResult:
    """Run the original post's experiment on its own data.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder holding (or to receive) ``seed/``; default
        ``$SKEMOTION_DATA`` or ``~/skemotion_data`` (see
        :func:`fetch_seed_faces`).
    weights : "fer2013", "imagenet", None or path, default="fer2013"
        The encoder's weights: the face encoder shipped with skemotion
        (offline), or the post's ImageNet weights. ImageNet weights that
        cannot be downloaded fall back to random weights (seeded by
        ``random_state``), with a warning and the reason in
        :attr:`DemoResult.imagenet_unavailable`.
    size : int or (int, int), optional
        Face crop size; default: the size the packaged encoder or an adapted
        weights file was trained on, else 224 (the post's).
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the encoder computes in.
    folds : int, default=5
        Cross-validation folds.
    top_k : int, default=2
        Emotions listed per example.
    n_examples : int, default=4
        Validation photos whose predictions are listed.
    random_state : int, default=0
        Seeds the random weights, the classifier and the folds.
    progress : bool or None, default=None
        Progress bars; None: when stderr is a terminal.

    Returns
    -------
    result : DemoResult
    """
    from .._validation import normalize_size
    from ..datasets import fetch_seed_faces
    from ..pipeline import make_emotion_pipeline

    wall = time.perf_counter()
    size = normalize_size(size) if size is not None else demo_crop_size(weights)
    data = fetch_seed_faces(data_home, progress=progress)
    unavailable = None
    if isinstance(weights, str) and weights == "imagenet":
        unavailable = _imagenet_problem(size)
        if unavailable is not None:
            warnings.warn(
                f"ImageNet weights are not available ({unavailable}); using random "
                f"VGG16 weights (random_state={random_state}): expect accuracy near "
                "chance, not the post's figure",
                UserWarning,
                stacklevel=2,
            )
            weights = None
    pipeline = make_emotion_pipeline(
        crop__size=size, crop__progress=progress, encode__weights=weights,
        encode__precision=precision, encode__random_state=random_state,
        encode__progress=progress, classify__random_state=random_state,
        classify__progress=progress,
    )  # fmt: skip
    logger.info("encoding %d images at %dx%d", len(data.filenames), *size)
    started = time.perf_counter()
    # the first three steps learn nothing from the data: encode every photo once
    features = pipeline[:-1].fit_transform(data.filenames)
    encode_seconds = time.perf_counter() - started
    scores = _train_and_score(pipeline, features, data, folds, random_state)
    train, val = data.split == "train", data.split == "validation"
    examples = _examples(pipeline, data, np.flatnonzero(val)[:n_examples], top_k)
    encoder = pipeline.named_steps["encode"]
    return DemoResult(
        data_root=str(data.root), classes=[str(c) for c in data.target_names],
        n_train=int(train.sum()), n_validation=int(val.sum()), size=tuple(size),
        weights_used=encoder.weights_used_, precision=encoder.precision_,
        imagenet_unavailable=unavailable, n_features=int(features.shape[1]),
        encode_seconds=encode_seconds, validation_accuracy=scores.validation,
        cv_scores=scores.folds, fit_seconds=scores.seconds,
        examples=examples, wall_seconds=time.perf_counter() - wall,
        pipeline=pipeline,
    )  # fmt: skip
