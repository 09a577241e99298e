"""Recipes for the ready model's head, on the packaged encoder's FER2013 features.

The packaged encoder's features of FER2013 train and test (and of their
mirror images, flipped left to right) are computed once and kept in
``--cache``; each recipe then trains a head on the training features and is
scored on the 3,589 test images: accuracy, expected calibration error (15
bins), the recall of the rarest class (disgust) and the seconds to fit.

Recipes:

- ``shipped``: the head in the package (``validation_split=0.05``,
  ``patience=4``, temperature-scaled).
- ``balanced``: the same with ``class_weight="balanced"``.
- ``patience10``: early stopping with more patience.
- ``mirror``: trained on the features of each image and of its mirror image.
- ``mirror+tta``: ``mirror``, and the test probabilities averaged over each
  image and its mirror image (test-time augmentation).
- ``ftta``: train and test features averaged over each image and its mirror
  image, as ``VGG16Encoder(flip_tta=True)`` computes them.
- ``mirror+ftta``: trained as ``mirror``, tested on averaged features.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/ready_head.py \
        --cache ~/skemotion_runs/head_features.npz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data


def _encode(paths) -> tuple[np.ndarray, np.ndarray]:
    """Packaged-encoder features of each image and of its mirror image."""
    from skemotion import make_emotion_pipeline

    pipe = make_emotion_pipeline(
        crop__detector="none", crop__size=48, encode__weights="fer2013",
        encode__precision="float32", crop__n_jobs=2, encode__progress=False,
    )  # fmt: skip
    crops = pipe[:2].fit(paths[:1]).transform(paths)
    encoder = pipe[2].fit(crops[:1])
    return encoder.transform(crops), encoder.transform(crops[:, :, ::-1])


def _features(cache: Path) -> dict[str, np.ndarray]:
    from skemotion import load_image_folder

    if cache.exists():
        with np.load(cache) as stored:
            return dict(stored)
    root = shared_data() / "fer2013"
    out = {}
    for split in ("train", "test"):
        paths, labels = load_image_folder(root / split)
        start = time.perf_counter()
        out[split], out[f"{split}_mirror"] = _encode(paths)
        out[f"{split}_labels"] = np.asarray(labels, dtype=str)  # no pickle
        print(f"encoded {split}: {len(paths)} images (and mirrors) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


RECIPES = {
    "shipped": {},
    "balanced": {"class_weight": "balanced"},
    "patience10": {"patience": 10},
    "mirror": {"_mirror": True},
    "mirror+tta": {"_mirror": True, "_tta": True},
    "mirror+tta+balanced": {"_mirror": True, "_tta": True, "class_weight": "balanced"},
    "ftta": {"_average": True},
    "mirror+ftta": {"_mirror": True, "_average_test": True},
}


def _run(name: str, data: dict, seed: int) -> dict:
    from sklearn.metrics import recall_score

    from skemotion.classification import EmotionClassifier
    from skemotion.inspection import expected_calibration_error

    extra = dict(RECIPES[name])
    mirror, tta = extra.pop("_mirror", False), extra.pop("_tta", False)
    average = extra.pop("_average", False)
    average_test = extra.pop("_average_test", average)
    params = {"epochs": 40, "patience": 4, "validation_split": 0.05,
              "calibration": "temperature", "random_state": seed,
              "progress": False, **extra}  # fmt: skip
    x, y = data["train"], data["train_labels"]
    if average:  # what VGG16Encoder(flip_tta=True) gives: the two averaged
        x = (x + data["train_mirror"]) / 2
    if mirror:  # each image and its mirror image, in one shuffled order
        order = np.random.default_rng(seed).permutation(2 * len(x))
        x = np.concatenate([x, data["train_mirror"]])[order]
        y = np.concatenate([y, y])[order]
    start = time.perf_counter()
    head = EmotionClassifier(**params).fit(x, y)
    seconds = time.perf_counter() - start
    test = data["test"]
    if average_test:
        test = (test + data["test_mirror"]) / 2
    proba = head.predict_proba(test)
    if tta:
        proba = (proba + head.predict_proba(data["test_mirror"])) / 2
    truth = data["test_labels"]
    predicted = head.classes_[proba.argmax(1)]
    recall = recall_score(truth, predicted, labels=["disgust"], average=None)
    return {
        "recipe": name, "seed": seed, "accuracy": float(np.mean(predicted == truth)),
        "ece": expected_calibration_error(truth, proba, head.classes_),
        "disgust_recall": float(recall[0]), "epochs": len(head.history_["loss"]),
        "temperature": float(head.temperature_), "seconds": seconds,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = _features(args.cache.expanduser())
    print(machine())
    print("weights: packaged fer2013 encoder (float32 features); FER2013 test, 3,589")
    print("| recipe | seed | accuracy | ECE | disgust recall | epochs | T | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for name in args.recipes:
        for seed in args.seeds:
            r = _run(name, data, seed)
            rows.append(r)
            cells = [name, seed, f"{r['accuracy']:.3f}", f"{r['ece']:.3f}",
                     f"{r['disgust_recall']:.2f}", r["epochs"],
                     f"{r['temperature']:.3f}", f"{r['seconds']:.0f}"]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
