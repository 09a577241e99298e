"""The ready model (``load_pretrained()``): FER2013 test, calibration, the post's data.

Rows, each with the weights it used (the packaged ones, named with their
sha256), on this machine:

1. FER2013 test (3,589 images, 48x48 crops): ``load_pretrained()`` with
   ``crop__detector="none"`` (the images are crops already) and with its
   default detector; accuracy, per-class precision and recall, and the
   expected calibration error with the temperature (calibrated) and without
   it (the raw softmax); ``evaluate_model``'s report, with its reliability
   diagram, into ``--report``.
2. The post's 6 classes (``seed``, train + validation, 365 photos), 5-fold
   stratified CV (shuffled, seed 0): the packaged encoder with a new head
   (``make_emotion_pipeline`` with the ready model's crop settings), and
   ``VGG16FineTuner`` starting from the packaged encoder, training its top
   blocks (``--finetune-blocks``) with its own head.
3. Cold start, each in a fresh process with an empty HOME: a Python user's
   (import skemotion, ``load_pretrained()``, one photo) and the program's
   (``skemotion predict PHOTO``, with and without its deferred imports).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/pretrained.py --report /tmp/ready
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import accuracy
import numpy as np
from _common import ROOT, machine, shared_data


def _crop_params() -> dict:
    from skemotion import pretrained_record

    crop = {f"crop__{k}": v for k, v in pretrained_record()["crop"].items()}
    crop["crop__size"] = tuple(crop["crop__size"])
    return crop


def _per_class(labels, proba, classes) -> list[dict]:
    from sklearn.metrics import precision_recall_fscore_support

    predicted = np.asarray(classes)[proba.argmax(1)]
    p, r, f, n = precision_recall_fscore_support(
        labels, predicted, labels=list(classes), zero_division=0
    )
    return [
        {"class": c, "precision": float(a), "recall": float(b), "f1": float(d),
         "n": int(e)}
        for c, a, b, d, e in zip(classes, p, r, f, n, strict=True)
    ]  # fmt: skip


def fer_test(report: Path | None) -> dict:
    from skemotion import (
        apply_temperature,
        evaluate_model,
        expected_calibration_error,
        load_image_folder,
        load_pretrained,
        pretrained_record,
    )

    paths, labels = accuracy._subset(
        *load_image_folder(shared_data() / "fer2013" / "test")
    )
    rows = {}
    for detector in ("none", None):
        params = {"crop__detector": detector} if detector else {}
        model = load_pretrained(crop__n_jobs=2, **params)
        start = time.perf_counter()
        proba = model.predict_proba(paths)
        seconds = time.perf_counter() - start
        classes = list(model.classes_)
        # either engine: the head's temperature, from the ready model's record
        temperature = pretrained_record()["head"]["temperature"]
        raw = apply_temperature(proba, 1.0 / temperature)
        name = detector or model.named_steps["crop"].detector + " (default)"
        name += f", engine {model.engine}, tta {model.tta}"
        rows[name] = {
            "accuracy": float(np.mean(np.asarray(classes)[proba.argmax(1)] == labels)),
            "ece": expected_calibration_error(labels, proba, classes),
            "ece_uncalibrated": expected_calibration_error(labels, raw, classes),
            "temperature": float(temperature),
            "images_per_s": len(paths) / seconds,
            "per_class": _per_class(labels, proba, classes),
        }
        print(f"FER2013 test, detector {name}: accuracy {rows[name]['accuracy']:.3f}, "
              f"ECE {rows[name]['ece']:.3f} (uncalibrated "
              f"{rows[name]['ece_uncalibrated']:.3f}, T={temperature:.3f}), "
              f"{len(paths) / seconds:.0f} images/s", flush=True)  # fmt: skip
        if report is not None and detector == "none":
            described = "FER2013 test (3,589 crops), detector none"
            evaluate_model(model, paths, labels, report, data_description=described)
    rows["weights"] = model.steps[-1][1].weights_used_
    return rows


def seed_head(cv) -> dict:
    from sklearn.model_selection import cross_val_score

    from skemotion import make_emotion_pipeline

    paths, labels = accuracy._seed()
    crop = _crop_params()
    with tempfile.TemporaryDirectory() as cache:
        pipe = make_emotion_pipeline(memory=cache, crop__n_jobs=2,
                                     classify__random_state=0, **crop)  # fmt: skip
        start = time.perf_counter()
        scores = cross_val_score(pipe, paths, labels, cv=cv)
    row = {"scores": scores.tolist(), "mean": float(scores.mean()),
           "std": float(scores.std()), "seconds": time.perf_counter() - start,
           "crop": crop}  # fmt: skip
    print(f"seed 5-fold, packaged encoder + head: {row['mean']:.3f} +/- "
          f"{row['std']:.3f} ({row['seconds']:.0f} s)", flush=True)  # fmt: skip
    return row


def seed_finetune(cv, blocks: int, epochs: int) -> dict:
    from sklearn.model_selection import cross_val_score

    from skemotion import make_finetune_pipeline

    paths, labels = accuracy._seed()
    crop = _crop_params()
    with tempfile.TemporaryDirectory() as cache:
        pipe = make_finetune_pipeline(
            memory=cache, crop__n_jobs=2, finetune__weights="fer2013",
            finetune__trainable_blocks=blocks, finetune__epochs=epochs,
            finetune__random_state=0, finetune__progress=False, **crop,
        )  # fmt: skip
        start = time.perf_counter()
        scores = cross_val_score(pipe, paths, labels, cv=cv)
    row = {"scores": scores.tolist(), "mean": float(scores.mean()),
           "std": float(scores.std()), "seconds": time.perf_counter() - start,
           "blocks": blocks, "epochs": epochs}  # fmt: skip
    print(f"seed 5-fold, fine-tuned top {blocks} blocks from the packaged encoder: "
          f"{row['mean']:.3f} +/- {row['std']:.3f} ({row['seconds']:.0f} s)",
          flush=True)  # fmt: skip
    return row


def _fresh(command: list[str]) -> tuple[float, str]:
    """Run ``command`` in a new process with an empty HOME: its wall seconds,
    from outside (interpreter start included), and its standard output."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home}
        start = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, check=True,
                             cwd=ROOT, env=env)  # fmt: skip
        return time.perf_counter() - start, out.stdout


