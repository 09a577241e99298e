"""What a fitted fine-tuner tells about its training: lines for people
(:func:`format_history`) and the :class:`~skemotion.WeightsInfo` record its
exported weights file carries (:func:`weights_info`)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._io import strings_sha256
from .._version import __version__
from ..feature_extraction import WeightsInfo

__all__ = ["format_history", "weights_info"]


def format_history(tuner) -> str:
    """One line per epoch of a fitted ``tuner``, then a summary (kept epoch,
    resumption, time, held-out accuracy, recipe)."""
    history = tuner.history_
    lines = []
    for epoch, loss in enumerate(history.get("loss", [])):
        line = f"  epoch {epoch + 1}: loss {loss:.4f}"
        if history.get("val_loss"):
            line += (f", val_loss {history['val_loss'][epoch]:.4f}, val_accuracy "
                     f"{history['val_accuracy'][epoch]:.3f}")  # fmt: skip
        if history.get("seconds"):
            line += f" ({history['seconds'][epoch]:.0f} s)"
        lines.append(line)
    summary = f"Kept epoch {tuner.best_epoch_} of {tuner.n_epochs_}"
    if tuner.resumed_from_epoch_:
        summary += f" (resumed after epoch {tuner.resumed_from_epoch_})"
    if tuner.epoch_seconds_:
        summary += f"; {np.mean(tuner.epoch_seconds_):.1f} s per epoch in this run"
    if tuner.frozen_cache_seconds_:
        summary += (f", frozen activations cached in "
                    f"{tuner.frozen_cache_seconds_:.1f} s")  # fmt: skip
    lines.append(summary)
    lines.append(
        f"Recipe: preprocessing {tuner.preprocessing_}, batch norm "
        f"{'on' if tuner.batch_norm_ else 'off'}, peak learning rate "
        f"{tuner.learning_rate_:g} ({tuner.lr_schedule}), precision {tuner.precision_}"
    )
    if tuner.heldout_accuracy_ is not None:
        lines.append(
            f"Held-out accuracy: {tuner.heldout_accuracy_:.1%} on "
            f"{tuner.n_heldout_} training images kept aside"
        )
    return "\n".join(lines)


def weights_info(tuner, training_files=None) -> WeightsInfo:
    """The record of a fitted ``tuner``'s exported weights.

    ``training_files`` (the image files trained on) are recorded as the
    sha256 of their sorted ``folder/file name`` lines.
    """
    files_digest = None
    if training_files is not None:
        names = sorted(
            f"{Path(os.fspath(f)).parent.name}/{Path(os.fspath(f)).name}"
            for f in training_files
        )
        files_digest = strings_sha256(names)
    return WeightsInfo(
        input_size=tuple(tuner.input_shape_[:2]),
        preprocessing=tuner.preprocessing_,
        trained_blocks=int(tuner.trainable_blocks),
        precision=tuner.precision_,
        classes=[str(c) for c in tuner.classes_],
        start_weights=tuner.weights_used_,
        n_training_images=int(tuner.n_training_images_),
        training_data_sha256=tuner.training_data_sha256_,
        epochs=int(tuner.n_epochs_),
        best_epoch=int(tuner.best_epoch_),
        heldout_accuracy=tuner.heldout_accuracy_,
        heldout_images=int(tuner.n_heldout_),
        training_files_sha256=files_digest,
        batch_norm_folded=bool(tuner.batch_norm_),
        training_seconds=float(sum(tuner.history_.get("seconds", []))),
        params={k: repr(v) for k, v in tuner.get_params().items()},
        skemotion_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
