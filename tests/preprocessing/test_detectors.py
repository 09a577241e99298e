"""Every detector against each face-count folder's truth; the one landmark
model gives every detector's faces five points; alignment levels the eyes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skemotion import (
    FaceCropper,
    check_image_folder,
    detect_faces,
    face_landmarks,
    read_image,
)
from skemotion.cli import main

FINDERS = ["hog", "haar", "mtcnn", "yunet"]


def _images(folder) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in {".jpg", ".png"})


def _counts(folder, detector: str) -> list[int]:
    return [len(detect_faces(read_image(p), detector)) for p in _images(folder)]


@pytest.mark.parametrize("detector", ["mtcnn", "yunet"])
def test_counts_faces_against_each_folders_truth(face_count_dir, detector):
    assert _counts(face_count_dir / "single_face", detector) == [1, 1, 1, 1]
    assert _counts(face_count_dir / "no_face", detector) == [0] * 13
    group = _counts(face_count_dir / "multi_face", detector)
    assert len(group) == 12 and all(n >= 2 for n in group)


@pytest.mark.parametrize("detector", ["mtcnn", "yunet"])
def test_confidence_threshold(face_count_dir, detector):
    photo = read_image(_images(face_count_dir / "multi_face")[3])  # 24 faces
    loose = detect_faces(photo, detector, min_confidence=0.3)
    default = detect_faces(photo, detector)
    strict = detect_faces(photo, detector, min_confidence=0.99)
    assert len(strict) <= len(default) < len(loose)


def _mtcnn_eyes(image: np.ndarray) -> np.ndarray:
    """The eyes of the most confident face, from the mtcnn package itself (an
    oracle independent of skemotion's landmark model)."""
    from mtcnn import MTCNN

    faces = MTCNN(device="CPU:0").detect_faces(image)
    best = max(faces, key=lambda f: f["confidence"])
    return np.array(
        sorted([best["keypoints"]["left_eye"], best["keypoints"]["right_eye"]]),
        dtype=float,
    )


@pytest.fixture(scope="module")
def obama(face_count_dir) -> np.ndarray:
    return read_image(str(face_count_dir / "single_face" / "facerec_obama.jpg"))


@pytest.mark.parametrize("detector", FINDERS)
def test_five_landmarks_whatever_found_the_face(obama, detector):
    boxes, points = detect_faces(obama, detector, with_landmarks=True)
    assert boxes.shape == (1, 4) and points.shape == (1, 5, 2)
    (left, top, right, bottom), p = boxes[0], points[0]
    corners, nose = p[:4], p[4]
    assert left <= corners[0, 0] < corners[1, 0] < corners[2, 0] < corners[3, 0]
    assert corners[3, 0] <= right
    assert top <= corners[:, 1].max() < nose[1] <= bottom
    assert corners[1, 0] < nose[0] < corners[2, 0]
    # the eyes' centres are MTCNN's own eyes, within a tenth of their distance
    truth = _mtcnn_eyes(obama)
    eyes = np.stack([corners[:2].mean(axis=0), corners[2:].mean(axis=0)])
    assert np.abs(eyes - truth).max() < 0.1 * np.linalg.norm(truth[1] - truth[0])
    # a box given by hand gets the same points
    np.testing.assert_allclose(face_landmarks(obama, boxes), points)
    assert face_landmarks(obama, np.zeros((0, 4))).shape == (0, 5, 2)


def _eye_angle(crop: np.ndarray) -> float:
    (x1, y1), (x2, y2) = _mtcnn_eyes(crop)
    return float(np.degrees(np.arctan2(y2 - y1, x2 - x1)))


@pytest.mark.parametrize("detector", ["haar", "mtcnn", "yunet"])
def test_alignment_levels_the_eyes(obama, tmp_path, detector):
    h, w = obama.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)  # a tilted head
    tilted = cv2.warpAffine(obama, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    path = tmp_path / "tilted.png"
    cv2.imwrite(str(path), cv2.cvtColor(tilted, cv2.COLOR_RGB2BGR))
    plain = FaceCropper(detector=detector, size=160).transform([str(path)])[0]
    cropper = FaceCropper(detector=detector, size=160, align=True)
    aligned = cropper.transform([str(path)])[0]
    assert abs(_eye_angle(plain)) > 12
    assert abs(_eye_angle(aligned)) < 5
    # the boxes found once, cropped again: the same crop
    boxes = cropper.detect([str(path)])[0][:1]
    np.testing.assert_array_equal(cropper.crop_boxes(tilted, boxes)[0], aligned)


def test_hog_too_aligns_a_face_it_finds(obama):
    # HOG, a frontal detector, does not find the face tilted by 20 degrees;
    # tilted by 10 it does, and the landmark model levels it
    h, w = obama.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1.0)
    tilted = cv2.warpAffine(obama, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    boxes = detect_faces(tilted, "hog")
    assert len(boxes) == 1
    cropper = FaceCropper(detector="hog", size=160, margin=0.4)
    plain, aligned = (
        cropper.set_params(align=align).crop_boxes(tilted, boxes)[0]
        for align in (False, True)
    )
    assert abs(_eye_angle(plain)) > 6
    assert abs(_eye_angle(aligned)) < 3


@pytest.mark.parametrize("detector", ["mtcnn", "yunet"])
def test_detectors_in_worker_processes(face_count_dir, detector):
    paths = _images(face_count_dir / "multi_face")[:4]
    serial = FaceCropper(detector=detector, size=48, align=True).transform(paths)
    parallel = FaceCropper(detector=detector, size=48, align=True, n_jobs=2)
    np.testing.assert_array_equal(serial, parallel.transform(paths))


@pytest.mark.slow
def test_check_compares_detectors(face_count_dir, capsys):
    report = check_image_folder(face_count_dir, detector=["hog", "mtcnn", "yunet"])
    counts = report.faces_by_detector
    assert set(counts) == {"hog", "mtcnn", "yunet"}
    assert counts["mtcnn"]["faces_checked"] == counts["hog"]["faces_checked"] == 29
    assert report.detector == "hog"
    assert counts["hog"]["no_face"] == len(report.no_face)
    assert counts["yunet"]["no_face"] == 13  # exactly the no-face images
    argv = ["check", str(face_count_dir), "--detector", "hog", "--detector", "yunet"]
    assert main(argv) == 1  # no_face images are problems
    text = capsys.readouterr().out
    assert "Faces per detector:" in text and "  yunet: no face in" in text


@pytest.mark.parametrize("align", [False, True])
def test_cache_key_knows_the_detector_and_alignment(face_count_dir, tmp_path, align):
    from skemotion import FeatureCache

    cache = FeatureCache(tmp_path / "c")
    paths = _images(face_count_dir / "single_face")[:2]
    FaceCropper(detector="hog", size=48, memory=cache).transform(paths)
    FaceCropper(detector="yunet", size=48, align=align, memory=cache).transform(paths)
    assert len(list((tmp_path / "c" / "crop").rglob("*.npz"))) == 4


def _resident_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def test_yunet_holds_no_memory_per_call(face_count_dir):
    """yuface's own binding kept about 38 kB of every call (a server grew
    2 MiB a second); skemotion calls libfacedetection with a buffer of its
    own: 600 detections leave the process's memory where it was."""
    photo = read_image(face_count_dir / "single_face" / "facerec_obama.jpg")
    small = cv2.resize(photo, (182, 227), interpolation=cv2.INTER_AREA)
    for _ in range(50):  # warm up: the network, the allocator's pools
        detect_faces(small, "yunet")
    before = _resident_mib()
    for _ in range(600):
        assert len(detect_faces(small, "yunet")) == 1
    assert _resident_mib() - before < 8  # the binding: about 21 MiB


def _bgr_at(path, side: int) -> np.ndarray:
    rgb = read_image(path)
    scale = min(1.0, side / max(rgb.shape[:2]))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    if scale < 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return bgr


def test_yunet_on_litert_finds_what_libfacedetection_finds(face_count_dir, seed_dir):
    """The packaged YuNet network on LiteRT against libfacedetection's own
    code (the yuface wheel's library): every face of at least 0.85 confidence,
    its box, five landmarks and score, on real photos of every face count and
    of odd sizes, at the 800 px skemotion detects at and at 320 px."""
    pytest.importorskip("yuface", reason="libfacedetection's wheel (yuface) is "
                        "for x86-64 and Python 3.11 and older only")  # fmt: skip
    from skemotion.preprocessing._yunet import yunet_function

    litert, reference = yunet_function(litert=True), yunet_function(litert=False)
    photos = [p for folder in ("single_face", "multi_face", "no_face")
              for p in _images(face_count_dir / folder)]  # fmt: skip
    photos += sorted(str(p) for p in (seed_dir / "train").rglob("*.jpg"))[::12]
    n_faces = 0
    for path in photos:
        for side in (800, 320):
            bgr = _bgr_at(path, side)
            ours, theirs = litert(bgr), reference(bgr)
            ours, theirs = ours[ours[:, 0] >= 85], theirs[theirs[:, 0] >= 85]
            assert ours.tolist() == theirs.tolist(), (path, side, bgr.shape)
            n_faces += len(theirs)
    assert len(photos) > 50 and n_faces > 150  # the check saw faces, many


def test_yunet_runs_on_libfacedetection_where_litert_is_missing(
    face_count_dir, monkeypatch
):
    pytest.importorskip("yuface", reason="libfacedetection's wheel (yuface) is "
                        "for x86-64 and Python 3.11 and older only")  # fmt: skip
    from skemotion.preprocessing import _backends, _yunet

    photo = read_image(_images(face_count_dir / "multi_face")[0])
    on_litert = detect_faces(photo, "yunet", with_landmarks=True)
    assert _yunet.yunet_engine() == "litert"
    monkeypatch.setattr(_yunet, "litert_available", lambda: False)
    _backends._yunet_function.cache_clear()
    try:
        assert _yunet.yunet_engine() == "libfacedetection"
        alone = detect_faces(photo, "yunet", with_landmarks=True)
    finally:
        _backends._yunet_function.cache_clear()
    assert len(on_litert[0]) >= 2
    for ours, theirs in zip(on_litert, alone, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_a_damaged_yunet_file_is_refused_naming_it(tmp_path):
    from skemotion.preprocessing._yunet import LITERT_MODEL, litert_detector

    damaged = tmp_path / "yunet.tflite"
    content = bytearray(LITERT_MODEL.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))
    message = rf"{damaged}: YuNet's sha256 is .*reinstall skemotion"
    with pytest.raises(RuntimeError, match=message):
        litert_detector(damaged)
