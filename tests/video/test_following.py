"""Detecting on one frame in k and following the faces between, on videos the
tests make from real face photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from video_files import write_video

from skemotion import FaceCropper, VideoError, save_model
from skemotion.cli import main
from skemotion.preprocessing import fast_detector
from skemotion.video import predict_video

N_FRAMES = 30
BOX = ["face_left", "face_top", "face_right", "face_bottom"]


@pytest.fixture(scope="module")
def faces(face_count_dir):
    """Two real faces, as 110x110 patches."""
    names = ("facerec_obama.jpg", "skimage_astronaut.png")
    paths = [str(face_count_dir / "single_face" / name) for name in names]
    crops = FaceCropper(size=110, margin=0.6).transform(paths)
    return [cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in crops]


def _x(i: int, k: int) -> int:
    """Face k's left edge on frame i: drifting, up to 12 px a frame."""
    return int(80 + 120 * k + 60 * np.sin(i / 5 + k))


@pytest.fixture(scope="module")
def drifting(faces, tmp_path_factory) -> Path:
    """Two faces drifting left and right, one above the other."""
    frames = [[(faces[0], _x(i, 0), 10), (faces[1], _x(i, 1), 190)]
              for i in range(N_FRAMES)]  # fmt: skip
    return write_video(tmp_path_factory.mktemp("v") / "drifting.avi", frames)


@pytest.fixture(scope="module")
def model_file(tiny_model, tmp_path_factory) -> Path:
    return save_model(tiny_model, tmp_path_factory.mktemp("m") / "tiny.joblib")


def _frames(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _iou(a, b) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_faces_are_followed_between_detections(model_file, drifting, tmp_path):
    detector = fast_detector()
    result = predict_video(model_file, drifting, tmp_path / "k3.csv",
                           detector=detector, detect_every=3)  # fmt: skip
    table = result.read()
    # a row for each face of every frame, those between detections included
    assert sorted(table["frame"].unique()) == list(range(N_FRAMES))
    assert (table.groupby("frame").size() == 2).all()
    # one track per face for the whole video, each on its own face
    assert table["track"].nunique() == 2
    for _, rows in table.groupby("track"):
        assert rows["face_top"].max() - rows["face_top"].min() < 40
    # the followed boxes (frames 1, 2, 4, 5, ...) overlap the boxes the detector
    # finds on the same frames, and better than the last detection's boxes
    cropper = FaceCropper(detector=detector)
    frames = _frames(drifting)
    followed, stale = [], []
    for f in range(N_FRAMES):
        if f % 3 == 0:
            continue
        detected = cropper.detect([frames[f]])[0]
        assert len(detected) == 2
        last = table[table["frame"] == f - f % 3]
        for _, row in table[table["frame"] == f].iterrows():
            box = row[BOX].to_numpy(float)
            followed.append(max(_iou(box, d) for d in detected))
            before = last[last["track"] == row["track"]][BOX].to_numpy(float)[0]
            stale.append(max(_iou(before, d) for d in detected))
    assert min(followed) >= 0.5
    assert np.mean(followed) >= 0.75
    assert np.mean(followed) > np.mean(stale) + 0.1  # the boxes did move
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["detector"] == detector and sidecar["detect_every"] == 3


def test_a_lost_face_has_no_box_until_the_next_detection(model_file, faces, tmp_path):
    # the face is there for frames 0-10 and 14-23; frames 11-13 are empty gray
    frames = [[] if 11 <= i <= 13 else [(faces[0], 40 + 8 * i, 100)]
              for i in range(24)]  # fmt: skip
    video = write_video(tmp_path / "gone.avi", frames)
    table = predict_video(model_file, video, tmp_path / "gone.csv",
                          detector=fast_detector(), detect_every=3).read()  # fmt: skip
    seen = set(table["frame"])
    # detections on frames 0, 3, ..., 21: the box followed from frame 9 is lost
    # on 11, 12 has no face, and 14 (the face back) is followed from 12: none
    assert seen.isdisjoint(range(11, 15))
    assert set(range(11)) | set(range(15, 24)) == seen
    assert table["track"].nunique() == 1  # a 4-frame gap keeps the id


def test_resume_with_detect_every(model_file, drifting, tmp_path, monkeypatch):
    from skemotion.video import _video

    kwargs = {"detector": fast_detector(), "detect_every": 3, "batch_frames": 4}
    whole = predict_video(model_file, drifting, tmp_path / "whole.csv", **kwargs)
    out = tmp_path / "cut.csv"
    original = _video._Table.append
    calls = []

    def append_then_stop(self, rows):
        original(self, rows)
        calls.append(len(rows))
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(_video._Table, "append", append_then_stop)
    with pytest.raises(KeyboardInterrupt):
        predict_video(model_file, drifting, out, **kwargs)
    monkeypatch.setattr(_video._Table, "append", original)
    resumed = predict_video(model_file, drifting, out, resume=True, **kwargs)
    # batches of 4 frames rounded up to 6 (a multiple of detect_every): two
    # committed (frames 0-11), the third's rows dropped and redone
    assert resumed.resumed_after == 11
    assert resumed.n_frames == N_FRAMES - 12
    pd.testing.assert_frame_equal(resumed.read(), whole.read())
    with pytest.raises(VideoError, match="another run"):
        predict_video(model_file, drifting, out, resume=True,
                      **{**kwargs, "detect_every": 2})  # fmt: skip


def test_arguments_are_checked(model_file, drifting, tmp_path):
    with pytest.raises(ValueError, match="detect_every"):
        predict_video(model_file, drifting, tmp_path / "o.csv", detect_every=0)
    with pytest.raises(ValueError, match="unknown detector 'nope'"):
        predict_video(model_file, drifting, tmp_path / "o.csv", detector="nope")


def test_cli_default_detector_and_detect_every(model_file, drifting, tmp_path, capsys):
    from skemotion.cli._arguments import VIDEO_DETECT_EVERY

    out = tmp_path / "cli.csv"
    assert main(["video", str(drifting), "--model", str(model_file), "-o",
                 str(out), "-q"]) == 0  # fmt: skip
    assert f"{N_FRAMES} frames sampled, {2 * N_FRAMES} faces in 2 tracks" in (
        capsys.readouterr().out
    )
    sidecar = json.loads((tmp_path / "cli.csv.json").read_text())
    # not the model's own detector (HOG): the fastest one installed
    assert sidecar["detector"] == fast_detector()
    assert sidecar["detect_every"] == VIDEO_DETECT_EVERY > 1
    assert main(["video", str(drifting), "--model", str(model_file), "-o",
                 str(out), "--detector", "haar", "--detect-every", "1",
                 "-q"]) == 0  # fmt: skip
    sidecar = json.loads((tmp_path / "cli.csv.json").read_text())
    assert (sidecar["detector"], sidecar["detect_every"]) == ("haar", 1)
    assert main(["video", str(drifting), "-o", str(out), "--detect-every", "0"]) == 2
    capsys.readouterr()
    assert main(["video", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--detect-every K" in text
    assert f"(default: {VIDEO_DETECT_EVERY}:" in text
    assert "yunet, on LiteRT or on the yuface package, else hog" in text
