"""FaceCropper on real photos with no face, one face and many faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from skemotion import (
    BadImagesError,
    FaceCropper,
    FeatureCache,
    MultipleFacesError,
    NoFaceError,
    read_image,
)
from skemotion.preprocessing import CropResult


def _images(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in {".jpg", ".png"})


@pytest.fixture(scope="module")
def single(face_count_dir):
    # skimage's "camera" (a small, turned face) is found by neither detector
    return [p for p in _images(face_count_dir / "single_face") if "camera" not in p]


@pytest.fixture(scope="module")
def multi(face_count_dir):
    return _images(face_count_dir / "multi_face")


@pytest.fixture(scope="module")
def no_face(face_count_dir):
    return _images(face_count_dir / "no_face")


def test_hog_counts_faces(single, multi, no_face):
    cropper = FaceCropper(detector="hog")
    assert [len(b) for b in cropper.detect(single)] == [1] * len(single)
    assert all(len(b) >= 2 for b in cropper.detect(multi))
    assert max(len(b) for b in cropper.detect(multi)) >= 20  # the 24-face photo
    assert [len(b) for b in cropper.detect(no_face)] == [0] * len(no_face)


def test_haar_finds_single_faces(single, multi):
    cropper = FaceCropper(detector="haar")
    assert [len(b) for b in cropper.detect(single)] == [1] * len(single)
    assert sum(len(b) >= 2 for b in cropper.detect(multi)) >= len(multi) - 1


def test_output_shape_dtype_and_size_forms(single):
    out = FaceCropper(size=48).fit_transform(single)
    assert out.shape == (len(single), 48, 48, 3) and out.dtype == np.uint8
    out = FaceCropper(size=(40, 56)).fit_transform(single[:1])
    assert out.shape == (1, 40, 56, 3)


def test_crop_is_the_face_box_with_margin(single):
    path = single[0]
    image = read_image(path)
    (boxes,) = FaceCropper().detect([path])
    assert boxes.shape == (1, 4)
    left, top, right, bottom = boxes[0]
    got = FaceCropper(size=64, margin=0.0).transform([path])[0]
    # the box itself, shrunk to 64x64 with area averaging (no margin)
    face = image[top:bottom, left:right]
    expected = cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(got, expected)
    # a margin widens the crop: the face then fills less of it
    wide = FaceCropper(size=64, margin=0.5).transform([path])[0]
    assert not np.array_equal(wide, got)


def test_no_face_policy(no_face):
    paths = no_face[:3]
    full = FaceCropper(size=32, no_face="full_image").transform(paths)
    for path, crop in zip(paths, full, strict=True):
        whole = cv2.resize(read_image(path), (32, 32), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(crop, whole)
    with pytest.raises(BadImagesError) as info:
        FaceCropper(size=32, no_face="raise").transform(paths)
    assert len(info.value.errors) == 3
    assert all(isinstance(e, NoFaceError) for e in info.value.errors)
    for path in paths:
        assert path in str(info.value)


def test_multiple_faces_policy(multi):
    path = multi[0]
    boxes = FaceCropper().detect([path])[0]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert areas[0] == areas.max()  # largest first
    largest = FaceCropper(size=32, margin=0).transform([path])[0]
    left, top, right, bottom = boxes[0]
    face = read_image(path)[top:bottom, left:right]
    expected = cv2.resize(face, (32, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(largest, expected)
    with pytest.raises(BadImagesError) as info:
        FaceCropper(multiple_faces="raise").transform([path])
    assert isinstance(info.value.errors[0], MultipleFacesError)
    assert f"{len(boxes)} faces found" in str(info.value)


def test_crop_result_says_whether_a_face_was_found(single, multi, no_face, tmp_path):
    """crop_file, the one per-image path: the record says whether the crops are
    faces or the whole image, and how many faces the detector found."""
    paths = [single[0], multi[0], no_face[0], no_face[1]]
    found = FaceCropper().detect(paths)
    cache = FeatureCache(tmp_path / "cache")
    cropper = FaceCropper(size=32, memory=cache, progress=False)
    results = [cropper.crop_file(p) for p in paths]
    for path, boxes, result in zip(paths, found, results, strict=True):
        assert isinstance(result, CropResult) and result.name == path
        assert result.error is None and result.cached is False
        assert result.face_found is (len(boxes) > 0)
        assert result.faces_found == len(boxes)
        h, w = read_image(path).shape[:2]
        expected = boxes[:1].tolist() if len(boxes) else [[0, 0, w, h]]
        assert result.boxes.tolist() == expected
    # the cache keeps what it says, not only the crops
    again = [cropper.crop_file(p) for p in paths]
    assert [r.cached for r in again] == [True] * len(paths)
    assert [r.face_found for r in again] == [r.face_found for r in results]
    assert [r.faces_found for r in again] == [r.faces_found for r in results]
    # crop_each, in this process or in workers, is crop_file on each image
    for n_jobs in (None, 2):
        each = list(cropper.set_params(memory=None, n_jobs=n_jobs).crop_each(paths))
        assert [r.face_found for r in each] == [r.face_found for r in results]
        assert [r.boxes.tolist() for r in each] == [r.boxes.tolist() for r in results]
    every = FaceCropper(size=32, progress=False).crop_file(multi[0], all_faces=True)
    assert every.boxes.tolist() == found[1].tolist() and every.face_found
    # no face, and a policy that refuses it: the error says so, and the record
    refused = FaceCropper(no_face="raise", progress=False).crop_file(no_face[0])
    assert isinstance(refused.error, NoFaceError) and refused.face_found is False
    assert refused.crops is None
    # detector="none": the image is taken as the face
    whole = FaceCropper(detector="none", size=32).crop_file(no_face[0])
    assert whole.face_found is True and whole.faces_found == 1
    # a bad file: nothing is known of its faces
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    bad = FaceCropper().crop_file(str(text))
    assert bad.error is not None and bad.face_found is None and bad.crops is None


def test_transform_checks_every_header_first(single, no_face, tmp_path, monkeypatch):
    """The one bad-file rule: a file whose header is not an image's is refused
    from its header and never read whole; the others are still cropped, so
    that one error lists every bad file."""
    cropped = []
    crop_file = FaceCropper.crop_file

    def spy(self, source, **kwargs):
        cropped.append(source)
        return crop_file(self, source, **kwargs)

    monkeypatch.setattr(FaceCropper, "crop_file", spy)
    page = tmp_path / "page.jpg"
    page.write_text("<!DOCTYPE html><html><body>not a photo</body></html>")
    good = [single[0], no_face[0]]
    with pytest.raises(BadImagesError) as info:
        FaceCropper(size=32, progress=False).transform([good[0], str(page), good[1]])
    assert [e.path for e in info.value.errors] == [str(page)]
    assert "HTML" in str(info.value)
    assert cropped == good


def test_detector_none_only_resizes(shared_data):
    crops = sorted((shared_data / "fer2013" / "test" / "happy").iterdir())[:4]
    out = FaceCropper(detector="none", size=48).transform(crops)
    for path, crop in zip(crops, out, strict=True):
        np.testing.assert_array_equal(crop, read_image(path))


def test_every_bad_file_listed_in_one_error(single, tmp_path):
    missing = tmp_path / "missing.jpg"
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(BadImagesError) as info:
        FaceCropper(size=32).transform([single[0], str(missing), single[1], text])
    err = info.value
    assert isinstance(err, ValueError)
    assert [e.path for e in err.errors] == [str(missing), str(text)]
    assert "2 of 4 images" in str(err)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        ("photo.jpg", "got a single one"),
        ([], "empty"),
        ([1, 2], "expected an image path"),
        (np.zeros((2, 3), dtype=object), "1-D"),
    ],
)
def test_bad_X(X, match):
    with pytest.raises(ValueError, match=match):
        FaceCropper().transform(X)


@pytest.mark.parametrize(
    "params",
    [
        {"detector": "cnn"},
        {"margin": -1},
        {"no_face": "skip"},
        {"multiple_faces": "all"},
    ],
)
def test_invalid_parameters(params, single):
    with pytest.raises(InvalidParameterError):
        FaceCropper(**params).fit(single)


def test_accepts_pathlike_and_column(single):
    as_paths = [Path(p) for p in single[:2]]
    column = np.asarray(single[:2], dtype=object).reshape(-1, 1)
    a = FaceCropper(size=32).transform(as_paths)
    b = FaceCropper(size=32).transform(column)
    np.testing.assert_array_equal(a, b)
