"""Pieces of network training on Keras' own ``fit``: schedule, batches, callbacks.

Used by the fine-tuner's training run (``_fit.py``); each piece stands on its
own. Everything random is seeded by ``(seed, purpose, epoch, batch)``, so
a run resumed at any epoch draws exactly what an uninterrupted run draws.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np

__all__ = [
    "ONECYCLE",
    "batch_rng",
    "best_epoch_callback",
    "epoch_log",
    "face_batches",
    "plateau_callback",
    "warmup_schedule",
]

logger = logging.getLogger(__name__)

#: Purposes of the random streams (the second number of each seed).
_ORDER, _PICK, _AUGMENT, _MIX = 1, 2, 3, 4

#: The one-cycle policy's shape (PyTorch's ``OneCycleLR`` defaults): share of
#: the steps rising, start at ``peak / div``, end at ``peak / div / final_div``.
ONECYCLE = {"rise": 0.3, "div": 25.0, "final_div": 1e4}


def warmup_schedule(
    peak: float, *, warmup_steps: int, total_steps: int, kind: str = "cosine",
    scale=None,
):  # fmt: skip
    """A learning rate that rises linearly, then stays or decays to zero.

    Parameters
    ----------
    peak : float
        The learning rate at the end of the warm-up.
    warmup_steps : int
        Steps of the linear rise from ``peak / warmup_steps`` (0: none).
    total_steps : int
        Steps of the whole run (the cosine reaches 0 there).
    kind : {"cosine", "constant", "plateau", "onecycle"}
        After the warm-up: half a cosine down to 0, or ``peak`` throughout,
        or ``peak`` times ``scale`` (``"plateau"``: a callback lowers it).
        ``"onecycle"`` ignores ``warmup_steps``: half a cosine up from
        ``peak / 25`` over the first 30% of the steps, then half a cosine down
        to ``peak / 25e4`` (:data:`ONECYCLE`).
    scale : keras.Variable, optional
        ``"plateau"``'s factor (1 at the start), read at every step.

    Returns
    -------
    schedule : keras.optimizers.schedules.LearningRateSchedule
        A function of the optimizer's step count, which checkpoints keep, so a
        resumed run continues on the same curve.
    """
    import keras
    from keras import ops

    rise_steps = max(round(ONECYCLE["rise"] * total_steps), 1)
    start = peak / ONECYCLE["div"]
    end = start / ONECYCLE["final_div"]

    def half_cosine(progress, first, last):
        progress = ops.clip(progress, 0.0, 1.0)
        return last + (first - last) * 0.5 * (1.0 + ops.cos(math.pi * progress))

    class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = ops.cast(step, "float32")
            if kind == "onecycle":
                up = half_cosine(step / rise_steps, start, peak)
                down_steps = max(total_steps - rise_steps, 1)
                down = half_cosine((step - rise_steps) / down_steps, peak, end)
                return ops.where(step < rise_steps, up, down)
            rise = ops.minimum(1.0, (step + 1.0) / max(warmup_steps, 1))
            if kind == "constant":
                return peak * rise
            if kind == "plateau":
                return peak * rise * ops.convert_to_tensor(scale)
            progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
            progress = ops.clip(progress, 0.0, 1.0)
            return peak * rise * 0.5 * (1.0 + ops.cos(math.pi * progress))

        def get_config(self):
            return {"peak": peak, "warmup_steps": warmup_steps,
                    "total_steps": total_steps, "kind": kind}  # fmt: skip

    return WarmupSchedule()


def face_batches(
    *,
    n_images: int,
    batch_size: int,
    seed: int,
    first_epoch: int,
    targets: np.ndarray,
    sample_weight: np.ndarray,
    make_inputs: Callable[[np.ndarray, int, int], np.ndarray],
    mix: Callable | None = None,
):
    """A Keras ``PyDataset`` of shuffled training batches, one epoch at a time.

    Parameters
    ----------
    n_images : int
    batch_size : int
    seed : int
    first_epoch : int
        The epoch (0-based) of the first pass Keras makes over it: a resumed
        run starts where it stopped.
    targets : ndarray of shape (n_images, n_classes)
        One-hot (or smoothed) targets.
    sample_weight : ndarray of shape (n_images,)
    make_inputs : callable
        ``make_inputs(rows, epoch, batch)`` returns the network's input for
        the images ``rows`` of batch ``batch`` of ``epoch`` (augmented,
        preprocessed, or drawn from cached activations).
    mix : callable, optional
        ``mix(x, targets, sample_weight, rng)`` returns the batch mixed
        (mixup, CutMix), ``rng`` seeded by the epoch and the batch.

    Returns
    -------
    batches : keras.utils.PyDataset
        Keras calls its ``on_epoch_begin`` before each pass; the batch order
        of each epoch is a seeded permutation.
    """
    import keras

    class FaceBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = first_epoch
            self._order = self._permutation()
            self._begun = False

        def _permutation(self) -> np.ndarray:
            rng = np.random.default_rng([seed, _ORDER, self.epoch])
            return rng.permutation(n_images)

        @property
        def num_batches(self):
            return math.ceil(n_images / batch_size)

        def on_epoch_begin(self):
            # Keras may read a few batches before the first epoch begins (to
            # learn their shapes): they come from the first epoch's order.
            if self._begun:
                self.epoch += 1
                self._order = self._permutation()
            self._begun = True

        def __getitem__(self, index):
            rows = self._order[index * batch_size : (index + 1) * batch_size]
            x = make_inputs(rows, self.epoch, index)
            if mix is None:
                return x, targets[rows], sample_weight[rows]
            rng = batch_rng(seed, self.epoch, index, "mix")
            return mix(x, targets[rows], sample_weight[rows], rng)

    return FaceBatches()


def batch_rng(seed: int, epoch: int, batch: int, purpose: str) -> np.random.Generator:
    """The random generator of one batch of one epoch, for one purpose."""
    code = {"augment": _AUGMENT, "pick": _PICK, "mix": _MIX}[purpose]
    return np.random.default_rng([seed, code, epoch, batch])


class _Best:
    """Early-stopping bookkeeping that survives a checkpoint (plain numbers)."""

    def __init__(self, state: dict | None = None) -> None:
        state = state or {}
        self.wait = int(state.get("wait", 0))
        self.best_epoch = int(state.get("best_epoch", 0))
        self.best_val_loss = float(state.get("best_val_loss", math.inf))

    def to_dict(self) -> dict:
        return {"wait": self.wait, "best_epoch": self.best_epoch,
                "best_val_loss": self.best_val_loss}  # fmt: skip


def best_epoch_callback(patience: int | None, state: dict | None, best_weights,
                        weights_of: Callable | None = None):  # fmt: skip
    """A Keras callback keeping the best epoch's weights by validation loss.

    Stops training after ``patience`` epochs without a lower validation loss
    (``None``: never); without validation data every epoch is the best so
    far. Its ``state`` (``wait``, ``best_epoch``, ``best_val_loss``) and
    ``best_weights`` are what a checkpoint stores to resume it. The weights
    kept are ``weights_of(model)`` (default: ``model.get_weights()``; the
    moving average of the weights when there is one).
    """
    import keras

    class BestEpoch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = _Best(state)
            self.best_weights = best_weights

        @property
        def exhausted(self) -> bool:
            return patience is not None and self.best.wait >= patience

        def on_epoch_end(self, epoch, logs=None):
            val_loss = (logs or {}).get("val_loss")
            if val_loss is None or val_loss < self.best.best_val_loss:
                if val_loss is not None:
                    self.best.best_val_loss = float(val_loss)
                self.best.best_epoch = epoch + 1
                self.best.wait = 0
                self.best_weights = (
                    weights_of(self.model) if weights_of else self.model.get_weights()
                )
            else:
                self.best.wait += 1
            if self.exhausted:
                self.model.stop_training = True

    return BestEpoch()


def plateau_callback(scale, *, factor: float, patience: int, state: dict | None):
    """A Keras callback multiplying ``scale`` by ``factor`` after ``patience``
    epochs without a lower validation loss (``lr_schedule="plateau"``).

    ``scale`` is the schedule's :class:`keras.Variable`; the callback's
    ``state`` (``scale``, ``best``, ``wait``: plain numbers) is what a
    checkpoint stores to resume it, and sets ``scale`` when given.
    """
    import keras

    class Plateau(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            saved = state or {}
            self.state = {"scale": float(saved.get("scale", 1.0)),
                          "best": float(saved.get("best", math.inf)),
                          "wait": int(saved.get("wait", 0))}  # fmt: skip
            scale.assign(self.state["scale"])

        def on_epoch_end(self, epoch, logs=None):
            val_loss = (logs or {}).get("val_loss")
            if val_loss is None:
                return
            if val_loss < self.state["best"]:
                self.state.update(best=float(val_loss), wait=0)
                return
            self.state["wait"] += 1
            if self.state["wait"] >= patience:
                self.state.update(scale=self.state["scale"] * factor, wait=0)
                scale.assign(self.state["scale"])
                logger.info("epoch %d: held-out loss on a plateau, learning rate "
                            "x%g", epoch + 1, self.state["scale"])  # fmt: skip

    return Plateau()


def epoch_log(total_epochs: int, show_progress: bool, history: dict):
    """A Keras callback timing each epoch, logging it and drawing a batch bar.

    It appends each epoch's figures (``loss``, ``val_loss``...) and its wall
    time (``seconds``) to ``history``, which a checkpoint keeps.
    """
    import keras

    class EpochLog(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self.bar = None

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()
            if show_progress:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=self.params.get("steps"), unit="batch",
                                desc=f"Epoch {epoch + 1}/{total_epochs}",
                                leave=False)  # fmt: skip

        def on_train_batch_end(self, batch, logs=None):
            if self.bar is not None:
                self.bar.update()
                if logs and "loss" in logs:
                    self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}")

        def on_epoch_end(self, epoch, logs=None):
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            self.seconds.append(time.perf_counter() - self.started)
            logs = {
                k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"
            }
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            history.setdefault("seconds", []).append(self.seconds[-1])
            shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items())
            logger.info("epoch %d/%d: %s (%.1f s)", epoch + 1, total_epochs, shown,
                        self.seconds[-1])  # fmt: skip

    return EpochLog()
