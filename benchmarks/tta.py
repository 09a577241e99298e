"""Test-time augmentation and prior correction for the ready model, on FER2013 test.

For each ``tta`` setting of ``EmotionPipeline`` (the views of
``skemotion.preprocessing.crop_views``: the crop itself; its mirror; crops of
the face 1/12 smaller at its corners, resized back, as the training's shifts
and zooms make them; with and without their mirrors), the ready model's
probabilities averaged over the views: accuracy, macro F1, recall per class,
expected calibration error; and the cost of one view per face. Then, on the
best views, a prior correction of the probabilities (``p / share ** tau``,
renormalised: Menon et al.'s post-hoc logit adjustment), which trades
accuracy on the common classes for recall on the rare one (disgust). ``tau``
is chosen on 2,000 FER2013 **train** images (a fixed stratified sample), not
on the test images it is reported on; the ready model was trained on those,
so the choice is only a guide.

The ready model's packaged files and its default engine (printed), FER2013
test's 3,589 crops (``crop__detector="none"``: they are crops already).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/tta.py [--limit 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import machine, shared_data


def scores(labels, proba, classes) -> dict:
    from sklearn.metrics import f1_score, recall_score

    from skemotion import expected_calibration_error

    predicted = np.asarray(classes)[proba.argmax(1)]
    recall = recall_score(labels, predicted, labels=classes, average=None)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro")),
        "ece": float(expected_calibration_error(labels, proba, classes)),
        "recall": dict(zip(classes, np.round(recall, 3).tolist(), strict=True)),
    }


def adjusted(proba: np.ndarray, shares: np.ndarray, tau: float) -> np.ndarray:
    out = proba / shares**tau
    return out / out.sum(axis=1, keepdims=True)


def main() -> None:
    from sklearn.model_selection import train_test_split

    from skemotion import load_image_folder, load_pretrained
    from skemotion.preprocessing import TTA_VIEWS, crop_views

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="test images (default: all)")
    args = parser.parse_args()

    root = shared_data() / "fer2013"
    paths, labels = load_image_folder(root / "test")
    train_paths, train_labels = load_image_folder(root / "train")
    if args.limit:
        paths, _, labels, _ = train_test_split(
            paths, labels, train_size=args.limit, stratify=labels, random_state=0
        )
    tune_paths, _, tune_labels, _ = train_test_split(
        train_paths, train_labels, train_size=2000, stratify=train_labels,
        random_state=0,
    )  # fmt: skip
    model = load_pretrained(crop__detector="none", crop__progress=False, tta=None)
    classes = list(model.classes_)
    engine = getattr(model, "engine", "tensorflow")
    print(f"Machine: {machine()}")
    print(f"Ready model, engine {engine}; {len(paths)} FER2013 test crops\n")
    gray = model[:2]  # crop (none: resize) and gray
    rest = model[2:]  # the network part: encoder and head, or the compiled one
    crops, tune_crops = gray.transform(paths), gray.transform(tune_paths)
    rest.predict_proba(crops[:64])  # warm

    every = TTA_VIEWS["crops+flip"]  # each view's probabilities, computed once
    per_view = dict(
        zip(
            every,
            (rest.predict_proba(v) for v in crop_views(crops, "crops+flip")),
            strict=True,
        )
    )
    results = {}
    for name, views in {"none": ("centre",), **TTA_VIEWS}.items():
        proba = np.mean([per_view[v] for v in views], axis=0)
        row = scores(labels, proba, classes)
        results[name] = (row, proba)
        print(f"{name:12s} views {len(views):2d}: accuracy {row['accuracy']:.4f}, "
              f"macro F1 {row['macro_f1']:.4f}, ECE {row['ece']:.4f}, "
              f"disgust {row['recall']['disgust']:.3f}, fear "
              f"{row['recall']['fear']:.3f}, sad {row['recall']['sad']:.3f}",
              flush=True)  # fmt: skip
    start = time.perf_counter()
    rest.predict_proba(crops[:512])
    one_view_ms = 1e3 * (time.perf_counter() - start) / 512
    print(f"\nOne view costs {one_view_ms:.2f} ms a face (batch of 512; the views "
          "of a set cost that many times it)")  # fmt: skip

    best = max(results, key=lambda k: results[k][0]["accuracy"])
    shares = np.array([np.mean(train_labels == c) for c in classes])
    views = crop_views(tune_crops, best) if best != "none" else [tune_crops]
    tune = np.mean([rest.predict_proba(v) for v in views], axis=0)
    print(f"\nPrior correction on the views '{best}'; tau chosen on 2,000 FER2013 "
          "train images (the largest tau that keeps their accuracy within 0.5 "
          "point of tau 0):")  # fmt: skip
    taus = (0.0, 0.25, 0.5, 0.75, 1.0)
    base = scores(tune_labels, tune, classes)["accuracy"]
    chosen = 0.0
    for tau in taus:
        on_train = scores(tune_labels, adjusted(tune, shares, tau), classes)
        on_test = scores(labels, adjusted(results[best][1], shares, tau), classes)
        if on_train["accuracy"] >= base - 0.005:
            chosen = tau
        print(f"  tau {tau:.2f}: train sample accuracy {on_train['accuracy']:.4f} "
              f"disgust {on_train['recall']['disgust']:.3f} | test accuracy "
              f"{on_test['accuracy']:.4f}, macro F1 {on_test['macro_f1']:.4f}, ECE "
              f"{on_test['ece']:.4f}, disgust {on_test['recall']['disgust']:.3f}, "
              f"fear {on_test['recall']['fear']:.3f}, sad "
              f"{on_test['recall']['sad']:.3f}")  # fmt: skip
    print(f"  chosen on train: tau {chosen}")


if __name__ == "__main__":
    main()