def cold_start(repeats: int = 3) -> dict:
    """A new process, an empty HOME, one photo, the ready model: as the
    library is used (import, ``load_pretrained()``, ``predict_topk``, timed
    inside the process), as the program (``skemotion predict PHOTO``, timed
    from outside) and as the program without its deferred imports (the same
    command through ``main(argv)``, which leaves the process as it is)."""
    photo = str(shared_data() / "face-count" / "single_face" / "facerec_obama.jpg")
    library = (
        "import time; t = time.perf_counter(); from skemotion import load_pretrained, "
        f"predict_topk; m = load_pretrained(); r = predict_topk(m, [{photo!r}]); "
        "print(time.perf_counter() - t)"
    )
    script = Path(sys.executable).with_name("skemotion")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "skemotion"]
    undeferred = [sys.executable, "-c", "import sys; from skemotion.cli import main; "
                  "sys.exit(main(sys.argv[1:]))"]  # fmt: skip
    rows: dict[str, list[float]] = {"library": [], "program": [], "undeferred": []}
    for _ in range(repeats):
        _, out = _fresh([sys.executable, "-c", library])
        rows["library"].append(float(out.strip().splitlines()[-1]))
        for name, command in (("program", program), ("undeferred", undeferred)):
            rows[name].append(_fresh([*command, "predict", photo])[0])
    said = {
        "library": "import + load_pretrained() + one photo, timed inside",
        "program": "`skemotion predict PHOTO`, timed from outside",
        "undeferred": "the same through main(argv), nothing deferred",
    }
    for name, seconds in rows.items():
        print(f"cold start, {said[name]}: "
              f"{', '.join(f'{s:.2f}' for s in seconds)} s")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="evaluate_model's report folder")
    parser.add_argument("--results", type=Path, help="write every figure as JSON")
    parser.add_argument("--finetune-blocks", type=int, default=2)
    parser.add_argument("--finetune-epochs", type=int, default=20)
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=("fer", "head", "finetune", "cold"))  # fmt: skip
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    accuracy.LIMIT = args.limit  # its subsets serve both scripts
    from sklearn.model_selection import StratifiedKFold

    print(machine())
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    results = {"machine": machine()}
    if "cold" not in args.skip:
        results["cold_start_s"] = cold_start()
    if "fer" not in args.skip:
        results["fer2013_test"] = fer_test(args.report)
    if "head" not in args.skip:
        results["seed_head"] = seed_head(cv)
    if "finetune" not in args.skip:
        results["seed_finetune"] = seed_finetune(
            cv, args.finetune_blocks, args.finetune_epochs
        )
    if args.results:
        args.results.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
