"""The frozen blocks' output, computed once for the whole training run.

The blocks below the trained ones never change during fine-tuning, so their
output for every training image, and for ``copies`` fixed augmented copies
of it, is computed once; each epoch then draws one version per image.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .._progress import progress_enabled
from ..networks import predict_in_batches

__all__ = ["FrozenActivations", "frozen_activations"]

#: Images per call of the frozen network.
_BATCH = 128


class FrozenActivations(NamedTuple):
    """The frozen network's output for every version of every image."""

    activations: np.ndarray
    """Of shape (copies + 1, n, ...), float32; version 0 is the images as
    they are (or as ``plain`` makes them)."""
    seconds: float
    """Time it took."""


def frozen_activations(
    frozen,
    images: np.ndarray,
    *,
    copies: int,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    preprocess: Callable[[np.ndarray], np.ndarray],
    seed: int,
    progress: bool | None = None,
    plain: Callable[[np.ndarray], np.ndarray] | None = None,
) -> FrozenActivations:
    """The frozen network's output for the images and their augmented copies.

    Parameters
    ----------
    frozen : keras.Model
    images : ndarray of shape (n, height, width, channels)
    copies : int
        Augmented copies per image (0: the images only).
    augment : callable
        ``augment(batch, rng)``: copy ``k`` of every image is drawn from the
        generator seeded ``(seed, 7, k)``.
    preprocess : callable
        Images to network input.
    seed : int
    progress : bool or None
        A bar per copy.
    plain : callable, optional
        What version 0 is made of, ``plain(batch)`` (the centre crop of a
        network trained on random crops); default: the images as they are.

    Returns
    -------
    cached : FrozenActivations
    """
    started = time.perf_counter()
    out = np.empty((copies + 1, len(images), *frozen.output_shape[1:]), np.float32)
    show = progress_enabled(progress)
    for k in range(copies + 1):
        rng = np.random.default_rng([seed, 7, k])
        starts = range(0, len(images), _BATCH)
        if show:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"Frozen blocks, copy {k + 1}/{copies + 1}",
                          unit="batch", leave=False)  # fmt: skip
        for s in starts:
            batch = images[s : s + _BATCH]
            if k:
                batch = augment(batch, rng)
            elif plain is not None:
                batch = plain(batch)
            out[k, s : s + len(batch)] = predict_in_batches(
                frozen, preprocess(batch), _BATCH
            )
    return FrozenActivations(out, time.perf_counter() - started)
