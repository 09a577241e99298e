"""End to end, image paths to labels: images/s, peak memory, accuracy.

Each measurement runs in a fresh process (so peak RSS is its own):

* ``seed``: the original post's data set (HOG face detection, 224x224, the
  post's flatten features). Fits on train, then predicts train+validation
  (365 photos); images/s of that predict with ``crop__n_jobs`` 1 and 2, next
  to the encoder alone on the same crops (the bound the pipeline can reach).
* ``fer``: FER2013's 28,709 training images (48x48 crops, detector
  ``"none"``) fitted through the streaming pipeline, then its 3,589 test
  images predicted; images/s, accuracy and the process's peak RSS, next to
  the size of every training crop as float32 (what a non-streaming
  pipeline's encoder input would weigh). ``--plain`` repeats the fit with a
  plain scikit-learn ``Pipeline`` of the same steps, for the memory contrast.

Weights are random (seed 0): ImageNet weights cannot be downloaded here, so
the accuracies are not the model's quality, only proof that labels come out.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/end_to_end.py [--plain]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _common import machine, peak_rss_mib, shared_data

COMMON = dict(
    encode__weights=None,
    encode__random_state=0,
    classify__random_state=0,
)


def _seed(n_jobs: int) -> dict:
    from skemotion import load_image_folder, make_emotion_pipeline

    root = shared_data() / "seed"
    train, y_train = load_image_folder(root / "train", on_unreadable="keep")
    val, _ = load_image_folder(root / "validation", on_unreadable="keep")
    paths = np.concatenate([train, val])
    pipe = make_emotion_pipeline(crop__n_jobs=n_jobs, **COMMON)
    t = time.perf_counter()
    pipe.fit(train, y_train)
    fit_s = time.perf_counter() - t
    pipe.predict(paths[:8])  # warm: worker processes, compiled functions
    t = time.perf_counter()
    pipe.predict(paths)
    predict_s = time.perf_counter() - t
    # the bound: the encoder alone on the same (already cropped) images
    crops = pipe[:2].transform(paths)
    encoder = pipe.named_steps["encode"]
    t = time.perf_counter()
    encoder.encode(crops, progress=False)
    encode_s = time.perf_counter() - t
    return {
        "n": len(paths),
        "fit_s": fit_s,
        "ips": len(paths) / predict_s,
        "encoder_ips": len(paths) / encode_s,
        "peak_rss_mib": peak_rss_mib(),
    }


def _fer(plain: bool) -> dict:
    from sklearn.pipeline import Pipeline

    from skemotion import load_image_folder, make_emotion_pipeline

    root = shared_data() / "fer2013"
    train, y_train = load_image_folder(root / "train", on_unreadable="keep")
    test, y_test = load_image_folder(root / "test", on_unreadable="keep")
    pipe = make_emotion_pipeline(
        crop__detector="none", crop__size=48, chunk_size=512, **COMMON
    )
    if plain:
        pipe = Pipeline(pipe.steps)
    pipe[:-1].fit(train[:2])  # build the network before measuring the baseline
    baseline = peak_rss_mib()
    t = time.perf_counter()
    pipe.fit(train, y_train)
    fit_s = time.perf_counter() - t
    fit_rss = peak_rss_mib()
    t = time.perf_counter()
    predicted = pipe.predict(test)
    predict_s = time.perf_counter() - t
    return {
        "n_train": len(train),
        "n_test": len(test),
        "fit_s": fit_s,
        "fit_ips": len(train) / fit_s,
        "ips": len(test) / predict_s,
        "accuracy": float(np.mean(predicted == y_test)),
        "majority": float(np.max(np.unique(y_test, return_counts=True)[1]))
        / len(y_test),
        "baseline_rss_mib": baseline,
        "fit_peak_rss_mib": fit_rss,
        "float32_crops_mib": len(train) * 48 * 48 * 3 * 4 / 2**20,
    }


def _run(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="also a plain Pipeline")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, value = args.one
        result = _seed(int(value)) if kind == "seed" else _fer(value == "plain")
        print(json.dumps(result))
        return
    print(f"Machine: {machine()}")
    print("weights: random (seed 0), so accuracies are not model quality\n")
    print("seed data (HOG, 224x224, flatten), predict on train+validation:")
    for n_jobs in (1, 2):
        r = _run("seed", str(n_jobs))
        print(
            f"  crop__n_jobs={n_jobs}: {r['ips']:.2f} images/s end to end "
            f"({r['n']} photos); encoder alone {r['encoder_ips']:.2f} images/s "
            f"(ratio {r['ips'] / r['encoder_ips']:.2f}); fit on train "
            f"{r['fit_s']:.0f} s; peak RSS {r['peak_rss_mib']:.0f} MiB"
        )
    kinds = ["streamed", "plain"] if args.plain else ["streamed"]
    print("\nFER2013 (detector none, 48x48, flatten), fit on train, predict test:")
    for kind in kinds:
        r = _run("fer", kind)
        print(
            f"  {kind:>8}: fit {r['n_train']} images in {r['fit_s']:.0f} s "
            f"({r['fit_ips']:.0f} images/s, classifier included); predict "
            f"{r['n_test']} at {r['ips']:.0f} images/s; accuracy "
            f"{r['accuracy']:.3f} (majority class {r['majority']:.3f}); peak RSS "
            f"{r['fit_peak_rss_mib']:.0f} MiB, {r['baseline_rss_mib']:.0f} before "
            f"the fit (+{r['fit_peak_rss_mib'] - r['baseline_rss_mib']:.0f}); all "
            f"crops as float32 would be {r['float32_crops_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
