"""Predict, and fill the feature cache, on a Dask cluster, partition by partition."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .._io import atomic_path, file_sha256, strings_sha256
from .._progress import progress_enabled
from ..datasets import check_paths
from ..prediction import check_engine_choice, face_columns, face_values
from ._plugin import ModelPlugin, limit_threads, worker_model

__all__ = ["PredictionRun", "encode_to_cache", "predict_files"]

logger = logging.getLogger(__name__)

#: The run's record in the output folder: what a rerun must match to resume.
RUN_FILE = "_skemotion_run.json"
_RUN_FORMAT = 2  # 2: the face_found column


def _client(client):
    if client is not None:
        return client
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        raise ValueError(
            "no Dask client: start one first, e.g. "
            "`from distributed import Client, LocalCluster; "
            "client = Client(LocalCluster(n_workers=2, threads_per_worker=1))`, "
            "or pass client=..."
        ) from None


def _partition_size(n_paths: int, n_workers: int, partition_size: int | None) -> int:
    if partition_size is not None:
        if partition_size < 1:
            raise ValueError(f"partition_size must be at least 1, got {partition_size}")
        return int(partition_size)
    # about 4 partitions per worker, so that a slow or lost one costs little
    return int(min(512, max(8, math.ceil(n_paths / (4 * max(n_workers, 1))))))


def _worker_plugin(model, engine: str | None) -> ModelPlugin:
    """What every worker loads: the model file (None: the ready model), its
    sha256 (for the ready model its records' digest and engine), and the
    ready model's engine, named here so that every worker runs the same one."""
    check_engine_choice(model, engine)
    if model is None:
        from ..pretrained import pretrained_digest, ready_engine

        engine = ready_engine(engine)
        return ModelPlugin(None, pretrained_digest(engine), engine)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"model must be a model file, got a {type(model).__name__}: save it "
            "with skemotion.save_model(model, PATH) on a file system every "
            "worker reads, and pass PATH (workers load it once each), or pass "
            "None for the ready model"
        )
    path = Path(os.fspath(model)).resolve()
    if not path.is_file():
        raise ValueError(f"{path}: model file does not exist")
    return ModelPlugin(str(path), file_sha256(path))


def columns(classes, top_k: int) -> list[str]:
    """The columns of every result file, in order."""
    return ["path", *face_columns(classes, top_k), "error"]


def _partition_frame(predictions, classes: list[str], top_k: int):
    """One row per image (its largest face, or its error), typed alike in
    every file, errors or not."""
    import pandas as pd

    rows = []
    for prediction in predictions:
        row = dict.fromkeys(columns(classes, top_k))
        row["path"] = prediction.path
        row["error"] = prediction.error
        if prediction.error is None:
            row.update(face_values(prediction.boxes[0], prediction.proba[0],
                                   classes, top_k,
                                   face_found=prediction.face_found))  # fmt: skip
        rows.append(row)
    frame = pd.DataFrame(rows, columns=columns(classes, top_k))
    for name in frame.columns:  # the same types in every file, errors or not
        if name == "face_found":
            frame[name] = frame[name].astype("boolean")
        elif name.startswith("face_"):
            frame[name] = frame[name].astype("Int64")
        elif name.startswith(("probability_", "proba_")):
            frame[name] = frame[name].astype("float64")
        else:
            frame[name] = frame[name].astype("string")
    return frame


