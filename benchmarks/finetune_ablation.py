"""Ablation of the face-training recipe, measured on FER2013 test.

Each row trains ``VGG16FineTuner`` from random weights (all 5 blocks) on the
same stratified subset of FER2013's train split for the same number of
epochs, with the recipe's defaults except for one choice, and reports its
accuracy on the whole FER2013 test split (3,589 images), the difference to
the recipe, and the training time. The recipe: per-image standardisation,
batch normalisation, a 1-epoch linear warm-up then a cosine decay from 1e-3,
label smoothing 0.1, face augmentation (flip, shift 0.1, rotation 10, zoom
0.1, brightness 0.2), batch 64, bfloat16 where the hardware runs it. Every
row also scores its own network with horizontal-flip TTA (each test image
and its mirror image), and the random-crop rows with test-time crops (the
centre and the four corners, with and without their mirrors). Each record
also holds the per-class recall on FER2013 test (disgust is the rare class),
the macro F1 and the history of every epoch.

The probes of issue 29 (below the ``--- probes ---`` line of ``ROWS``) try
the choices of the best published single network on FER2013 (Khaireddin &
Chen 2021: SGD with Nesterov momentum, the learning rate lowered on a
held-out plateau, heavy augmentation, test-time crops) and others, one at a
time; ``combined`` is the winners together, to be set from their results.
``--validation-split 0.1`` holds 10% of the training subset out in every row
(the same images in every row): the history then has the held-out loss and
accuracy of every epoch, the plateau row can watch them, and each row keeps
its best epoch by held-out loss (``patience=None``: no early stop). Rows of
another hold-out are other rows: the ``recipe`` row runs again as the probes'
baseline. The plateau row needs a hold-out (skipped without).

The budget must let the network leave chance level: on 2 CPU cores
(bfloat16, AVX512-BF16) the recipe trained on 5,000 images for 4 epochs
(about 310 steps) still scored 0.248 on FER2013 test, the majority class,
while the full run of ``benchmarks/accuracy.py`` passed 0.42 after about
1,300 steps. The defaults (12,000 images, 8 epochs: 1,500 steps) cost about
23 minutes per row there, 4-5 hours for the table; a GPU does it in minutes.
Rows are appended to ``--results`` as they finish, and a rerun skips rows
already there. With ``--checkpoints DIR`` each row saves its state after
every epoch in ``DIR/<row>``: a row interrupted resumes after its last
completed epoch (delete the folder to start it over).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/finetune_ablation.py \\
        [--n 12000] [--epochs 8] [--validation-split 0.1] \\
        [--results ablation.jsonl] [--checkpoints DIR] [--only recipe ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data

SIZE = 48
#: Side of the random crops of the crop rows (Khaireddin & Chen: 40 of 48).
CROP = 44
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
    # --- probes (issue 29) ---
    "sgd_nesterov_plateau": ("SGD, Nesterov momentum 0.9, from 0.01, halved on "
                             "each held-out plateau (1 epoch)",
                             {"optimizer": "sgd", "learning_rate": 0.01,
                              "lr_schedule": "plateau", "plateau_factor": 0.5,
                              "plateau_patience": 1}),
    "random_crop_44_tta": (f"random {CROP}x{CROP} crops (test: the centre crop)",
                           {"random_crop": CROP}),
    "weight_decay": ("decoupled weight decay 0.05 (x the learning rate)",
                     {"weight_decay": 0.05}),
    "mixup": ("mixup, alpha 0.2", {"mixup_alpha": 0.2}),
    "cutmix": ("CutMix, alpha 1.0", {"cutmix_alpha": 1.0}),
    "random_erasing": ("random erasing, p 0.5, 2-33% of the image",
                       {"random_erasing": 0.5}),
    "ema": ("moving average of the weights, decay 0.998", {"ema_decay": 0.998}),
    "onecycle": ("one-cycle learning rate (peak 1e-3 at 30%)",
                 {"lr_schedule": "onecycle"}),
    "logit_adjust": ("logit adjustment for rare classes, tau 1",
                     {"logit_adjustment": 1.0}),
    # the probes' winners together: set these from their results before running
    "combined": ("the probes' winners together (to be set from the probes)",
                 {"optimizer": "sgd", "learning_rate": 0.01,
                  "lr_schedule": "plateau", "plateau_patience": 1,
                  "random_crop": CROP, "weight_decay": 5e-4,
                  "ema_decay": 0.998}),
}  # fmt: skip
#: Rows that watch the held-out images (skipped without ``--validation-split``).
NEEDS_HOLDOUT = {"sgd_nesterov_plateau", "combined"}


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


def _key(record: dict) -> tuple:
    """What makes rows comparable: the budget and the hold-out."""
    return record["n"], record["epochs"], record.get("validation_split", 0.0)


def _scores(tuner, X_test, y_test) -> dict:
    """Test accuracy with each kind of TTA the network allows, per-class
    recall and macro F1 (of the plain predictions)."""
    from sklearn.metrics import f1_score, recall_score

    predicted = tuner.predict(X_test)
    classes = tuner.classes_
    recall = recall_score(y_test, predicted, labels=classes, average=None)
    out = {
        "test_accuracy": float(np.mean(predicted == y_test)),
        "per_class_recall": {str(c): float(r) for c, r in zip(classes, recall,
                                                              strict=True)},
        "macro_f1": float(f1_score(y_test, predicted, average="macro")),
    }  # fmt: skip
    tuner.set_params(flip_tta=True)
    out["test_accuracy_flip_tta"] = float(tuner.score(X_test, y_test))
    if tuner.crop_size_ is not None:
        tuner.set_params(crop_tta=True)
        out["test_accuracy_crop_flip_tta"] = float(tuner.score(X_test, y_test))
        tuner.set_params(flip_tta=False)
        out["test_accuracy_crop_tta"] = float(tuner.score(X_test, y_test))
        tuner.set_params(crop_tta=False)
    tuner.set_params(flip_tta=False)
    return out


def _train_row(name: str, args, X, y, X_test, y_test) -> dict:
    from skemotion import VGG16FineTuner

    words, change = ROWS[name]
    checkpoint = None if args.checkpoints is None else args.checkpoints / name
    tuner = VGG16FineTuner(
        weights=None, trainable_blocks=5, epochs=args.epochs,
        validation_split=args.validation_split, patience=None, random_state=0,
        progress=False, checkpoint_dir=checkpoint, **change,
    )  # fmt: skip
    t = time.perf_counter()
    tuner.fit(X, y)
    train_s = time.perf_counter() - t
    record = {
        "name": name, "change": words, "params": change, "n": args.n,
        "epochs": args.epochs, "validation_split": args.validation_split,
        "precision": tuner.precision_, "train_s": train_s,
        "epochs_s": float(sum(tuner.history_.get("seconds", []))),
        "resumed_from_epoch": tuner.resumed_from_epoch_,
        "best_epoch": tuner.best_epoch_,
        "heldout_accuracy": tuner.heldout_accuracy_,
    }  # fmt: skip
    record.update(_scores(tuner, X_test, y_test))
    record["history"] = tuner.history_
    return record


def _table(done: dict) -> None:
    base = done.get("recipe", {}).get("test_accuracy")
    print(
        "\n| choice | FER2013 test accuracy | vs the recipe | with flip TTA | "
        "macro F1 | disgust recall | held-out accuracy | training time |"
    )
    print("|---|---|---|---|---|---|---|---|")  # fmt: skip
    for name, (words, _) in ROWS.items():
        r = done.get(name)
        if r is None:
            continue
        delta = "" if base is None or name == "recipe" else (
            f"{100 * (r['test_accuracy'] - base):+.1f} points")  # fmt: skip
        f1 = f"{r['macro_f1']:.3f}" if "macro_f1" in r else ""
        disgust = r.get("per_class_recall", {}).get("disgust")
        disgust = "" if disgust is None else f"{disgust:.3f}"
        heldout = r.get("heldout_accuracy")
        heldout = "" if heldout is None else f"{heldout:.3f}"
        tta = r.get("test_accuracy_flip_tta")
        tta = "" if tta is None else f"{tta:.3f}"
        print(f"| {words} | {r['test_accuracy']:.3f} | {delta} | {tta} | {f1} | "
              f"{disgust} | {heldout} | {r['train_s'] / 60:.1f} min |")  # fmt: skip
        if "test_accuracy_crop_tta" in r:
            for key, what in (("test_accuracy_crop_tta", "5 test crops"),
                              ("test_accuracy_crop_flip_tta", "10 test crops "
                               "(with mirrors)")):  # fmt: skip
                gain = 100 * (r[key] - r["test_accuracy"])
                print(f"| same network, {what} | {r[key]:.3f} | {gain:+.1f} points "
                      f"vs its centre crop | | | | | |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12000, help="training images")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--validation-split", type=float, default=0.0,
                        help="share of the training images held out in every "
                        "row (0: none, as the first table)")  # fmt: skip
    parser.add_argument("--results", type=Path, default=Path("ablation.jsonl"))
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="save each row's state after every epoch in "
                        "DIR/<row>, so an interrupted row resumes")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=list(ROWS))
    args = parser.parse_args()

    from skemotion.networks import bfloat16_support

    done = {}
    key = (args.n, args.epochs, args.validation_split)
    if args.results.exists():
        for line in args.results.read_text().splitlines():
            record = json.loads(line)
            if _key(record) == key:
                done[record["name"]] = record
    X, y, X_test, y_test = _data(args.n)
    print(f"Machine: {machine()}; bfloat16: {bfloat16_support()[1]}", flush=True)
    print(f"{len(X)} FER2013 training images (stratified), {args.epochs} epochs "
          f"each, {args.validation_split:.0%} held out; FER2013 test: "
          f"{len(X_test)} images", flush=True)  # fmt: skip
    for name in args.only or ROWS:
        if name in done:
            continue
        if name in NEEDS_HOLDOUT and not args.validation_split:
            print(f"{name}: skipped, it needs --validation-split > 0", flush=True)
            continue
        record = _train_row(name, args, X, y, X_test, y_test)
        done[name] = record
        with args.results.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(json.dumps({k: v for k, v in record.items() if k != "history"}),
              flush=True)  # fmt: skip
    _table(done)


if __name__ == "__main__":
    main()
