"""MTCNN finds more faces; alignment levels the eyes; check compares detectors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skemotion import FaceCropper, check_image_folder, detect_faces, read_image
from skemotion.cli import main


def _images(folder) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in {".jpg", ".png"})


def test_mtcnn_counts_faces_against_each_folders_truth(face_count_dir):
    single = [
        len(detect_faces(read_image(p), "mtcnn"))
        for p in _images(face_count_dir / "single_face")
    ]
    assert single == [1] * len(single) == [1, 1, 1, 1]
    none = [
        len(detect_faces(read_image(p), "mtcnn"))
        for p in _images(face_count_dir / "no_face")
    ]
    assert none == [0] * 13
    group = [
        len(detect_faces(read_image(p), "mtcnn"))
        for p in _images(face_count_dir / "multi_face")
    ]
    assert all(n >= 2 for n in group)


def test_confidence_threshold_and_eyes(face_count_dir):
    photo = read_image(_images(face_count_dir / "multi_face")[0])
    loose = detect_faces(photo, "mtcnn", min_confidence=0.5)
    strict = detect_faces(photo, "mtcnn", min_confidence=0.999)
    assert len(strict) <= len(loose)
    boxes, eyes = detect_faces(photo, "mtcnn", with_eyes=True)
    assert eyes.shape == (len(boxes), 2, 2)
    for (left, top, right, bottom), ((x1, y1), (x2, y2)) in zip(
        boxes, eyes, strict=True
    ):
        assert left <= x1 < x2 <= right and top <= min(y1, y2) <= bottom


def _eye_angle(crop: np.ndarray) -> float:
    _, eyes = detect_faces(crop, "mtcnn", with_eyes=True, min_confidence=0.5)
    (x1, y1), (x2, y2) = eyes[0]
    return float(np.degrees(np.arctan2(y2 - y1, x2 - x1)))


def test_alignment_levels_the_eyes(face_count_dir, tmp_path):
    photo = read_image(str(face_count_dir / "single_face" / "facerec_obama.jpg"))
    h, w = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)  # a tilted head
    tilted = cv2.warpAffine(photo, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    path = tmp_path / "tilted.png"
    cv2.imwrite(str(path), cv2.cvtColor(tilted, cv2.COLOR_RGB2BGR))
    plain = FaceCropper(detector="mtcnn", size=160).transform([str(path)])[0]
    aligned = FaceCropper(detector="mtcnn", size=160, align=True).transform(
        [str(path)]
    )[0]
    assert abs(_eye_angle(plain)) > 12
    assert abs(_eye_angle(aligned)) < 5
    # HOG and Haar align with OpenCV's eye cascade; on an upright face it is a
    # no-op (level already)
    upright = FaceCropper(detector="hog", size=64, align=True)
    np.testing.assert_array_equal(
        upright.transform([str(face_count_dir / "single_face" / "facerec_obama.jpg")]),
        FaceCropper(detector="hog", size=64).transform(
            [str(face_count_dir / "single_face" / "facerec_obama.jpg")]
        ),
    )


def test_mtcnn_in_worker_processes(face_count_dir):
    paths = _images(face_count_dir / "multi_face")[:4]
    serial = FaceCropper(detector="mtcnn", size=48).transform(paths)
    parallel = FaceCropper(detector="mtcnn", size=48, n_jobs=2).transform(paths)
    np.testing.assert_array_equal(serial, parallel)


@pytest.mark.slow
def test_check_compares_detectors(face_count_dir, capsys):
    report = check_image_folder(face_count_dir, detector=["hog", "mtcnn"])
    counts = report.faces_by_detector
    assert set(counts) == {"hog", "mtcnn"}
    assert counts["mtcnn"]["faces_checked"] == counts["hog"]["faces_checked"] == 29
    assert report.detector == "hog"
    assert counts["hog"]["no_face"] == len(report.no_face)
    assert (
        main(["check", str(face_count_dir), "--detector", "hog", "--detector", "mtcnn"])
        == 1
    )  # no_face images are problems
    text = capsys.readouterr().out
    assert "Faces per detector:" in text and "  mtcnn: no face in" in text


@pytest.mark.parametrize("align", [False, True])
def test_cache_key_knows_the_detector_and_alignment(face_count_dir, tmp_path, align):
    from skemotion import FeatureCache

    cache = FeatureCache(tmp_path / "c")
    paths = _images(face_count_dir / "single_face")[:2]
    FaceCropper(detector="hog", size=48, memory=cache).transform(paths)
    FaceCropper(detector="mtcnn", size=48, align=align, memory=cache).transform(paths)
    assert len(list((tmp_path / "c" / "crop").rglob("*.npz"))) == 4