def _predict_partition(plugin_name: str, paths: list[str], out_file: str,
                       top_k: int) -> dict:  # fmt: skip
    """A worker's task: predict a partition, write its Parquet file."""
    from distributed import get_worker

    from ..prediction import iter_predict_proba

    started = time.perf_counter()
    model = worker_model(plugin_name)
    classes = [str(c) for c in model.classes_]
    predictions = iter_predict_proba(model, paths, skip_bad=True)
    frame = _partition_frame(predictions, classes, top_k)
    with atomic_path(out_file, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    return {
        "rows": len(frame), "errors": int(frame["error"].notna().sum()),
        "seconds": time.perf_counter() - started, "worker": get_worker().address,
        "pid": os.getpid(),
    }  # fmt: skip


@dataclass
class PredictionRun:
    """What :func:`predict_files` did (``results`` holds what it found).

    Attributes
    ----------
    results : dask.dataframe.DataFrame
        Every image's row, read lazily from the partition files.
    output_dir : pathlib.Path
    files : list of pathlib.Path
        One Parquet file per partition, in input order.
    n_images, n_partitions, n_skipped : int
        Images, partitions, and partitions found done already (resumed).
    n_errors : int
        Images that could not be used, in the partitions computed this time.
    seconds : float
        Wall time of the call.
    partition_seconds : list of float
        Time each partition computed this time took on its worker.
    """

    results: object
    output_dir: Path
    files: list[Path]
    n_images: int
    n_partitions: int
    n_skipped: int
    n_errors: int
    seconds: float
    partition_seconds: list[float] = field(default_factory=list)


def _run_record(digest: str, top_k: int, size: int, paths: list[str]) -> dict:
    """What a rerun must match to resume: the model, images, top_k and size."""
    return {
        "format": _RUN_FORMAT, "model_sha256": digest, "top_k": int(top_k),
        "partition_size": size, "n_paths": len(paths),
        "paths_sha256": strings_sha256(paths),
    }  # fmt: skip


def _check_run(output_dir: Path, record: dict) -> None:
    """Write the run's record, or check that a rerun is the same run."""
    run_file = output_dir / RUN_FILE
    if run_file.exists():
        try:
            found = json.loads(run_file.read_text())
        except (OSError, ValueError):
            found = None
        if found != record:
            raise ValueError(
                f"{output_dir} holds the results of another run (another model, "
                "image list, top_k or partition size); use another folder, or "
                "delete it to start over"
            )
        return
    with atomic_path(run_file, suffix=".json") as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))


def predict_files(
    model,
    paths,
    output_dir,
    client=None,
    partition_size: int | None = None,
    top_k: int = 2,
    *,
    engine: str | None = None,
    progress: bool | None = None,
) -> PredictionRun:
    """Predict the emotion of many image files on a Dask cluster.

    The paths are split into partitions; each worker reads, detects, crops,
    encodes and classifies a partition with the model it loaded once (a
    :class:`ModelPlugin`, not a copy shipped with every task) and writes one
    Parquet file. Nothing but a few numbers per partition comes back to the
    client: the results are returned as a Dask DataFrame over the files.

    Bad files become rows with an ``error``, never a failed partition. A
    worker that dies loses nothing: its partitions run again elsewhere and
    write the same files. A rerun with the same output folder skips the
    partitions already written (resume); the folder's ``_skemotion_run.json``
    makes sure it is the same run.

    Parameters
    ----------
    model : str, os.PathLike or None
        A model file from :func:`~skemotion.save_model`, on a file system
        every worker reads; None: the ready model
        (:func:`~skemotion.load_pretrained`, FER2013's seven classes), which
        each worker loads from its own skemotion installation.
    paths : array-like of str
        Image files, readable by every worker.
    output_dir : str or os.PathLike
        Folder of the result files, shared by the workers and the client.
    client : distributed.Client, optional
        Default: the current client.
    partition_size : int, optional
        Images per partition; default: about 4 partitions per worker, between
        8 and 512 images each.
    top_k : int, default=2
        Ranked labels per image (every class's probability is there too).
    engine : {"litert", "tensorflow"} or None, default=None
        What runs the ready model on every worker (see
        :func:`~skemotion.load_pretrained`); None: the one this process
        would use. A model file runs on its own.
    progress : bool or None, default=None
        A bar over partitions; None: when stderr is a terminal.

    Returns
    -------
    run : PredictionRun
        ``run.results`` is the Dask DataFrame: columns ``path``,
        ``face_found`` (False: no face was found, and the whole image was
        classified), the face box (``face_left``, ``face_top``,
        ``face_right``, ``face_bottom``: the largest face, or the whole
        image), ``label_1``... ``label_k``, ``probability_1``...,
        ``proba_<class>`` for every class, and ``error``.

    Raises
    ------
    ValueError
        Without a client, when ``output_dir`` holds another run (another
        model, engine, images or ``top_k``), or an engine is given with a
        model file.
    TypeError
        If ``model`` is not a file (nor None).
    """
    import dask.dataframe as dd

    started = time.perf_counter()
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    client = _client(client)
    paths = check_paths(paths)
    output_dir = Path(os.fspath(output_dir)).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    plugin = _worker_plugin(model, engine)
    size, parts = _partitions(client, paths, output_dir, partition_size)
    _check_run(output_dir, _run_record(plugin.sha256, top_k, size, paths))
    client.register_plugin(plugin, name=plugin.name)
    todo = [part for part in parts if not part.file.exists()]
    stats = _run_partitions(client, plugin, todo, top_k, progress)
    logger.info("%d partitions computed, %d found done", len(todo),
                len(parts) - len(todo))  # fmt: skip
    return PredictionRun(
        results=dd.read_parquet([str(part.file) for part in parts]),
        output_dir=output_dir, files=[part.file for part in parts],
        n_images=len(paths), n_partitions=len(parts),
        n_skipped=len(parts) - len(todo), n_errors=sum(s["errors"] for s in stats),
        seconds=time.perf_counter() - started,
        partition_seconds=[s["seconds"] for s in stats],
    )  # fmt: skip


