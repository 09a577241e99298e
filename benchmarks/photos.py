"""Photos end to end with the ready model, against encoding their crops alone.

The path of ``skemotion predict`` on a folder (``iter_predict_topk``, which
the server's ``classify_crops`` shares): read, detect, crop, gray, encode,
classify, top-2 records, on the post's 365 seed photos, for HOG and YuNet,
with the cropper's ``n_jobs`` 1 and 2. Then the same crops, found once,
through the rest of the ready model (gray, encoder, head) alone: the bound
the whole path can reach. Photos per second of each, and the ratio.

The ready model's packaged weights; precision "auto" (bfloat16 where the CPU
has it).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/photos.py
"""

from __future__ import annotations

import time

import numpy as np
from _common import machine, shared_data


def main() -> None:
    from skemotion import load_image_folder, load_pretrained
    from skemotion.prediction import iter_predict_topk

    data = shared_data()
    paths = np.concatenate([
        load_image_folder(data / "seed" / split, strip_suffix="_face")[0]
        for split in ("train", "validation")
    ])  # fmt: skip
    model = load_pretrained()
    model.set_params(crop__progress=False, encode__progress=False)
    print(f"Machine: {machine()}")
    print(f"{len(paths)} seed photos; model: {model.named_steps['encode'].weights}\n")
    crop = model.named_steps["crop"]
    rest = model[1:]
    rest.predict_proba(crop.transform(paths[:8]))  # warm: builds the network
    print("| detector | n_jobs | end to end, photos/s | encoding alone, photos/s "
          "| ratio |\n|---|---|---|---|---|")  # fmt: skip
    for detector in ("hog", "yunet"):
        model.set_params(crop__detector=detector)
        crops = crop.set_params(n_jobs=1).transform(paths)
        alone = 0.0
        for _ in range(2):  # the best of two: the first traces this batch shape
            start = time.perf_counter()
            rest.predict_proba(crops)
            alone = max(alone, len(paths) / (time.perf_counter() - start))
        for n_jobs in (1, 2):
            model.set_params(crop__n_jobs=n_jobs)
            start = time.perf_counter()
            n = sum(1 for _ in iter_predict_topk(model, paths, k=2))
            whole = n / (time.perf_counter() - start)
            print(f"| {detector} | {n_jobs} | {whole:.1f} | {alone:.1f} | "
                  f"{whole / alone:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
