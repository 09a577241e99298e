"""Which crop makes real photos look like FER2013's faces to the packaged encoder.

FER2013's faces are framed tightly; the post's photos are whole web photos
(JAFFE-like: one posed face, often with shoulders and background). For each
framing (detector, margin around the box, eye alignment) this measures 5-fold
stratified CV accuracy (shuffled, seed 0) on the post's data (``seed``, train
+ validation, 365 photos, 6 classes) with the packaged encoder
(``encode__weights="fer2013"``, 48x48) and a new dense head, plus the photos
in which no face was found. The best row is the ready model's crop setting
(``tools/build_pretrained.py --detector --margin [--align]``).

``--warm-crops`` only detects and crops (into the ``--cache`` folder), no
encoder: the slow part, which a later run reuses.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/framing.py --cache ~/framing-cache
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import accuracy
import numpy as np
from _common import machine

#: (detector, margin, align) rows.
FRAMINGS = [
    ("none", 0.0, False),
    ("hog", 0.0, False),
    ("hog", 0.1, False),
    ("hog", 0.2, False),
    ("hog", 0.3, False),
    ("hog", 0.2, True),
    ("mtcnn", 0.2, False),
    ("mtcnn", 0.2, True),
    ("yunet", 0.0, False),
    ("yunet", 0.1, False),
    ("yunet", 0.2, False),
    ("yunet", 0.1, True),
]


def _params(detector, margin, align) -> dict:
    return {
        "crop__detector": detector, "crop__margin": margin, "crop__align": align,
        "crop__size": (48, 48), "crop__n_jobs": 2,
    }  # fmt: skip


def warm(paths, cache, framings) -> None:
    from skemotion import FaceCropper

    for detector, margin, align in framings:
        start = time.perf_counter()
        FaceCropper(detector=detector, margin=margin, align=align, size=48,
                    memory=cache, progress=False).transform(paths)  # fmt: skip
        print(f"cropped {detector} margin {margin} align {align}: "
              f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip


def measure(paths, labels, cache, framings) -> list[dict]:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from skemotion import make_emotion_pipeline

    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    rows = []
    for detector, margin, align in framings:
        pipe = make_emotion_pipeline(memory=cache, classify__random_state=0,
                                     **_params(detector, margin, align))  # fmt: skip
        start = time.perf_counter()
        scores = cross_val_score(pipe, paths, labels, cv=cv)
        row = {"detector": detector, "margin": margin, "align": align,
               "mean": float(scores.mean()), "std": float(scores.std()),
               "seconds": time.perf_counter() - start}  # fmt: skip
        rows.append(row)
        print(f"| {detector} | {margin} | {'yes' if align else 'no'} | "
              f"{row['mean']:.3f} +/- {row['std']:.3f} | {row['seconds']:.0f} s |",
              flush=True)  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--warm-crops", action="store_true")
    parser.add_argument("--results", type=Path)
    parser.add_argument("--only", nargs="+", metavar="DETECTOR",
                        help="only these detectors' rows")  # fmt: skip
    args = parser.parse_args()
    framings = [f for f in FRAMINGS if not args.only or f[0] in args.only]
    paths, labels = accuracy._seed()
    if args.warm_crops:
        warm(paths, args.cache, framings)
        return
    print(machine())
    from skemotion import VGG16Encoder

    print("weights:", VGG16Encoder(weights="fer2013").fit(
        np.zeros((1, 48, 48, 3), np.uint8)).weights_used_)  # fmt: skip
    print("| detector | margin | align | 5-fold CV | time |\n|---|---|---|---|---|")
    rows = measure(paths, labels, args.cache, framings)
    if args.results:
        args.results.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
