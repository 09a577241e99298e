"""A folder holding the state of a training run after its last completed epoch.

:class:`CheckpointStore` writes, after every epoch, the network's variables
(weights, batch-norm statistics and dropout's random state), the optimizer's
(its step count included, so a learning-rate schedule continues, and the
moving average of the weights when there is one), the best epoch's weights,
and a JSON record (epoch, early-stopping state, the learning-rate plateau's
state, history). The
record is written last and names a run by a fingerprint of its parameters and
data (:func:`run_fingerprint`): a folder is only resumed by the run that
wrote it. :func:`checkpoint_callback` saves into the store after every epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..exceptions import CheckpointError

__all__ = [
    "CheckpointStore",
    "checkpoint_callback",
    "digest_arrays",
    "run_fingerprint",
]

#: Layout of the folder; bumped when what is stored changes.
CHECKPOINT_FORMAT = 2


def _save_arrays(path: Path, values) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, *[np.asarray(v) for v in values])


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


class CheckpointStore:
    """Save and restore a training run, epoch by epoch, in one folder.

    Parameters
    ----------
    folder : str or os.PathLike
        Created when missing.
    fingerprint : str
        Identifies the run (parameters and data); a folder holding another
        run's checkpoint is refused with :class:`CheckpointError`.
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: str) -> None:
        self.folder = Path(os.fspath(folder))
        self.fingerprint = fingerprint

    def load(self, model, optimizer) -> dict | None:
        """Put the saved state into ``model`` and ``optimizer``; return the record.

        Returns None when the folder holds no checkpoint yet. The record has
        ``epoch``, ``history``, the early-stopping ``best`` state,
        ``best_weights`` (a list of arrays) and, when the run saved one, the
        ``plateau`` state of ``lr_schedule="plateau"``.

        Raises
        ------
        CheckpointError
            If the folder holds another run's checkpoint or a damaged one.
        """
        state_file = self.folder / "state.json"
        if not state_file.exists():
            return None
        try:
            record = json.loads(state_file.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"{state_file}: unreadable checkpoint ({exc})"
            ) from None
        if (
            record.get("format") != CHECKPOINT_FORMAT
            or record.get("fingerprint") != self.fingerprint
        ):
            raise CheckpointError(
                f"{self.folder} holds a checkpoint of another run (other parameters "
                "or data); resume with the same ones, or use another folder or "
                "delete it to start over"
            )
        try:
            variables = model.variables
            values = _load_arrays(self.folder / "variables.npz")
            if len(values) != len(variables):
                raise ValueError("network variables do not match")
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
            optimizer.build(model.trainable_variables)
            values = _load_arrays(self.folder / "optimizer.npz")
            if len(values) != len(optimizer.variables):
                raise ValueError("optimizer state does not match")
            for variable, value in zip(optimizer.variables, values, strict=True):
                variable.assign(value)
            record["best_weights"] = _load_arrays(self.folder / "best.npz")
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{self.folder}: damaged checkpoint ({exc})"
            ) from None
        return record

    def save(self, model, optimizer, *, epoch: int, history: dict, best: dict,
             best_weights, plateau: dict | None = None) -> None:  # fmt: skip
        """Save the state after ``epoch`` (1-based) completed epochs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _save_arrays(
            self.folder / "variables.npz", [v.numpy() for v in model.variables]
        )
        _save_arrays(
            self.folder / "optimizer.npz", [v.numpy() for v in optimizer.variables]
        )
        _save_arrays(self.folder / "best.npz", best_weights)
        record = {
            "format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint,
            "epoch": epoch, "history": history, "best": best,
        }  # fmt: skip
        if plateau is not None:
            record["plateau"] = plateau
        # the record last: it names a completed epoch only once its files exist
        with atomic_path(self.folder / "state.json", suffix=".json") as tmp:
            tmp.write_text(json.dumps(record, indent=1, sort_keys=True))


def checkpoint_callback(store: CheckpointStore, best, history: dict, plateau=None):
    """A Keras callback saving the run to ``store`` after every epoch.

    ``best`` is the run's best-epoch callback (its state and best weights are
    saved too); ``history`` holds the figures of every epoch so far;
    ``plateau`` is the learning-rate plateau callback (its state is saved),
    if any.
    """
    import keras

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            store.save(
                self.model, self.model.optimizer, epoch=epoch + 1, history=history,
                best=best.best.to_dict(), best_weights=best.best_weights,
                plateau=None if plateau is None else dict(plateau.state),
            )  # fmt: skip

    return Checkpoint()


def digest_arrays(*arrays) -> str:
    """sha256 of arrays' shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


#: Parameters that do not change what a run computes, left out of its
#: fingerprint.
_UNFINGERPRINTED = ("patience", "checkpoint_dir", "progress", "random_state",
                    "flip_tta", "crop_tta")  # fmt: skip
#: Parameters added after checkpoints were first written, with the default
#: that does what runs did before them: left out of the fingerprint at that
#: value, so a checkpoint written before they existed still resumes.
_ADDED_LATER = {
    "random_crop": None, "random_erasing": 0.0, "erasing_area": (0.02, 0.33),
    "mixup_alpha": 0.0, "cutmix_alpha": 0.0, "weight_decay": None,
    "plateau_factor": 0.5, "plateau_patience": 2, "logit_adjustment": 0.0,
    "ema_decay": None,
}  # fmt: skip
#: Learning-rate schedules whose curve does not depend on the number of epochs
#: (a longer run continues the same curve).
_OPEN_ENDED = ("constant", "plateau")


def _same(value, default) -> bool:
    if isinstance(default, tuple):
        return isinstance(value, tuple | list) and tuple(value) == default
    return value is default if default is None else value == default


def run_fingerprint(
    params: dict,
    *,
    seed: int,
    weights_key: str | None,
    classes,
    precision: str,
    images: np.ndarray,
    codes: np.ndarray,
) -> str:
    """What identifies a training run: the fine-tuner's parameters (those that
    change what it computes), its seed, start weights, classes and precision,
    and its training data."""
    params = dict(params)
    ignored = list(_UNFINGERPRINTED)
    if params["lr_schedule"] in _OPEN_ENDED:
        ignored.append("epochs")  # a longer run continues the same curve
    if params["lr_schedule"] != "plateau":
        ignored += ["plateau_factor", "plateau_patience"]  # not used
    ignored += [
        name for name, default in _ADDED_LATER.items()
        if name in params and _same(params[name], default)
    ]  # fmt: skip
    for name in set(ignored):
        params.pop(name, None)
    params.update(
        seed=seed,
        weights=weights_key or str(params["weights"]),
        classes=np.asarray(classes).tolist(),
        precision=precision,
    )
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256((text + digest_arrays(images, codes)).encode()).hexdigest()
