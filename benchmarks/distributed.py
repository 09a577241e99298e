"""Prediction on a Dask cluster vs the single-process streaming predict.

The same files, the same fitted model (seeded random weights: speed does not
depend on them), in one run:

* single process: ``iter_predict_proba(model, paths)`` (the streaming engine
  ``skemotion predict`` uses), with the cropper's own 2 worker processes;
* a ``LocalCluster`` of 2 worker processes, 1 thread each:
  ``skemotion.distributed.predict_files`` (model loaded once per worker,
  Parquet files written), timed after the model is loaded.

Also measured: the scheduler's cost per partition (a task that does nothing,
submitted and gathered), and the bytes each image moves (its file read by a
worker, its share of the result files; the model file once per worker).
From these figures, a model of the cost at scale, printed at the end.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/distributed.py \\
        [--n 240] [--n-fer 960]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the `distributed` package it uses: move its folder
# from the front of the import path to the back, so that `distributed` is
# the package while `_common` is still found here.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
sys.path.append(_HERE)

import numpy as np  # noqa: E402
from _common import machine, shared_data  # noqa: E402


def _model(paths, labels, size: int, detector: str, work: Path) -> Path:
    from skemotion import make_emotion_pipeline, save_model

    pipe = make_emotion_pipeline(
        crop__size=size,
        crop__detector=detector,
        crop__progress=False,
        encode__weights=None,
        encode__random_state=0,
        encode__progress=False,
        classify__epochs=1,
        classify__random_state=0,
        classify__progress=False,
    )
    # 24 images spread over the folders (the paths are sorted by label), so
    # that the model has every class
    some = np.linspace(0, len(paths) - 1, 24).astype(int)
    pipe.fit(np.asarray(paths)[some], np.asarray(labels)[some])
    return save_model(pipe, work / f"model-{size}.joblib")


def _single(model_file: Path, paths) -> float:
    from skemotion import iter_predict_proba, load_model

    model = load_model(model_file)
    model.set_params(crop__n_jobs=2)
    list(iter_predict_proba(model, paths[:8], skip_bad=True))  # warm up
    t = time.perf_counter()
    n = sum(1 for _ in iter_predict_proba(model, paths, skip_bad=True))
    return n / (time.perf_counter() - t)


def _cluster(client, model_file: Path, paths, work: Path, size: int) -> dict:
    from skemotion.distributed import predict_files

    # load the model on both workers first (a 2-image run), then time
    predict_files(
        model_file, paths[:2], work / f"warm-{size}", client=client, partition_size=1
    )
    out = work / f"out-{size}"
    t = time.perf_counter()
    run = predict_files(model_file, paths, out, client=client)
    wall = time.perf_counter() - t
    result_bytes = sum(f.stat().st_size for f in run.files)
    return {
        "ips": len(paths) / wall,
        "wall": wall,
        "partitions": run.n_partitions,
        "busy": sum(run.partition_seconds),
        "result_bytes": result_bytes,
    }


def _task_overhead(client, n: int = 200) -> float:
    """Seconds per no-op task, submitted and gathered through the scheduler."""
    futures = client.map(lambda i: i, range(20), pure=False)
    client.gather(futures)
    t = time.perf_counter()
    client.gather(client.map(lambda i: i, range(n), pure=False))
    return (time.perf_counter() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=240, help="seed photos (224x224)")
    parser.add_argument(
        "--n-fer", type=int, default=960,
        help="FER2013 crops (48x48): more, since each costs 40x less",
    )  # fmt: skip
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    from skemotion import load_image_folder

    data = shared_data()
    seed, seed_labels = load_image_folder(data / "seed" / "train", strip_suffix="_face")
    fer, fer_labels = load_image_folder(data / "fer2013" / "test")
    pick = np.random.default_rng(0).permutation(len(fer))[: args.n_fer]
    cases = [
        (
            "seed photos, HOG, 224x224",
            seed[: args.n],
            seed_labels[: args.n],
            224,
            "hog",
        ),
        ("FER2013 crops, 48x48", fer[pick], fer_labels[pick], 48, "none"),
    ]
    work = Path(tempfile.mkdtemp(prefix="skemotion-dist-"))
    print(f"Machine: {machine()}; work folder {work}\n")
    rows = []
    local = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with local, Client(local) as client:
        overhead = _task_overhead(client)
        for name, paths, labels, size, detector in cases:
            model_file = _model(paths, labels, size, detector, work)
            single = _single(model_file, list(paths))
            cluster = _cluster(client, model_file, list(paths), work, size)
            file_bytes = np.mean([os.path.getsize(p) for p in paths])
            rows.append(
                (
                    name,
                    len(paths),
                    single,
                    cluster,
                    file_bytes,
                    model_file.stat().st_size,
                )
            )
    print(
        f"scheduler round trip per task (no-op, 200 tasks): {1000 * overhead:.1f} ms\n"
    )
    print(
        "| images | n | single process | 2-worker LocalCluster | cluster / single "
        "| partitions | scheduler cost per partition | image bytes read | result "
        "bytes per image | model bytes per worker |"
    )
    print("|---" * 10 + "|")
    for name, n, single, cluster, file_bytes, model_bytes in rows:
        share = overhead / (cluster["wall"] / cluster["partitions"])
        print(
            f"| {name} | {n} | {single:.1f}/s | {cluster['ips']:.1f}/s | "
            f"**{cluster['ips'] / single:.2f}** | {cluster['partitions']} | "
            f"{1000 * overhead:.1f} ms ({share:.2%} of a partition) | "
            f"{file_bytes / 1024:.0f} KiB | "
            f"{cluster['result_bytes'] / n:.0f} B | {model_bytes / 2**20:.0f} MiB |"
        )
    # the cost at scale, from the 224x224 photo case (the heavy one)
    name, n, single, cluster, file_bytes, model_bytes = rows[0]
    per_core = cluster["ips"] / 2
    total = 10_000_000
    core_hours = total / per_core / 3600
    print("\nCost at scale, from the 224x224 photos (HOG + VGG16) on this machine:")
    print(f"* {per_core:.2f} images/s per worker core")
    print(
        f"* per image: {file_bytes / 1024:.0f} KiB read from the shared file system, "
        f"{cluster['result_bytes'] / n:.0f} bytes of results written, about 100 bytes "
        "of path sent by the scheduler; the model once per worker"
    )
    print(
        f"* 10 million photos: {core_hours:,.0f} core-hours; on 100 workers of 8 "
        f"cores: {core_hours / 800:.1f} hours"
    )
    fs_limit = 1e9 / file_bytes  # images/s a 1 GB/s shared file system serves
    sched_limit = 1 / overhead * 64  # tasks/s the scheduler handles x 64 images
    print(
        f"* a 1 GB/s shared file system serves {fs_limit:,.0f} images/s: "
        f"{fs_limit / per_core:,.0f} worker cores before it limits"
    )
    print(
        f"* the scheduler handles about {1 / overhead:,.0f} tasks/s; with 64 images "
        f"per partition, {sched_limit:,.0f} images/s: {sched_limit / per_core:,.0f} "
        "worker cores before it limits"
    )


if __name__ == "__main__":
    main()
