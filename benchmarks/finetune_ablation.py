"""Ablation of the face-training recipe, measured on FER2013 test.

Each row trains ``VGG16FineTuner`` from random weights (all 5 blocks) on the
same stratified subset of FER2013's train split for the same number of
epochs, with the recipe's defaults except for one choice, and reports its
accuracy on the whole FER2013 test split (3,589 images), the difference to
the recipe, and the training time. The recipe: per-image standardisation,
batch normalisation, a 1-epoch linear warm-up then a cosine decay from 1e-3,
label smoothing 0.1, face augmentation (flip, shift 0.1, rotation 10, zoom
0.1, brightness 0.2), batch 64, bfloat16 where the hardware runs it. The
flip-TTA row is the recipe's own network, predicting each test image and its
mirror image.

The budget must let the network leave chance level: on 2 CPU cores
(bfloat16, AVX512-BF16) the recipe trained on 5,000 images for 4 epochs
(about 310 steps) still scored 0.248 on FER2013 test, the majority class,
while the full run of ``benchmarks/accuracy.py`` passed 0.42 after about
1,300 steps. The defaults (12,000 images, 8 epochs: 1,500 steps) cost about
23 minutes per row there, 4-5 hours for the table; a GPU does it in minutes.
Rows are appended to ``--results`` as they finish, and a rerun skips rows
already there.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/finetune_ablation.py \\
        [--n 12000] [--epochs 8] [--results ablation.jsonl] [--only recipe ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data

SIZE = 48
#: Row name -> (what changes, in words; the parameters that change).
ROWS = {
    "recipe": ("the recipe", {}),
    "caffe": ("no per-image standardisation (Keras' VGG16 preprocessing)",
              {"preprocessing": "caffe"}),
    "no_batch_norm": ("no batch normalisation", {"batch_norm": False}),
    "constant_lr": ("constant learning rate after the warm-up",
                    {"lr_schedule": "constant"}),
    "no_warmup": ("no warm-up", {"warmup_epochs": 0.0}),
    "no_smoothing": ("no label smoothing", {"label_smoothing": 0.0}),
    "no_augment": ("no augmentation", {"augment": False}),
    "strong_augment": ("stronger augmentation (shift 0.15, rotation 20, zoom 0.2, "
                       "brightness 0.3)",
                       {"shift": 0.15, "rotation": 20.0, "zoom": 0.2,
                        "brightness": 0.3}),
    "balanced": ("balanced class weights", {"class_weight": "balanced"}),
    "batch_32": ("batch 32", {"batch_size": 32}),
    "batch_128": ("batch 128", {"batch_size": 128}),
}  # fmt: skip


def _data(n: int):
    from skemotion import FaceCropper, GrayscaleConverter, load_image_folder

    root = shared_data() / "fer2013"
    paths, labels = load_image_folder(root / "train")
    # a stratified subset: the same share of every class
    rng = np.random.default_rng(0)
    keep = np.concatenate([
        rng.permutation(np.flatnonzero(labels == c))[: round(n * np.mean(labels == c))]
        for c in np.unique(labels)
    ])  # fmt: skip
    test, y_test = load_image_folder(root / "test")
    crop = FaceCropper(detector="none", size=SIZE, n_jobs=2, progress=False)
    gray = GrayscaleConverter()
    return (
        gray.fit_transform(crop.transform(paths[keep])), labels[keep],
        gray.fit_transform(crop.transform(test)), y_test,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12000, help="training images")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--results", type=Path, default=Path("ablation.jsonl"))
    parser.add_argument("--only", nargs="+", choices=sorted(ROWS))
    args = parser.parse_args()

    from skemotion import VGG16FineTuner
    from skemotion.networks import bfloat16_support

    done = {}
    if args.results.exists():
        for line in args.results.read_text().splitlines():
            record = json.loads(line)
            if (record["n"], record["epochs"]) == (args.n, args.epochs):
                done[record["name"]] = record
    X, y, X_test, y_test = _data(args.n)
    print(f"Machine: {machine()}; bfloat16: {bfloat16_support()[1]}", flush=True)
    print(f"{len(X)} FER2013 training images (stratified), {args.epochs} epochs "
          f"each; FER2013 test: {len(X_test)} images", flush=True)  # fmt: skip
    for name in args.only or ROWS:
        if name in done:
            continue
        words, change = ROWS[name]
        tuner = VGG16FineTuner(
            weights=None, trainable_blocks=5, epochs=args.epochs,
            validation_split=0, patience=None, random_state=0, progress=False,
            **change,
        )  # fmt: skip
        t = time.perf_counter()
        tuner.fit(X, y)
        record = {
            "name": name, "change": words, "n": args.n, "epochs": args.epochs,
            "precision": tuner.precision_, "train_s": time.perf_counter() - t,
            "test_accuracy": float(tuner.score(X_test, y_test)),
            "history": tuner.history_,
        }  # fmt: skip
        if name == "recipe":
            tuner.set_params(flip_tta=True)
            record["test_accuracy_flip_tta"] = float(tuner.score(X_test, y_test))
        done[name] = record
        with args.results.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(json.dumps({k: v for k, v in record.items() if k != "history"}),
              flush=True)  # fmt: skip

    base = done.get("recipe", {}).get("test_accuracy")
    print("\n| choice | FER2013 test accuracy | vs the recipe | training time |")
    print("|---|---|---|---|")
    for name, (words, _) in ROWS.items():
        r = done.get(name)
        if r is None:
            continue
        delta = "" if base is None or name == "recipe" else (
            f"{100 * (r['test_accuracy'] - base):+.1f} points")  # fmt: skip
        print(f"| {words} | {r['test_accuracy']:.3f} | {delta} | "
              f"{r['train_s'] / 60:.1f} min |")  # fmt: skip
        if "test_accuracy_flip_tta" in r:
            tta = r["test_accuracy_flip_tta"]
            gain = 100 * (tta - r["test_accuracy"])
            print(f"| the recipe + horizontal-flip TTA at test | {tta:.3f} | "
                  f"{gain:+.1f} points | same network |")  # fmt: skip


if __name__ == "__main__":
    main()
