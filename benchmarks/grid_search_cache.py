"""Grid search with and without the feature cache, as a ratio to one encoding pass.

On real seed photos: one pass of detect + crop + gray + encode over the images
(the unit), then ``GridSearchCV`` over 4 ``classify__*`` candidates with 3
stratified folds, without a cache and with ``make_emotion_pipeline(memory=...)``
(cold, then warm: a second run of the same search). Within one process the
cache's memo answers the candidates' repeated look-ups from memory.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/grid_search_cache.py [--size 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _common import machine, shared_data
from sklearn.model_selection import GridSearchCV

GRID = {"classify__learning_rate": [1e-4, 1e-3],
        "classify__hidden_layer_sizes": [(64,), (256, 64, 16)]}  # fmt: skip


def main() -> None:
    from skemotion import load_image_folder, make_emotion_pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=10)
    args = parser.parse_args()
    paths, labels = load_image_folder(
        shared_data() / "seed" / "train", strip_suffix="_face", on_unreadable="keep"
    )
    keep = np.concatenate([np.flatnonzero(labels == c)[: args.per_class]
                           for c in np.unique(labels)])  # fmt: skip
    paths, labels = paths[keep], labels[keep]

    def pipe(memory=None):
        return make_emotion_pipeline(
            memory=memory, crop__size=args.size, crop__progress=False,
            encode__weights=None, encode__random_state=0, encode__progress=False,
            classify__epochs=3, classify__random_state=0, classify__progress=False,
        )  # fmt: skip

    print(f"Machine: {machine()}")
    print(
        f"{len(paths)} seed photos, {args.size}x{args.size}, weights: random "
        "(seed 0); 4 candidates x 3 folds (+ refit)\n"
    )
    t = time.perf_counter()
    features = pipe()[:-1].fit_transform(paths)
    one_pass = time.perf_counter() - t
    print(f"one pass (detect, crop, encode):  {one_pass:7.1f} s   1.00")
    classifier = pipe().named_steps["classify"]
    grid = {k.removeprefix("classify__"): v for k, v in GRID.items()}
    t = time.perf_counter()
    GridSearchCV(classifier, grid, cv=3).fit(features, labels)
    alone = time.perf_counter() - t
    print(f"classifier alone on features:     {alone:7.1f} s  {alone / one_pass:5.2f}"
          "   (the floor: 13 Keras fits)")  # fmt: skip
    t = time.perf_counter()
    GridSearchCV(pipe(), GRID, cv=3).fit(paths, labels)
    plain = time.perf_counter() - t
    print(f"grid search, no cache:            {plain:7.1f} s  {plain / one_pass:5.2f}")
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        GridSearchCV(pipe(cache), GRID, cv=3).fit(paths, labels)
        cold = time.perf_counter() - t
        print(
            f"grid search, cache (cold):        {cold:7.1f} s  {cold / one_pass:5.2f}"
        )
        t = time.perf_counter()
        GridSearchCV(pipe(cache), GRID, cv=3).fit(paths, labels)
        warm = time.perf_counter() - t
        print(
            f"grid search, cache (warm rerun):  {warm:7.1f} s  {warm / one_pass:5.2f}"
        )
    print(
        f"\nspeed-up of the cache: {plain / cold:.1f}x cold, {plain / warm:.1f}x warm"
    )
    print(
        f"beyond the classifier's fits: {(cold - alone) / one_pass:.2f} passes cold, "
        f"{(warm - alone) / one_pass:.2f} warm (the pipeline's own fits, the "
        "cache's look-ups)"
    )


if __name__ == "__main__":
    main()
