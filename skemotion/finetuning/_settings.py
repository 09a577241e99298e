"""The fine-tuner's settings: its parameters, checked and resolved once per fit.

:meth:`VGG16FineTuner.fit <skemotion.VGG16FineTuner.fit>` builds one
:class:`TuningSettings` from its parameters (after scikit-learn validated
them against :data:`PARAMETER_CONSTRAINTS`) and every step of training reads
it; the ``"auto"`` values that depend only on the parameters and the machine
(precision, batch norm, learning rate) and the seed are resolved here, once,
and the checks scikit-learn's constraints cannot express are made here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._validation import check_hidden_layer_sizes
from ..exceptions import CheckpointError
from ..feature_extraction import PREPROCESSING
from ..networks import OPTIMIZERS, PRECISIONS, resolve_precision
from ._augment import Augmentation

__all__ = ["LR_SCHEDULES", "PARAMETER_CONSTRAINTS", "TuningSettings"]

#: Values of ``lr_schedule``.
LR_SCHEDULES = ("cosine", "constant", "plateau", "onecycle")

#: scikit-learn's checks of :class:`VGG16FineTuner`'s parameters, made by
#: ``fit`` (its ``_parameter_constraints``).
PARAMETER_CONSTRAINTS: dict = {
    "weights": [str, os.PathLike, None],  # "imagenet" or a file
    "random_init": [StrOptions({"he", "glorot"})],
    "trainable_blocks": [Interval(Integral, 0, 5, closed="both")],
    "batch_norm": [StrOptions({"auto"}), "boolean"],
    "preprocessing": [StrOptions({"auto", *PREPROCESSING})],
    "precision": [StrOptions(set(PRECISIONS))],
    "hidden_layer_sizes": [tuple, list],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "pooling": [StrOptions({"flatten", "avg", "max"})],
    "optimizer": [StrOptions(set(OPTIMIZERS))],
    "learning_rate": [
        StrOptions({"auto"}),
        Interval(Real, 0, None, closed="neither"),
    ],
    "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
    "warmup_epochs": [Interval(Real, 0, None, closed="left")],
    "plateau_factor": [Interval(Real, 0, 1, closed="neither")],
    "plateau_patience": [Interval(Integral, 1, None, closed="left")],
    "weight_decay": [Interval(Real, 0, None, closed="left"), None],
    "ema_decay": [Interval(Real, 0, 1, closed="neither"), None],
    "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    "logit_adjustment": [Interval(Real, 0, None, closed="left")],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "patience": [Interval(Integral, 1, None, closed="left"), None],
    "validation_split": [Interval(Real, 0, 1, closed="left")],
    "class_weight": [StrOptions({"balanced"}), dict, None],
    "augment": ["boolean"],
    "flip": ["boolean"],
    "shift": [Interval(Real, 0, 0.5, closed="both")],
    "rotation": [Interval(Real, 0, 180, closed="both")],
    "zoom": [Interval(Real, 0, 0.9, closed="both")],
    "brightness": [Interval(Real, 0, 1, closed="both")],
    "random_crop": [Interval(Integral, 1, None, closed="left"), None],
    "random_erasing": [Interval(Real, 0, 1, closed="both")],
    "erasing_area": [tuple, list],
    "mixup_alpha": [Interval(Real, 0, None, closed="left")],
    "cutmix_alpha": [Interval(Real, 0, None, closed="left")],
    "cache_frozen": ["boolean"],
    "augment_copies": [Interval(Integral, 0, None, closed="left")],
    "flip_tta": ["boolean"],
    "crop_tta": ["boolean"],
    "checkpoint_dir": [str, os.PathLike, None],
    "random_state": ["random_state"],
    "progress": ["boolean", None],
}


@dataclass(frozen=True)
class TuningSettings:
    """What one fine-tuning run does (see :class:`VGG16FineTuner`'s parameters).

    Values are the parameters' own, except those resolved: ``seed`` (an int,
    drawn from ``random_state`` when it is not one), ``batch_norm``,
    ``precision`` (``"float32"`` or ``"bfloat16"``), ``learning_rate`` (a
    number), ``hidden_layer_sizes`` and ``erasing_area`` (tuples), and
    ``augment``: whether single training images change at all (the
    ``augment`` parameter, a random crop or random erasing), with
    ``augmentation`` the changes (flip, shift, rotation, zoom and brightness
    zero when the ``augment`` parameter is off). ``preprocessing`` stays as
    asked: its ``"auto"`` depends on the start weights.
    """

    # where training starts
    weights: str | os.PathLike | None
    random_init: str
    seed: int
    # the network
    trainable_blocks: int
    batch_norm: bool
    preprocessing: str
    precision: str
    hidden_layer_sizes: tuple[int, ...]
    dropout: float
    pooling: str
    # optimisation
    optimizer: str
    learning_rate: float
    lr_schedule: str
    warmup_epochs: float
    plateau_factor: float
    plateau_patience: int
    weight_decay: float | None
    ema_decay: float | None
    label_smoothing: float
    logit_adjustment: float
    epochs: int
    batch_size: int
    patience: int | None
    validation_split: float
    class_weight: str | dict | None
    # the training images
    augment: bool
    augmentation: Augmentation
    random_crop: int | None
    mixup_alpha: float
    cutmix_alpha: float
    cache_frozen: bool
    augment_copies: int
    checkpoint_dir: str | os.PathLike | None
    progress: bool | None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TuningSettings:
        """The settings of a fine-tuner's ``get_params()``.

        Raises
        ------
        ValueError
            If ``hidden_layer_sizes`` holds anything but positive ints,
            ``erasing_area`` is not two fractions in order,
            ``lr_schedule="plateau"`` has no hold-out to watch, or
            ``crop_tta`` is set without ``random_crop``.
        CheckpointError
            If ``checkpoint_dir`` is set without an int ``random_state``.
        """
        p = params
        from_scratch = p["weights"] is None
        if p["checkpoint_dir"] is not None and not isinstance(
            p["random_state"], Integral
        ):
            raise CheckpointError(
                "checkpoint_dir needs a reproducible run to resume: set "
                "random_state to an int (it seeds the start weights, the "
                "validation split, the batches and the augmentation)"
            )
        learning_rate = p["learning_rate"]
        if isinstance(learning_rate, str):  # "auto"
            learning_rate = 1e-3 if from_scratch else 1e-4
        batch_norm = p["batch_norm"]
        _check_recipe(p)
        augment = bool(p["augment"])
        ranges = (p["shift"], p["rotation"], p["zoom"], p["brightness"])
        augmentation = Augmentation(
            bool(p["flip"]) and augment, *(r if augment else 0.0 for r in ranges),
            crop=p["random_crop"], erasing=float(p["random_erasing"]),
            erasing_area=tuple(float(a) for a in p["erasing_area"]),
        )  # fmt: skip
        return cls(
            weights=p["weights"],
            random_init=p["random_init"],
            seed=_seed(p["random_state"]),
            trainable_blocks=int(p["trainable_blocks"]),
            batch_norm=from_scratch if batch_norm == "auto" else bool(batch_norm),
            preprocessing=p["preprocessing"],
            precision=resolve_precision(p["precision"]),
            hidden_layer_sizes=check_hidden_layer_sizes(p["hidden_layer_sizes"]),
            dropout=float(p["dropout"]),
            pooling=p["pooling"],
            optimizer=p["optimizer"],
            learning_rate=float(learning_rate),
            lr_schedule=p["lr_schedule"],
            warmup_epochs=float(p["warmup_epochs"]),
            plateau_factor=float(p["plateau_factor"]),
            plateau_patience=int(p["plateau_patience"]),
            weight_decay=_float_or_none(p["weight_decay"]),
            ema_decay=_float_or_none(p["ema_decay"]),
            label_smoothing=float(p["label_smoothing"]),
            logit_adjustment=float(p["logit_adjustment"]),
            epochs=int(p["epochs"]),
            batch_size=int(p["batch_size"]),
            patience=p["patience"],
            validation_split=float(p["validation_split"]),
            class_weight=p["class_weight"],
            augment=augment or p["random_crop"] is not None or augmentation.erasing > 0,
            augmentation=augmentation,
            random_crop=p["random_crop"],
            mixup_alpha=float(p["mixup_alpha"]),
            cutmix_alpha=float(p["cutmix_alpha"]),
            cache_frozen=bool(p["cache_frozen"]),
            augment_copies=int(p["augment_copies"]),
            checkpoint_dir=p["checkpoint_dir"],
            progress=p["progress"],
        )


def _check_recipe(p: Mapping[str, Any]) -> None:
    """The checks of parameters taken together that constraints cannot make."""
    area = p["erasing_area"]
    if not (
        len(area) == 2
        and all(isinstance(a, Real) and not isinstance(a, bool) for a in area)
        and 0 < area[0] <= area[1] <= 1
    ):
        raise ValueError(
            "erasing_area must be (smallest, largest) fractions of the image, "
            f"0 < smallest <= largest <= 1; got {area!r}"
        )
    if p["lr_schedule"] == "plateau" and p["validation_split"] == 0:
        raise ValueError(
            'lr_schedule="plateau" lowers the learning rate when the held-out '
            "loss stops falling: set validation_split > 0 to hold images out"
        )
    if p["crop_tta"] and p["random_crop"] is None:
        raise ValueError(
            "crop_tta averages predictions over crops of the size trained on: "
            "set random_crop too"
        )


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def _seed(random_state) -> int:
    """``random_state`` as one int seed (drawn once when it is not an int)."""
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))
