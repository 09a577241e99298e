"""Face detectors compared: HOG (the post's), MTCNN, MTCNN with alignment.

On the post's own photos (``seed``, 365) and on ``face-count`` (photos with
one face, several, none), in one run:

* photos in which no face is found, and time per photo (2 cores, longest side
  shrunk to 800 as ``FaceCropper`` does);
* on face-count, against each folder's truth: exactly one face on each
  single-face photo, several on the group photos, none on the no-face images;
* the accuracy effect: 5-fold stratified CV on the seed data with the
  standard pipeline, for each detector, on the encoder given by ``--weights``
  (use the adapted weights from ``benchmarks/accuracy.py``; default: random
  weights, which make the comparison meaningless and say so);
* a picture of a few crops for a person to look at: photos HOG misses that
  MTCNN finds, and faces before and after alignment (``--figure``).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/detectors.py \\
        --weights /tmp/acc/fer_adapted.weights.h5 --figure detectors.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data

DETECTORS = {
    "hog": ("hog", False),
    "mtcnn": ("mtcnn", False),
    "mtcnn + align": ("mtcnn", True),
}


def _count(paths, detector: str) -> tuple[list[int], float]:
    from skemotion import detect_faces, read_image

    counts, seconds = [], 0.0
    for path in paths:
        image = read_image(path)
        t = time.perf_counter()
        counts.append(len(detect_faces(image, detector)))
        seconds += time.perf_counter() - t
    return counts, seconds / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="encoder weights file")
    parser.add_argument("--size", type=int, default=48, help="crop side for the CV")
    parser.add_argument("--figure", type=Path, help="write a PNG of example crops")
    parser.add_argument("--no-cv", action="store_true")
    args = parser.parse_args()
    from skemotion import load_image_folder

    data = shared_data()
    a, ya = load_image_folder(data / "seed" / "train", strip_suffix="_face")
    b, yb = load_image_folder(data / "seed" / "validation", strip_suffix="_face")
    seed, labels = np.concatenate([a, b]), np.concatenate([ya, yb])
    folders = {
        name: sorted(str(p) for p in (data / "face-count" / name).iterdir())
        for name in ("single_face", "multi_face", "no_face")
    }
    print(f"Machine: {machine()}")
    print(
        f"seed: {len(seed)} photos; face-count: "
        + ", ".join(f"{k} {len(v)}" for k, v in folders.items())
        + "\n"
    )
    found = {}
    print(
        "| detector | seed photos, no face found | time per seed photo | "
        "single-face photos with exactly 1 | group photos with 2+ | no-face "
        "images with none |"
    )
    print("|---" * 6 + "|")
    for name in ("hog", "mtcnn"):
        counts, per_photo = _count(seed, name)
        found[name] = counts
        single = _count(folders["single_face"], name)[0]
        multi = _count(folders["multi_face"], name)[0]
        none = _count(folders["no_face"], name)[0]
        print(
            f"| {name} | {sum(c == 0 for c in counts)} | {1000 * per_photo:.0f} ms | "
            f"{sum(c == 1 for c in single)} of {len(single)} | "
            f"{sum(c >= 2 for c in multi)} of {len(multi)} | "
            f"{sum(c == 0 for c in none)} of {len(none)} |"
        )
    hog_misses = [
        p
        for p, h, m in zip(seed, found["hog"], found["mtcnn"], strict=True)
        if h == 0 and m > 0
    ]
    print(f"\nphotos HOG misses that MTCNN finds: {len(hog_misses)}")
    if args.figure:
        _figure(hog_misses[:4], seed, args.figure)
        print(f"figure: {args.figure}")
    if args.no_cv:
        return
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from skemotion import make_emotion_pipeline

    weights = args.weights
    print(
        f"\n5-fold stratified CV on the seed data ({len(seed)} photos, "
        f"{args.size}x{args.size}), weights: {weights or 'random (seed 0)'}"
    )
    if weights is None:
        print(
            "(random weights classify at chance: the detectors' effect cannot "
            "show; give --weights)"
        )
    print("\n| detector | CV accuracy | time |")
    print("|---|---|---|")
    for name, (detector, align) in DETECTORS.items():
        pipe = make_emotion_pipeline(
            crop__detector=detector,
            crop__align=align,
            crop__size=args.size,
            crop__progress=False,
            encode__weights=weights,
            encode__random_state=0,
            encode__progress=False,
            classify__random_state=0,
            classify__progress=False,
        )
        t = time.perf_counter()
        scores = cross_val_score(
            pipe, seed, labels, cv=StratifiedKFold(5, shuffle=True, random_state=0)
        )
        print(
            f"| {name} | {scores.mean():.3f} ± {scores.std():.3f} | "
            f"{time.perf_counter() - t:.0f} s |"
        )


def _figure(misses, seed, path: Path) -> None:
    """Crops of HOG's misses found by MTCNN, and aligned vs unaligned faces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skemotion import FaceCropper

    rows = [
        (
            "HOG misses, MTCNN crop",
            FaceCropper(detector="mtcnn", size=96, progress=False).transform(misses),
        )
    ]
    sample = list(seed[::40][:4])
    plain = FaceCropper(detector="mtcnn", size=96, progress=False).transform(sample)
    aligned = FaceCropper(
        detector="mtcnn", size=96, align=True, progress=False
    ).transform(sample)
    rows += [("MTCNN, not aligned", plain), ("MTCNN, aligned", aligned)]
    n = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(2 * n, 2.2 * len(rows)))
    for r, (title, crops) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(crops):
                ax.imshow(crops[c])
        axes[r][0].set_title(title, loc="left", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