class _Partition(NamedTuple):
    """One task of :func:`predict_files`: its images, and the file it writes."""

    number: int
    paths: list[str]
    file: Path


def _partitions(client, paths: list[str], output_dir: Path, partition_size: int | None):
    """The partition size, and the partitions in input order."""
    n_workers = len(client.scheduler_info()["workers"])
    size = _partition_size(len(paths), n_workers, partition_size)
    return size, [
        _Partition(n, paths[i : i + size], output_dir / f"part-{n:05d}.parquet")
        for n, i in enumerate(range(0, len(paths), size))
    ]


def _run_partitions(
    client,
    plugin: ModelPlugin,
    todo: list[_Partition],
    top_k: int,
    progress: bool | None,
) -> list[dict]:
    """Compute the partitions on the workers; their stats, as they finish."""
    from distributed import as_completed

    futures = [
        client.submit(
            _predict_partition,
            plugin.name,
            part.paths,
            str(part.file),
            int(top_k),
            key=f"skemotion-predict-{plugin.sha256[:12]}-{part.number:05d}",
            pure=False,
        )
        for part in todo
    ]
    bar = None
    if progress_enabled(progress) and futures:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(futures), desc="Partitions", unit="part", leave=False)
    stats = []
    for future in as_completed(futures):
        stats.append(future.result())
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return stats


#: Fitted image steps kept per worker process, by their parameters' hash.
_IMAGE_STEPS: dict = {}


def _encode_partition(image_steps, paths: list[str], n_threads: int) -> int:
    """A worker's task: crop and encode a partition into the feature cache."""
    import joblib
    from sklearn.base import clone

    limit_threads(n_threads)
    key = joblib.hash(image_steps.get_params())
    fitted = _IMAGE_STEPS.get(key)
    if fitted is None:  # the first partition of this worker builds the network
        fitted = clone(image_steps)
        fitted.fit_transform(paths)  # the features land in the cache
        _IMAGE_STEPS[key] = fitted
    else:
        fitted.transform(paths)
    return len(paths)


def encode_to_cache(pipeline, paths, client=None, partition_size: int | None = None,
                    *, progress: bool | None = None) -> int:  # fmt: skip
    """Detect, crop and encode images on a cluster into the pipeline's cache.

    Afterwards a ``fit``, ``cross_val_score`` or ``GridSearchCV`` of the same
    pipeline, on any machine that reads the cache folder, finds every image
    encoded: nothing is detected or encoded again.

    Parameters
    ----------
    pipeline : EmotionPipeline
        From :func:`~skemotion.make_emotion_pipeline` with ``memory=FOLDER``
        (``crop__memory`` and ``encode__memory``): a folder every worker
        reads and writes (a shared file system). Concurrent writers are safe:
        each file is written under a temporary name and renamed, so a reader
        sees a whole file or none, and two workers writing the same image
        write the same bytes.
    paths : array-like of str
    client : distributed.Client, optional
    partition_size : int, optional
        Images per task (default: about 4 per worker, 8 to 512).
    progress : bool or None, default=None

    Returns
    -------
    n_images : int
        Images encoded or found in the cache.

    Raises
    ------
    ValueError
        If the pipeline has no feature cache.
    """
    from distributed import as_completed

    image_steps = pipeline[:-1]
    params = image_steps.get_params()
    if params.get("crop__memory") is None or params.get("encode__memory") is None:
        raise ValueError(
            "the pipeline has no feature cache to fill: make it with "
            "make_emotion_pipeline(memory=FOLDER), FOLDER on a file system "
            "every worker reads"
        )
    client = _client(client)
    paths = check_paths(paths)
    workers = client.scheduler_info()["workers"]
    size = _partition_size(len(paths), len(workers), partition_size)
    threads = max(1, min(w.get("nthreads", 1) for w in workers.values()))
    futures = client.map(
        _encode_partition,
        [image_steps] * math.ceil(len(paths) / size),
        [paths[i : i + size] for i in range(0, len(paths), size)],
        [threads] * math.ceil(len(paths) / size), pure=False,
    )  # fmt: skip
    done = 0
    show = progress_enabled(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), desc="Encoding", unit="img", leave=False)
    for future in as_completed(futures):
        n = future.result()
        done += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    return done
