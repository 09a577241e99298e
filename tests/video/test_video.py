"""Emotion over time in videos the tests make from real face photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from video_files import FPS, W, write_video

from skemotion import FaceCropper, VideoError, save_model
from skemotion.cli import main
from skemotion.video import BoxTracker, predict_video
from skemotion.video._reader import VideoInfo, sampled_frames


@pytest.fixture(scope="module")
def faces(face_count_dir):
    """Two real faces, as 120x120 patches (the detector finds them in frames)."""
    paths = [face_count_dir / "single_face" / "facerec_obama.jpg",
             face_count_dir / "single_face" / "skimage_astronaut.png"]  # fmt: skip
    crops = FaceCropper(size=120, margin=0.6).transform([str(p) for p in paths])
    return [cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in crops]


@pytest.fixture(scope="module")
def moving(faces, tmp_path_factory) -> Path:
    """30 frames: one face moving right; gone for frames 12-14, back after."""
    frames = [[] if 12 <= i <= 14 else [(faces[0], 20 + 10 * i, 100)]
              for i in range(30)]  # fmt: skip
    return write_video(tmp_path_factory.mktemp("v") / "moving.avi", frames)


@pytest.fixture(scope="module")
def crossing(faces, tmp_path_factory) -> Path:
    """24 frames: two faces crossing paths, one above the other."""
    frames = [[(faces[0], 10 + 14 * i, 20), (faces[1], W - 130 - 14 * i, 180)]
              for i in range(24)]  # fmt: skip
    return write_video(tmp_path_factory.mktemp("v") / "crossing.avi", frames)


@pytest.fixture(scope="module")
def model_file(tiny_model, tmp_path_factory) -> Path:
    return save_model(tiny_model, tmp_path_factory.mktemp("m") / "tiny.joblib")


def test_sampling_timestamps_and_schema(model_file, moving, tmp_path, tiny_model):
    out = tmp_path / "every3.csv"
    result = predict_video(model_file, moving, out, every=3, top_k=2)
    table = pd.read_csv(out)
    assert result.n_frames == 10  # frames 0, 3, ..., 27
    assert set(table["frame"]) == {0, 3, 6, 9, 15, 18, 21, 24, 27}  # 12: no face
    np.testing.assert_allclose(table["time"], table["frame"] / FPS, atol=1e-3)
    assert table["time"].is_monotonic_increasing
    classes = [str(c) for c in tiny_model.classes_]
    assert list(table.columns) == [
        "frame", "time", "track", "face_found", "face_left", "face_top",
        "face_right", "face_bottom", "label_1", "label_2", "probability_1",
        "probability_2", *[f"proba_{c}" for c in classes],
    ]  # fmt: skip
    # every row is a face found; the sampled frame without one (12) has no
    # row, and the run says how many such frames there were
    assert table["face_found"].tolist() == [True] * len(table)
    assert result.n_frames_without_face == result.n_frames - table["frame"].nunique()
    assert result.n_frames_without_face == 1
    np.testing.assert_allclose(table[[f"proba_{c}" for c in classes]].sum(axis=1),
                               1, rtol=1e-4)  # fmt: skip
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["video_fps"] == FPS and sidecar["video_frame_count"] == 30
    assert sidecar["sampling"]["every"] == 3
    import hashlib

    assert (
        sidecar["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    )
    assert sidecar["progress"]["complete"] is True
    assert sidecar["progress"]["frames_without_face"] == 1
    # by time: 5 frames a second of a 10 fps video, from 1.0 s to 2.0 s
    by_time = predict_video(model_file, moving, tmp_path / "fps.csv", fps=5,
                            start=1.0, end=2.0)  # fmt: skip
    frames = sorted(set(pd.read_csv(by_time.output)["frame"]))
    assert frames == [10, 16, 18, 20]  # 10, (12, 14: no face), 16, 18, 20
    capped = predict_video(model_file, moving, tmp_path / "cap.csv", max_frames=4)
    assert capped.n_frames == 4


def test_tracks_follow_each_person(model_file, moving, crossing, tmp_path):
    table = predict_video(model_file, moving, tmp_path / "m.csv").read()
    assert table["track"].nunique() == 1  # a 3-frame gap keeps the same id
    table = predict_video(model_file, crossing, tmp_path / "c.parquet").read()
    assert table["track"].nunique() == 2
    for _, rows in table.groupby("track"):
        # each person keeps their row of the frame, and moves one way only
        assert rows["face_top"].max() - rows["face_top"].min() < 60
        steps = np.sign(np.diff(rows.sort_values("frame")["face_left"]))
        assert len(set(steps[steps != 0])) == 1
    assert table.groupby("frame").size().max() == 2


def test_tracker_thresholds():
    tracker = BoxTracker(max_missed=1)
    assert tracker.update([[0, 0, 10, 10]]) == [0]
    assert tracker.update([[1, 0, 11, 10], [50, 50, 60, 60]]) == [0, 1]
    assert tracker.update([]) == []
    assert tracker.update([]) == []  # track 0 and 1 missed twice: ended
    assert tracker.update([[1, 0, 11, 10]]) == [2]


def test_timestamps_come_from_the_frames():
    """A variable frame rate: the frames' own timestamps, never the declared
    fps, decide times and sampling by fps."""

    class Capture:  # what OpenCV gives for a variable-frame-rate file
        stamps = [0.0, 0.05, 0.3, 0.31, 0.9, 1.0, 1.01]

        def __init__(self):
            self.i = -1

        def grab(self):
            self.i += 1
            return self.i < len(self.stamps)

        def get(self, prop):
            if prop == cv2.CAP_PROP_POS_FRAMES:
                return self.i + 1
            return self.stamps[self.i] * 1000

        def retrieve(self):
            return True, np.zeros((4, 4, 3), np.uint8)

        def set(self, *args):
            return True

    info = VideoInfo("vfr.mp4", fps=30.0, frame_count=7, width=4, height=4)
    got = [(i, t) for i, t, _ in sampled_frames(Capture(), info, fps=4)]
    # one frame per quarter second of video time: slots 0, 1, 3, 4
    assert got == [(0, 0.0), (2, 0.3), (4, 0.9), (5, 1.0)]


def test_resume_gives_the_rows_of_an_uninterrupted_run(
    model_file, crossing, tmp_path, monkeypatch
):
    from skemotion.video import _video

    whole = predict_video(model_file, crossing, tmp_path / "whole.csv",
                          batch_frames=4).read()  # fmt: skip
    out = tmp_path / "cut.csv"
    original = _video._Table.append
    calls = []

    def append_then_stop(self, rows):
        original(self, rows)
        calls.append(len(rows))
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C after the third batch

    monkeypatch.setattr(_video._Table, "append", append_then_stop)
    with pytest.raises(KeyboardInterrupt):
        predict_video(model_file, crossing, out, batch_frames=4)
    monkeypatch.setattr(_video._Table, "append", original)
    resumed = predict_video(model_file, crossing, out, batch_frames=4, resume=True)
    # two batches (frames 0-7) were recorded as done; the third was written to
    # the table but stopped before it was recorded: its rows are dropped and
    # redone, never duplicated
    assert resumed.resumed_after == 7
    assert resumed.n_frames == 16  # frames 8-23
    pd.testing.assert_frame_equal(resumed.read(), whole)
    with pytest.raises(VideoError, match="another run"):
        predict_video(model_file, crossing, out, batch_frames=4, resume=True, every=2)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("text.mp4", b"just some text, not a video at all" * 20, "not a video"),
        ("empty.mp4", b"", "empty"),
        ("missing.mp4", None, "does not exist"),
    ],
)
def test_bad_videos_are_one_clear_error(model_file, tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=f"{name}: .*{match}"):
        predict_video(model_file, path, tmp_path / "out.csv")


def test_truncated_and_faceless_videos(model_file, faces, moving, tmp_path):
    # an MP4 cut in half has lost its index: an error naming it
    mp4 = write_video(tmp_path / "whole.mp4", [[(faces[0], 50, 50)]] * 10, "mp4v")
    data = mp4.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"cut\.mp4: not a video OpenCV can read"):
        predict_video(model_file, tmp_path / "cut.mp4", tmp_path / "o.csv")
    # an AVI cut short: the frames it still holds
    data = moving.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: int(len(data) * 0.6)])
    cut = predict_video(model_file, tmp_path / "cut.avi", tmp_path / "cut.csv")
    assert 5 <= cut.n_frames < 30
    # no face at all: an empty table with its columns
    blank = write_video(tmp_path / "blank.avi", [[]] * 8)
    result = predict_video(model_file, blank, tmp_path / "blank.csv")
    table = result.read()
    assert result.n_frames == 8 and len(table) == 0
    assert result.n_frames_without_face == 8
    assert list(table.columns)[:3] == ["frame", "time", "track"]


def test_cli_video_with_timeline_and_annotation(model_file, crossing, tmp_path, capsys):
    out, timelines, annotated = tmp_path / "t.csv", tmp_path / "tl", tmp_path / "a.avi"
    assert main(["video", str(crossing), "--model", str(model_file), "-o", str(out),
                 "--every", "2", "--timeline", str(timelines), "--smooth", "3",
                 "--annotate", str(annotated), "-q"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "12 frames sampled" in text and "in 2 tracks" in text
    pngs = sorted(timelines.glob("track-*.png"))
    assert [p.name for p in pngs] == ["track-0.png", "track-1.png"]
    assert all(p.stat().st_size > 10_000 for p in pngs)
    capture = cv2.VideoCapture(str(annotated))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (
        main(["video", str(crossing), "--model", str(model_file), "-o",
              str(tmp_path / "x.txt")]) == 2
    )  # fmt: skip
    assert main(["video", str(crossing), "--model", str(model_file), "-o", str(out),
                 "--fps", "0"]) == 2  # fmt: skip


def test_cli_video_old_spelling(model_file, moving, tmp_path, capsys):
    """``video MODEL.joblib VIDEO``, the spelling before --model, still works."""
    out = tmp_path / "old.csv"
    assert main(["video", str(model_file), str(moving), "-o", str(out),
                 "--max-frames", "3", "-q"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert f"the new spelling is --model {model_file}" in captured.err
    assert "3 frames sampled" in captured.out
    assert len(pd.read_csv(out)) == 3
    # two positionals that are not a model file and a video: a usage error
    assert main(["video", str(moving), str(moving), "-o", str(out)]) == 2
    assert "one VIDEO is expected" in capsys.readouterr().err


FER2013 = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def test_cli_video_with_the_ready_model(moving, tmp_path, capsys):
    """No model file: the ready model labels the faces, FER2013's classes."""
    out = tmp_path / "ready.csv"
    assert main(["video", str(moving), "-o", str(out), "--max-frames", "4",
                 "-q"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "4 frames sampled, 4 faces in 1 tracks" in text
    assert f"Table: {out}" in text
    table = pd.read_csv(out)
    assert list(table["frame"]) == [0, 1, 2, 3]
    assert [c[len("proba_") :] for c in table.columns if c.startswith("proba_")] == (
        FER2013
    )
    assert set(table["label_1"]) <= set(FER2013)
    sidecar = json.loads((tmp_path / "ready.csv.json").read_text())
    assert sidecar["model_sha256"].startswith("ready-")
    assert sidecar["engine"] == "litert"  # its default, where the wheel exists
    # the same run again, resumed: the ready model is recognised as the same
    assert main(["video", str(moving), "-o", str(out), "--max-frames", "4",
                 "--resume", "-q"]) == 0  # fmt: skip
    assert "0 frames sampled (resumed after frame 3)" in capsys.readouterr().out
    # on the other engine (its probabilities differ a little) it is another run
    assert main(["video", str(moving), "-o", str(out), "--max-frames", "4",
                 "--resume", "--engine", "tensorflow", "-q"]) == 1  # fmt: skip
    assert "holds another run's table (other video, model, engine" in (
        capsys.readouterr().err
    )
    assert main(["video", str(moving), "-o", str(out), "--max-frames", "4",
                 "--engine", "tensorflow", "-q"]) == 0  # fmt: skip
    assert json.loads((tmp_path / "ready.csv.json").read_text())["engine"] == (
        "tensorflow"
    )
    assert list(pd.read_csv(out)["frame"]) == [0, 1, 2, 3]
