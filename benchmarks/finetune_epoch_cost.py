"""Fine-tuning cost per epoch, with and without the frozen-activation cache.

``VGG16FineTuner(cache_frozen=True)`` runs the frozen blocks once, before
the first epoch, on every training image and on ``augment_copies`` (4)
augmented copies of it; each epoch then draws one of the 5 versions per
image. ``cache_frozen=False`` augments every batch afresh and runs the frozen
blocks every epoch. Training the whole network (``trainable_blocks=5``) has
nothing to cache. All on the same FER2013 images, in one run; each epoch
figure is the second epoch's (the first includes building the compiled
functions).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/finetune_epoch_cost.py \\
        [--n 3000] [--size 48]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import machine, shared_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="FER2013 images")
    parser.add_argument("--size", type=int, default=48, help="crop side")
    args = parser.parse_args()

    from skemotion import (
        FaceCropper,
        GrayscaleConverter,
        VGG16FineTuner,
        load_image_folder,
    )

    paths, labels = load_image_folder(shared_data() / "fer2013" / "train")
    pick = np.random.default_rng(0).permutation(len(paths))[: args.n]
    crops = FaceCropper(detector="none", size=args.size, n_jobs=2).transform(
        paths[pick]
    )
    X, y = GrayscaleConverter().fit_transform(crops), labels[pick]
    print(f"Machine: {machine()}")
    print(
        f"{len(X)} FER2013 images at {args.size}x{args.size}, 90% trained, "
        "random He weights (seed 0), batch 32, augmentation on\n"
    )

    def run(blocks: int, cache: bool) -> VGG16FineTuner:
        return VGG16FineTuner(
            weights=None, trainable_blocks=blocks, cache_frozen=cache, epochs=2,
            patience=5, batch_size=32, hidden_layer_sizes=(256,),
            random_state=0, progress=False,
        ).fit(X, y)  # fmt: skip

    whole = run(5, False).epoch_seconds_[1]
    print(
        "| trained blocks | epoch, frozen blocks cached | epoch, not cached | "
        "cached / not | cache built once in | whole network's epoch / cached |"
    )
    print("|---|---|---|---|---|---|")
    for blocks in (1, 2, 3):
        cached = run(blocks, True)
        plain = run(blocks, False)
        c, p = cached.epoch_seconds_[1], plain.epoch_seconds_[1]
        print(
            f"| top {blocks} | {c:.1f} s | {p:.1f} s | {c / p:.2f} | "
            f"{cached.frozen_cache_seconds_:.1f} s | {whole / c:.1f}x |"
        )
    print(f"| all 5 (nothing frozen) | - | {whole:.1f} s | - | - | 1.0x |")


if __name__ == "__main__":
    main()
