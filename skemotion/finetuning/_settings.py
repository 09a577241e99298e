"""The fine-tuner's settings: its parameters, checked and resolved once per fit.

:meth:`VGG16FineTuner.fit <skemotion.VGG16FineTuner.fit>` builds one
:class:`TuningSettings` from its parameters (after scikit-learn validated
them) and every step of training reads it; the ``"auto"`` values that depend
only on the parameters and the machine (precision, batch norm, learning rate)
and the seed are resolved here, once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any

from sklearn.utils import check_random_state

from .._validation import check_hidden_layer_sizes
from ..exceptions import CheckpointError
from ..networks import resolve_precision
from ._augment import Augmentation

__all__ = ["TuningSettings"]


@dataclass(frozen=True)
class TuningSettings:
    """What one fine-tuning run does (see :class:`VGG16FineTuner`'s parameters).

    Values are the parameters' own, except those resolved: ``seed`` (an int,
    drawn from ``random_state`` when it is not one), ``batch_norm``,
    ``precision`` (``"float32"`` or ``"bfloat16"``), ``learning_rate`` (a
    number) and ``hidden_layer_sizes`` (a tuple of ints). ``preprocessing``
    stays as asked: its ``"auto"`` depends on the start weights.
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
    label_smoothing: float
    epochs: int
    batch_size: int
    patience: int | None
    validation_split: float
    class_weight: str | dict | None
    # the training images
    augment: bool
    augmentation: Augmentation
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
            If ``hidden_layer_sizes`` holds anything but positive ints.
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
            label_smoothing=float(p["label_smoothing"]),
            epochs=int(p["epochs"]),
            batch_size=int(p["batch_size"]),
            patience=p["patience"],
            validation_split=float(p["validation_split"]),
            class_weight=p["class_weight"],
            augment=bool(p["augment"]),
            augmentation=Augmentation(
                flip=bool(p["flip"]),
                shift=p["shift"],
                rotation=p["rotation"],
                zoom=p["zoom"],
                brightness=p["brightness"],
            ),
            cache_frozen=bool(p["cache_frozen"]),
            augment_copies=int(p["augment_copies"]),
            checkpoint_dir=p["checkpoint_dir"],
            progress=p["progress"],
        )


def _seed(random_state) -> int:
    """``random_state`` as one int seed (drawn once when it is not an int)."""
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))
