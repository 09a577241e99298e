"""Accuracy of the standard pipeline on random vs adapted (fine-tuned) VGG16 weights.

Rows, each with its weights, training time and the machine:

1. random weights + dense head: ``make_emotion_pipeline`` with
   ``encode__weights=None`` (seed 0), trained on FER2013's train split,
   accuracy on its test split; 5-fold stratified CV on the seed data
   (train+validation, HOG crops).
2. fine-tuned network: ``VGG16FineTuner`` trained on FER2013's train split
   for at most ``--budget-minutes`` (whole epochs; the run is checkpointed
   after every epoch and resumed epoch by epoch, so an interrupted benchmark
   goes on where it stopped when run again with the same ``--work`` folder);
   its own accuracy on the test split.
3. the standard pipeline on the adapted weights: the fine-tuned convolutional
   weights exported to a file, ``make_emotion_pipeline(encode__weights=FILE)``
   trained on FER2013's train split; test accuracy, and 5-fold CV on the seed
   data with the same file.

Reference figures (not measured here): the ``fer`` package's shipped model
scores about 0.50 on a FER2013 test split measured the same way; a published
fine-tuned VGG about 0.73.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/accuracy.py \\
        --budget-minutes 60 --work /tmp/skemotion-accuracy
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data

SIZE = 48  # FER2013's own size; the seed photos are cropped to it too


LIMIT = None  # --limit: a dry run on a few images per split


def _fer():
    from skemotion import load_image_folder

    root = shared_data() / "fer2013"
    train = load_image_folder(root / "train")
    test = load_image_folder(root / "test")
    if LIMIT:
        train = tuple(a[:: len(a) // LIMIT][:LIMIT] for a in train)
        test = tuple(a[:: len(a) // LIMIT][:LIMIT] for a in test)
    return train, test


def _seed():
    from skemotion import load_image_folder

    root = shared_data() / "seed"
    a, ya = load_image_folder(root / "train", strip_suffix="_face")
    b, yb = load_image_folder(root / "validation", strip_suffix="_face")
    paths, labels = np.concatenate([a, b]), np.concatenate([ya, yb])
    if LIMIT:
        return paths[:: len(paths) // LIMIT], labels[:: len(paths) // LIMIT]
    return paths, labels


def _standard(weights, work: Path, **params):
    from skemotion import make_emotion_pipeline

    return make_emotion_pipeline(
        memory=work / "cache", crop__size=SIZE, crop__n_jobs=2,
        encode__weights=weights, encode__random_state=0,
        classify__random_state=0, **params,
    )  # fmt: skip


def _standard_rows(weights, work: Path, label: str) -> dict:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    (train, y_train), (test, y_test) = _fer()
    pipe = _standard(weights, work, crop__detector="none")
    t = time.perf_counter()
    pipe.fit(train, y_train)
    fit_s = time.perf_counter() - t
    fer_acc = float(np.mean(pipe.predict(test) == y_test))
    used = pipe.named_steps["encode"].weights_used_
    paths, labels = _seed()
    t = time.perf_counter()
    scores = cross_val_score(
        _standard(weights, work, crop__detector="hog"), paths, labels,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    )  # fmt: skip
    cv_s = time.perf_counter() - t
    row = {
        "row": label, "weights": used, "fer_test_accuracy": fer_acc,
        "fer_train_s": fit_s, "seed_cv_mean": float(scores.mean()),
        "seed_cv_std": float(scores.std()), "seed_cv_s": cv_s,
    }  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def _finetune(work: Path, budget_s: float, args) -> tuple[dict, Path]:
    from skemotion import make_finetune_pipeline

    (train, y_train), (test, y_test) = _fer()
    params = dict(
        memory=work / "cache", crop__detector="none", crop__size=SIZE,
        crop__n_jobs=2, finetune__weights=None,
        finetune__trainable_blocks=args.trainable_blocks,
        finetune__learning_rate=args.learning_rate, finetune__batch_size=32,
        finetune__hidden_layer_sizes=(256,), finetune__dropout=0.3,
        finetune__class_weight=None, finetune__patience=3,
        finetune__checkpoint_dir=work / "checkpoint", finetune__random_state=0,
    )  # fmt: skip
    log = work / "epochs.json"
    spent = json.loads(log.read_text()) if log.exists() else []
    epochs = len(spent)
    while True:
        remaining = budget_s - sum(spent)
        typical = max(spent) if spent else 0.0
        if epochs >= args.max_epochs or (spent and remaining < typical):
            break
        epochs += 1
        pipe = make_finetune_pipeline(**params, finetune__epochs=epochs)
        pipe.fit(train, y_train)
        tuner = pipe.named_steps["finetune"]
        spent.extend(tuner.epoch_seconds_)
        log.write_text(json.dumps(spent))
        print(
            f"  epoch {epochs}: val_loss {tuner.history_['val_loss'][-1]:.4f}, "
            f"val_accuracy {tuner.history_['val_accuracy'][-1]:.3f}, "
            f"{tuner.epoch_seconds_[-1] if tuner.epoch_seconds_ else 0:.0f} s",
            flush=True,
        )
        if tuner.n_epochs_ < epochs:  # early stopping ended the run
            break
    pipe = make_finetune_pipeline(**params, finetune__epochs=epochs)
    pipe.fit(train, y_train)  # resumes the finished run: no training
    tuner = pipe.named_steps["finetune"]
    accuracy = float(np.mean(pipe.predict(test) == y_test))
    weights_file = tuner.export_weights(work / "fer_adapted.weights.h5")
    row = {
        "row": "fine-tuned network (its own head)", "weights": tuner.weights_used_,
        "trainable_blocks": args.trainable_blocks, "epochs": tuner.n_epochs_,
        "best_epoch": tuner.best_epoch_, "fer_test_accuracy": accuracy,
        "train_s": sum(spent), "seconds_per_epoch": float(np.mean(spent)),
        "history": tuner.history_,
    }  # fmt: skip
    print(json.dumps(row), flush=True)
    return row, weights_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-minutes", type=float, default=60.0)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--trainable-blocks", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--work", default="skemotion-accuracy", type=Path)
    parser.add_argument("--skip-random", action="store_true")
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global LIMIT
    LIMIT = args.limit
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}", flush=True)
    rows = []
    if not args.skip_random:
        rows.append(_standard_rows(None, args.work, "random weights + dense head"))
    tuned, weights_file = _finetune(args.work, args.budget_minutes * 60, args)
    rows.append(tuned)
    rows.append(
        _standard_rows(
            str(weights_file), args.work, "adapted encoder + dense head (standard)"
        )
    )
    print("\n| row | weights | FER2013 test accuracy | training | seed 5-fold CV |")
    print("|---|---|---|---|---|")
    for r in rows:
        train = r.get("fer_train_s", r.get("train_s", 0.0))
        cv = (
            f"{r['seed_cv_mean']:.3f} ± {r['seed_cv_std']:.3f}"
            if "seed_cv_mean" in r
            else "-"
        )
        print(
            f"| {r['row']} | {r['weights']} | {r['fer_test_accuracy']:.3f} | "
            f"{train / 60:.1f} min | {cv} |"
        )
    print(
        "| `fer` package's model (reference, not measured here) | - | ~0.50 | - | - |"
    )
    print(
        "| published fine-tuned VGG (reference) | ImageNet, fine-tuned "
        "| ~0.73 | - | - |"
    )
    print(f"\nadapted weights: {weights_file} (a build artefact, not committed)")


if __name__ == "__main__":
    main()
