"""Accuracy of the standard pipeline on random vs adapted (trained) VGG16 weights.

Rows, each with its weights, precision, training time and the machine:

1. random weights + dense head: ``make_emotion_pipeline`` with
   ``encode__weights=None`` (seed 0), trained on FER2013's train split,
   accuracy on its test split; 5-fold stratified CV on the seed data
   (train+validation, HOG crops).
2. the adapted network: ``VGG16FineTuner`` trained from random weights on
   FER2013's train split with the recipe's defaults (all 5 blocks, batch norm
   folded at export, per-image standardisation, warm-up + cosine schedule,
   label smoothing, augmentation, bfloat16 where the hardware has it), as
   many whole epochs as fit in ``--budget-minutes`` (the time of an epoch is
   measured first, on this machine); its own accuracy on the test split,
   with and without horizontal-flip test-time augmentation. Checkpointed
   after every epoch: rerunning with the same ``--work`` folder resumes.
3. the standard pipeline on the adapted weights: the weights exported to a
   file (with their record), ``make_emotion_pipeline(encode__weights=FILE)``
   with its default dense classifier trained on FER2013's train split; test
   accuracy (with and without ``encode__flip_tta``), and 5-fold CV on the
   seed data with the same file.

Reference figures (not measured here): the ``fer`` package's shipped model
scores about 0.50 on a FER2013 test split measured the same way; a published
fine-tuned VGG about 0.73.

The command that makes the same adapted weights file by itself is
``skemotion finetune`` (printed at the end).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/accuracy.py \\
        --budget-minutes 90 --work /tmp/skemotion-accuracy
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data

SIZE = 48  # FER2013's own size; the seed photos are cropped to it too
LIMIT = None  # --limit: a dry run on a few images per split


def _subset(paths, labels):
    if not LIMIT:
        return paths, labels
    step = max(len(paths) // LIMIT, 1)
    return paths[::step][:LIMIT], labels[::step][:LIMIT]


def _fer():
    from skemotion import load_image_folder

    root = shared_data() / "fer2013"
    train = _subset(*load_image_folder(root / "train"))
    test = _subset(*load_image_folder(root / "test"))
    return train, test


def _seed():
    from skemotion import load_image_folder

    root = shared_data() / "seed"
    a, ya = load_image_folder(root / "train", strip_suffix="_face")
    b, yb = load_image_folder(root / "validation", strip_suffix="_face")
    return _subset(np.concatenate([a, b]), np.concatenate([ya, yb]))


def _standard(weights, work: Path, **params):
    from skemotion import make_emotion_pipeline

    return make_emotion_pipeline(
        memory=work / "cache", crop__size=SIZE, crop__n_jobs=2,
        encode__weights=weights, encode__random_state=0,
        classify__random_state=0, **params,
    )  # fmt: skip


def _standard_rows(weights, work: Path, label: str) -> list[dict]:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    (train, y_train), (test, y_test) = _fer()
    rows = []
    for tta in (False, True):
        pipe = _standard(weights, work, crop__detector="none", encode__flip_tta=tta)
        t = time.perf_counter()
        pipe.fit(train, y_train)
        fit_s = time.perf_counter() - t
        fer_acc = float(pipe.score(test, y_test))
        encoder = pipe.named_steps["encode"]
        paths, labels = _seed()
        t = time.perf_counter()
        scores = cross_val_score(
            _standard(weights, work, crop__detector="hog", encode__flip_tta=tta),
            paths, labels, cv=StratifiedKFold(5, shuffle=True, random_state=0),
        )  # fmt: skip
        cv_s = time.perf_counter() - t
        row = {
            "row": label + (" + flip TTA" if tta else ""),
            "weights": encoder.weights_used_, "precision": encoder.precision_,
            "fer_test_accuracy": fer_acc, "fer_train_s": fit_s,
            "seed_cv_mean": float(scores.mean()), "seed_cv_std": float(scores.std()),
            "seed_cv_s": cv_s,
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def _recipe(work: Path, epochs: int, **extra):
    from skemotion import make_finetune_pipeline

    params = dict(weights=None, trainable_blocks=5, epochs=epochs,
                  validation_split=0.05, patience=None, random_state=0)  # fmt: skip
    params.update(extra)
    return make_finetune_pipeline(
        memory=work / "cache", crop__detector="none", crop__size=SIZE,
        crop__n_jobs=2, **{f"finetune__{k}": v for k, v in params.items()},
    )  # fmt: skip


def _epochs_in_budget(work: Path, budget_s: float, n_train: int) -> tuple[int, float]:
    """Whole epochs of the recipe that fit in the budget, from a timed probe."""
    (train, y_train), _ = _fer()
    pick = np.random.default_rng(1).permutation(len(train))[:1600]
    probe = _recipe(work, 2, validation_split=0)
    probe.fit(train[pick], y_train[pick])
    seconds_per_image = probe.named_steps["finetune"].epoch_seconds_[1] / len(pick)
    epoch_s = seconds_per_image * n_train * 1.05  # + the hold-out's evaluation
    return max(1, math.floor(budget_s / epoch_s)), epoch_s


def _finetune(work: Path, args) -> tuple[dict, Path, str]:
    (train, y_train), (test, y_test) = _fer()
    epochs_file = work / "epochs.json"
    if epochs_file.exists():  # a resumed run keeps its schedule
        epochs = json.loads(epochs_file.read_text())["epochs"]
    elif args.epochs:
        epochs = args.epochs
    else:
        epochs, epoch_s = _epochs_in_budget(
            work, args.budget_minutes * 60, int(len(train) * 0.95)
        )
        print(f"  measured about {epoch_s:.0f} s per epoch: {epochs} epochs "
              f"fit in {args.budget_minutes:.0f} minutes", flush=True)  # fmt: skip
    epochs_file.write_text(json.dumps({"epochs": epochs}))
    pipe = _recipe(work, epochs, checkpoint_dir=work / "checkpoint")
    t = time.perf_counter()
    pipe.fit(train, y_train)
    wall = time.perf_counter() - t
    tuner = pipe.named_steps["finetune"]
    accuracy = float(pipe.score(test, y_test))
    tuner.set_params(flip_tta=True)
    accuracy_tta = float(pipe.score(test, y_test))
    tuner.set_params(flip_tta=False)
    weights_file = tuner.export_weights(
        work / "fer_adapted.weights.h5", training_files=train
    )
    history = tuner.history_
    row = {
        "row": "adapted network, its own head", "weights": tuner.weights_used_,
        "precision": tuner.precision_, "epochs": tuner.n_epochs_,
        "heldout_accuracy": tuner.heldout_accuracy_,
        "fer_test_accuracy": accuracy, "fer_test_accuracy_flip_tta": accuracy_tta,
        "train_s": float(sum(history["seconds"])),
        "wall_s_this_run": wall, "resumed_from_epoch": tuner.resumed_from_epoch_,
        "history": history,
    }  # fmt: skip
    print(json.dumps(row), flush=True)
    command = (
        f"skemotion finetune {shared_data() / 'fer2013'} --size {SIZE} "
        f"--detector none --weights none --trainable-blocks 5 --epochs {epochs} "
        "--random-state 0 -p finetune__validation_split=0.05 "
        "-p finetune__patience=None --checkpoint-dir ckpt -o fer.weights.h5"
    )
    return row, weights_file, command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-minutes", type=float, default=90.0)
    parser.add_argument("--epochs", type=int, help="instead of the budget")
    parser.add_argument("--work", default="skemotion-accuracy", type=Path)
    parser.add_argument("--skip-random", action="store_true")
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global LIMIT
    LIMIT = args.limit
    args.work.mkdir(parents=True, exist_ok=True)
    from skemotion.networks import bfloat16_support

    print(f"Machine: {machine()}; bfloat16: {bfloat16_support()[1]}; "
          f"{time.strftime('%Y-%m-%d')}", flush=True)  # fmt: skip
    rows = []
    if not args.skip_random:
        rows += _standard_rows(None, args.work, "random weights + dense head")
    tuned, weights_file, command = _finetune(args.work, args)
    rows.append(tuned)
    rows += _standard_rows(
        str(weights_file), args.work, "standard pipeline on the adapted weights"
    )
    print("\n| row | weights | precision | FER2013 test | training | seed 5-fold CV |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        train = r.get("train_s", r.get("fer_train_s", 0.0))
        cv = (f"{r['seed_cv_mean']:.3f} ± {r['seed_cv_std']:.3f}"
              if "seed_cv_mean" in r else "-")  # fmt: skip
        fer = f"{r['fer_test_accuracy']:.3f}"
        if "fer_test_accuracy_flip_tta" in r:
            fer += f" ({r['fer_test_accuracy_flip_tta']:.3f} with flip TTA)"
        print(f"| {r['row']} | {r['weights']} | {r['precision']} | {fer} | "
              f"{train / 60:.1f} min | {cv} |")  # fmt: skip
    print("| `fer` package's model (reference, not measured here) | - | - | ~0.50 "
          "| - | - |")  # fmt: skip
    print("| published fine-tuned VGG (reference) | ImageNet | - | ~0.73 | - | - |")
    print(f"\nadapted weights: {weights_file} (a build artefact, not committed)")
    print(f"the same file from the command line: {command}")


if __name__ == "__main__":
    main()
