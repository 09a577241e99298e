"""Photos end to end with the ready model, against the issue's yardstick.

The path of ``skemotion predict`` on a folder (``iter_predict_topk``, which
the server's ``classify_crops`` shares): read, detect, crop, gray, classify
(the compiled network, flip averaging), top-2 records, on the post's 365 seed
photos, with the cropper's ``n_jobs`` 1 and 2, and without flip averaging
(``tta=None``: half the network's work). The yardstick, measured in the same
run on the same crops (one per photo, found once): the ready model's encoder
on TensorFlow in bfloat16 ("auto"), batch 64. Also the compiled network alone
on those crops (flip averaging, as the ready model runs it): the bound the
whole path can reach. Every rate is in photos per second; the ratio is end to
end over the yardstick. The detector ``"none"`` (each photo taken whole as
its face) is the same path without finding faces: what reading, cutting and
the network alone allow.

Then where an end-to-end photo's CPU time goes, stage by stage in one
process (decoding, finding faces, cropping, gray, the network).

The ready model's packaged weights (``load_pretrained()``: the compiled
engine where ai-edge-litert is installed; the yardstick loads it with
``engine="tensorflow"``).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/photos.py [--detectors yunet hog]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import machine, shared_data


def _best_rate(function, items, repeats: int = 2) -> float:
    """Items a second: ``len(items)`` over the shortest of ``repeats`` timed
    calls of ``function(items)``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function(items)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def stages(model, paths) -> None:
    """CPU milliseconds a photo per stage, in this process, one at a time."""
    from skemotion import detect_faces, pipeline_cropper, read_image

    crop = pipeline_cropper(model)
    clock = time.process_time
    start = clock()
    images = [read_image(path) for path in paths]
    decode = clock() - start
    start = clock()
    if crop.detector != "none":
        for image in images:
            detect_faces(image, crop.detector,
                         max_detection_side=crop.max_detection_side)  # fmt: skip
    detect = clock() - start
    start = clock()
    crops = crop.transform(paths)
    whole_crop = clock() - start
    gray = model.named_steps["gray"]
    start = clock()
    grays = gray.transform(crops)
    to_gray = clock() - start
    rest = model[2:]
    start = clock()
    rest.predict_proba(grays)
    network = clock() - start
    n = len(paths)
    print(f"\nCPU ms a photo ({crop.detector}, one process): decoding "
          f"{1000 * decode / n:.1f}, finding faces {1000 * detect / n:.1f}, "
          f"the cropper's whole transform (decoding, finding, cutting) "
          f"{1000 * whole_crop / n:.1f}, gray {1000 * to_gray / n:.2f}, the "
          f"network with flip averaging {1000 * network / n:.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", nargs="+", default=["yunet", "none"],
                        help="the cropper's detectors to run (default: yunet, "
                             "the ready model's, and none: the whole path "
                             "without finding faces, its ceiling)")  # fmt: skip
    args = parser.parse_args()
    from skemotion import load_image_folder, load_pretrained, pipeline_cropper
    from skemotion.prediction import iter_predict_topk

    data = shared_data()
    paths = np.concatenate([
        load_image_folder(data / "seed" / split, strip_suffix="_face",
                          on_unreadable="keep")[0]
        for split in ("train", "validation")
    ])  # fmt: skip
    model = load_pretrained()
    reference = load_pretrained(engine="tensorflow")
    for pipeline in (model, reference):
        pipeline.set_params(crop__progress=False)
    encoder = reference.named_steps["encode"]
    print(f"Machine: {machine()}")
    from skemotion.preprocessing._yunet import yunet_engine

    print(f"{len(paths)} seed photos; the ready model on {model.engine}, "
          f"tta={model.tta!r}, YuNet on {yunet_engine()}; yardstick: its encoder "
          f"on TensorFlow, precision {encoder.precision!r}\n")  # fmt: skip
    print(
        "| detector | n_jobs | tta | end to end, photos/s | yardstick: TF encoder, "
        "photos/s | compiled network alone | ratio |\n|---|---|---|---|---|---|---|"
    )
    for detector in args.detectors:
        model.set_params(crop__detector=detector)
        crop = pipeline_cropper(model)
        grays = model.named_steps["gray"].transform(crop.transform(paths))
        encoder.set_params(batch_size=64, progress=False)
        encoder.transform(grays[:64])  # builds the network and traces the batch
        yardstick = _best_rate(encoder.transform, grays)
        alone = _best_rate(model[2:].predict_proba, grays)
        for n_jobs, tta in ((1, "flip"), (2, "flip"), (2, None)):
            model.set_params(crop__n_jobs=n_jobs, tta=tta)
            # warm: the cropper's worker processes start outside the timing
            sum(1 for _ in iter_predict_topk(model, paths[:8], k=2))
            start = time.perf_counter()
            n = sum(1 for _ in iter_predict_topk(model, paths, k=2))
            whole = n / (time.perf_counter() - start)
            print(
                f"| {detector} | {n_jobs} | {tta} | {whole:.1f} | {yardstick:.1f} "
                f"| {alone:.1f} | {whole / yardstick:.2f} |",
                flush=True,
            )
        model.set_params(crop__n_jobs=1, tta="flip")
        stages(model, paths)


if __name__ == "__main__":
    main()
