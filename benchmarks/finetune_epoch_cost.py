"""Fine-tuning cost per epoch: float32 vs bfloat16, with and without cached activations.

``VGG16FineTuner(cache_frozen=True)`` runs the frozen blocks once, before
the first epoch, on every training image and on ``augment_copies`` (4)
augmented copies of it; each epoch then draws one of the 5 versions per
image. ``cache_frozen=False`` augments every batch afresh and runs the frozen
blocks every epoch. Training the whole network (``trainable_blocks=5``, the
from-scratch recipe) has nothing to cache. Every run uses the recipe's
defaults from random weights (batch norm, per-image standardisation, batch
64, augmentation) on the same FER2013 images, in one process; each epoch
figure is the fastest epoch after the first (the first includes building the
compiled functions; single epochs on a shared 2-core machine vary by 20% or
more).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/finetune_epoch_cost.py \\
        [--n 2000] [--size 48] [--blocks 5 2 1] [--epochs 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import machine, shared_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="FER2013 images")
    parser.add_argument("--size", type=int, default=48, help="crop side")
    parser.add_argument("--blocks", type=int, nargs="+", default=[5, 2, 1])
    parser.add_argument(
        "--epochs", type=int, default=3,
        help="epochs per run; the fastest after the first is reported",
    )  # fmt: skip
    args = parser.parse_args()

    from skemotion import (
        FaceCropper,
        GrayscaleConverter,
        VGG16FineTuner,
        load_image_folder,
    )
    from skemotion.networks import bfloat16_support

    paths, labels = load_image_folder(shared_data() / "fer2013" / "train")
    pick = np.random.default_rng(0).permutation(len(paths))[: args.n]
    crops = FaceCropper(detector="none", size=args.size, n_jobs=2).transform(
        paths[pick]
    )
    X, y = GrayscaleConverter().fit_transform(crops), labels[pick]
    print(f"Machine: {machine()}; bfloat16: {bfloat16_support()[1]}")
    print(
        f"{len(X)} FER2013 images at {args.size}x{args.size}, 90% trained, "
        "random He weights (seed 0), batch 64, batch norm, augmentation on\n"
    )

    def epoch(blocks: int, cache: bool, precision: str) -> tuple[float, float]:
        tuner = VGG16FineTuner(
            weights=None, trainable_blocks=blocks, cache_frozen=cache,
            epochs=args.epochs, precision=precision, random_state=0, progress=False,
        ).fit(X, y)  # fmt: skip
        # the first epoch includes tracing; on a shared machine single epochs
        # vary by 20% or more, so the fastest of the others is reported
        return min(tuner.epoch_seconds_[1:]), tuner.frozen_cache_seconds_

    print(
        "| trained blocks | float32, not cached | float32, cached | "
        "bfloat16, not cached | bfloat16, cached | bfloat16 / float32 "
        "(not cached) | images/s f32 -> bf16 (not cached) |"
    )
    print("|---" * 7 + "|")
    n_train = int(0.9 * len(X))
    for blocks in args.blocks:
        f32, _ = epoch(blocks, False, "float32")
        bf16, _ = epoch(blocks, False, "bfloat16")
        if blocks < 5:
            f32c, built32 = epoch(blocks, True, "float32")
            bf16c, built16 = epoch(blocks, True, "bfloat16")
            cached = (f"{f32c:.1f} s (cache {built32:.0f} s)",
                      f"{bf16c:.1f} s (cache {built16:.0f} s)")  # fmt: skip
        else:
            cached = ("-", "-")
        print(
            f"| {'all 5' if blocks == 5 else f'top {blocks}'} | {f32:.1f} s | "
            f"{cached[0]} | {bf16:.1f} s | {cached[1]} | **{f32 / bf16:.2f}x** "
            f"faster | {n_train / f32:.0f} -> {n_train / bf16:.0f} |"
        )


if __name__ == "__main__":
    main()
