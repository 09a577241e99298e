"""Predict and encode on a real Dask cluster: a LocalCluster of 2 worker
processes, 1 thread each, on real images."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# the dask extra is installed by the README's command: a missing Dask fails
from distributed import Client, LocalCluster

from skemotion import (
    iter_predict_proba,
    load_image_folder,
    make_emotion_pipeline,
    save_model,
)
from skemotion.cli import main
from skemotion.distributed import encode_to_cache, predict_files
from skemotion.distributed._plugin import load_counts
from skemotion.pretrained import pretrained_digest

FER2013 = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


@pytest.fixture(scope="module")
def cluster():
    local = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with local, Client(local) as client:
        yield client


@pytest.fixture(scope="module")
def images(seed_dir):
    paths, labels = load_image_folder(
        seed_dir / "train", strip_suffix="_face", on_unreadable="keep"
    )
    keep = np.concatenate([np.flatnonzero(labels == c)[:4] for c in np.unique(labels)])
    return [str(p) for p in paths[keep]], labels[keep]


@pytest.fixture(scope="module")
def model_file(images, tmp_path_factory):
    paths, labels = images
    pipe = make_emotion_pipeline(
        crop__size=32, crop__progress=False, encode__weights=None,
        encode__random_state=0, encode__pooling="avg", encode__progress=False,
        encode__precision="float32", classify__epochs=2, classify__random_state=0,
        classify__progress=False, classify__precision="float32",
    ).fit(paths, labels)  # fmt: skip
    return save_model(pipe, tmp_path_factory.mktemp("model") / "model.joblib"), pipe


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("path").reset_index(drop=True)


def test_results_equal_single_process_predict(cluster, images, model_file, tmp_path):
    paths, _ = images
    path, pipe = model_file
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not a photo")
    batch = [*paths, str(bad)]
    run = predict_files(path, batch, tmp_path / "out", client=cluster,
                        partition_size=5, top_k=2)  # fmt: skip
    assert run.n_partitions == 5 and run.n_skipped == 0 and run.n_errors == 1
    frame = run.results.compute()
    assert list(frame["path"]) == batch  # one row per image, in input order
    errors = frame.set_index("path")["error"]
    assert (
        errors[str(bad)].startswith("not an image file")
        or "corrupt" in errors[str(bad)]
    )
    assert errors.drop(str(bad)).isna().all()
    single = {p.path: p for p in iter_predict_proba(pipe, paths, skip_bad=True)}
    classes = [str(c) for c in pipe.classes_]
    for row in frame.iloc[:-1].itertuples():
        expected = single[row.path]
        got = np.array([getattr(row, f"proba_{c}") for c in classes])
        np.testing.assert_allclose(got, expected.proba[0], rtol=1e-5, atol=1e-6)
        assert row.label_1 == classes[int(np.argmax(expected.proba[0]))]
        box = [row.face_left, row.face_top, row.face_right, row.face_bottom]
        assert box == expected.boxes[0].tolist()
        assert bool(row.face_found) is expected.face_found  # False: whole image
    assert pd.isna(frame["face_found"].iloc[-1])  # a bad file: not known
    # every worker process loaded the model once, whatever the partitions
    again = predict_files(path, paths, tmp_path / "again", client=cluster,
                          partition_size=3)  # fmt: skip
    assert again.n_partitions == 8
    counts = cluster.run(load_counts)
    assert len(counts) == 2
    assert all(list(c.values()) == [1] for c in counts.values())


def test_ready_model_on_the_cluster(cluster, images, tmp_path):
    """No model file: every worker loads the ready model once, from its own
    skemotion, and predicts what one process predicts."""
    from skemotion.pretrained import load_pretrained

    paths = images[0][:4]
    run = predict_files(None, paths, tmp_path / "ready", client=cluster,
                        partition_size=2)  # fmt: skip
    frame = run.results.compute()
    assert list(frame["path"]) == paths and frame["error"].isna().all()
    probas = [c for c in frame.columns if c.startswith("proba_")]
    assert probas == [f"proba_{c}" for c in FER2013]
    single = {p.path: p for p in iter_predict_proba(load_pretrained(), paths)}
    for row in frame.itertuples():
        got = np.array([getattr(row, c) for c in probas])
        np.testing.assert_allclose(got, single[row.path].proba[0], atol=1e-5)
    record = json.loads((tmp_path / "ready" / "_skemotion_run.json").read_text())
    digest = f"{pretrained_digest()}-litert"  # the client's default engine
    assert record["model_sha256"] == digest and digest.startswith("ready-")
    counts = cluster.run(load_counts)
    assert [c[digest] for c in counts.values()] == [1, 1]


def test_ready_model_on_the_engine_named(cluster, images, model_file, tmp_path):
    """engine="tensorflow": every worker runs the Keras networks, as one
    process does; the run is another run than the compiled engine's, and an
    engine given with a model file is refused before any work."""
    from skemotion.pretrained import load_pretrained

    paths = images[0][:2]
    out = tmp_path / "keras"
    run = predict_files(None, paths, out, client=cluster, engine="tensorflow")
    frame = run.results.compute()
    probas = [c for c in frame.columns if c.startswith("proba_")]
    single = {p.path: p for p in iter_predict_proba(
        load_pretrained(engine="tensorflow"), paths)}  # fmt: skip
    for row in frame.itertuples():
        got = np.array([getattr(row, c) for c in probas])
        np.testing.assert_allclose(got, single[row.path].proba[0], atol=1e-4)
    record = json.loads((out / "_skemotion_run.json").read_text())
    assert record["model_sha256"] == f"{pretrained_digest()}-tensorflow"
    with pytest.raises(ValueError, match="holds the results of another run"):
        predict_files(None, paths, out, client=cluster, engine="litert")
    with pytest.raises(ValueError, match="chooses what runs the ready model"):
        predict_files(model_file[0], paths, tmp_path / "x", client=cluster,
                      engine="litert")  # fmt: skip


def test_rerun_resumes_and_refuses_another_run(cluster, images, model_file, tmp_path):
    paths, _ = images
    path, _ = model_file
    out = tmp_path / "out"
    first = predict_files(path, paths, out, client=cluster, partition_size=6)
    done = {f: f.stat().st_mtime_ns for f in first.files}
    first.files[1].unlink()  # as if the run had stopped before partition 1
    time.sleep(0.01)
    second = predict_files(path, paths, out, client=cluster, partition_size=6)
    assert second.n_skipped == len(first.files) - 1
    assert [f.stat().st_mtime_ns for f in first.files if f != first.files[1]] == [
        done[f] for f in first.files if f != first.files[1]
    ]
    pd.testing.assert_frame_equal(second.results.compute(), first.results.compute())
    with pytest.raises(ValueError, match="another run"):
        predict_files(path, paths[:-1], out, client=cluster, partition_size=6)


def test_a_killed_worker_loses_nothing(cluster, images, model_file, tmp_path):
    """Kill a worker's process in the middle of a run: the run completes with
    every row, identical to an undisturbed run."""
    paths, _ = images
    path, _ = model_file
    calm = predict_files(path, paths, tmp_path / "calm", client=cluster,
                         partition_size=2).results.compute()  # fmt: skip
    out = tmp_path / "killed"
    pids = cluster.run(os.getpid)
    victim = next(iter(pids.values()))
    result = {}

    def run():
        result["run"] = predict_files(path, paths, out, client=cluster,
                                      partition_size=2)  # fmt: skip

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 120
    while not list(out.glob("part-*.parquet")) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(victim, signal.SIGKILL)  # mid-run: some partitions done, some not
    thread.join(timeout=300)
    assert "run" in result, "the run did not complete"
    killed = result["run"].results.compute()
    assert len(killed) == len(paths)
    pd.testing.assert_frame_equal(killed, calm)
    assert victim not in cluster.run(os.getpid).values()  # it really died


@pytest.mark.slow
def test_grid_search_on_the_cluster_encodes_each_image_once(cluster, images, tmp_path):
    """encode_to_cache fills the shared cache from the workers; a grid search
    run on the cluster (joblib's dask backend) then encodes nothing again."""
    import joblib
    from sklearn.model_selection import GridSearchCV

    paths, labels = images
    cache = tmp_path / "cache"
    pipe = make_emotion_pipeline(
        memory=cache, crop__size=32, crop__progress=False, encode__weights=None,
        encode__random_state=0, encode__pooling="avg", encode__progress=False,
        classify__epochs=1, classify__random_state=0, classify__progress=False,
    )  # fmt: skip
    assert encode_to_cache(pipe, paths, client=cluster, partition_size=6) == len(paths)
    files = sorted((cache / "vgg16").rglob("*.npz"))
    n_unique = len({Path(p).read_bytes() for p in paths})
    assert len(files) == n_unique
    written = {f: f.stat().st_mtime_ns for f in files}
    grid = GridSearchCV(pipe, {"classify__learning_rate": [1e-3, 1e-2]}, cv=2, n_jobs=2)
    with joblib.parallel_config(backend="dask"):
        grid.fit(paths, labels)
    after = sorted((cache / "vgg16").rglob("*.npz"))
    assert after == files  # nothing new encoded...
    assert {f: f.stat().st_mtime_ns for f in after} == written  # ...or rewritten
    assert len(grid.cv_results_["params"]) == 2


@pytest.mark.slow
def test_cli_predict_on_a_local_cluster(images, model_file, tmp_path, capsys):
    paths, _ = images
    path, _ = model_file
    out = tmp_path / "cli"
    argv = ["predict", *paths[:6], "--model", str(path), "--output", str(out),
            "--local-cluster", "2", "--partition-size", "3", "-q"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "6 images in 2 partitions (0 found done)" in text
    frame = pd.read_parquet(out)
    assert sorted(frame["path"]) == sorted(paths[:6])
    assert main(argv) == 0  # the same command again resumes: nothing to do
    assert "(2 found done)" in capsys.readouterr().out
    assert main(["predict", paths[0], "--local-cluster", "2"]) == 2
    assert "need --output" in capsys.readouterr().err
    shutil.rmtree(out)
