"""Images in memory (arrays, PIL images, encoded bytes) go where paths go."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from skemotion import (
    BadImagesError,
    FaceCropper,
    ImageReadError,
    decode_image,
    image_from_array,
    predict_topk,
    read_image,
)


@pytest.fixture(scope="module")
def photos(face_count_dir):
    folder = face_count_dir / "single_face"
    paths = [str(p) for p in sorted(folder.iterdir()) if p.suffix in {".jpg", ".png"}]
    return [p for p in paths if "camera" not in p][:2]


def test_every_kind_of_image_crops_like_its_file(photos):
    cropper = FaceCropper(size=48)
    expected = cropper.transform(photos)
    arrays = [read_image(p) for p in photos]  # two sizes: a list, not a batch
    assert arrays[0].shape != arrays[1].shape
    pil = [Image.open(p) for p in photos]
    raw = [open(p, "rb").read() for p in photos]
    for images in (arrays, pil, raw, [photos[0], arrays[1]]):
        np.testing.assert_array_equal(cropper.transform(images), expected)
    batch = np.stack([arrays[0][:200, :200]] * 3)  # (n, H, W, 3): one array
    crops = cropper.transform(batch)
    assert crops.shape == (3, 48, 48, 3)
    np.testing.assert_array_equal(crops[0], crops[2])


def test_in_memory_images_through_the_pipeline(tiny_model, photos):
    arrays = [read_image(p) for p in photos]
    from_paths = predict_topk(tiny_model, photos, k=2)
    from_arrays = predict_topk(tiny_model, arrays, k=2)
    assert [r["path"] for r in from_arrays] == ["<array #0>"] * 2 + ["<array #1>"] * 2
    for a, b in zip(from_paths, from_arrays, strict=True):
        assert (a["label"], a["box"]) == (b["label"], b["box"])
        assert a["probability"] == pytest.approx(b["probability"], rel=1e-5)
    np.testing.assert_allclose(tiny_model.predict_proba(arrays),
                               tiny_model.predict_proba(photos), rtol=1e-5)  # fmt: skip


def test_bad_in_memory_images_are_named_in_one_error(photos, tiny_model):
    good = read_image(photos[0])
    bad = [
        good,
        np.zeros((0, 10, 3), np.uint8),  # no pixels
        np.zeros((10, 10, 5), np.uint8),  # 5 channels
        np.array([["a", "b"]]),  # text
        b"<!DOCTYPE html><html></html>",  # bytes of a web page
        open(photos[0], "rb").read()[:3000],  # a JPEG cut short
        b"",
    ]
    with pytest.raises(BadImagesError) as info:
        FaceCropper(size=32).transform(bad)
    reasons = {e.path: e.reason for e in info.value.errors}
    assert set(reasons) == {"<array #1>", "<array #2>", "<array #3>", "<bytes #4>",
                            "<bytes #5>", "<bytes #6>"}  # fmt: skip
    assert "no pixels" in reasons["<array #1>"]
    assert "is not an image: shape (10, 10, 5)" in reasons["<array #2>"]
    assert "not a numeric image array" in reasons["<array #3>"]
    assert "HTML page" in reasons["<bytes #4>"]
    assert "truncated or corrupt JPEG" in reasons["<bytes #5>"]
    assert reasons["<bytes #6>"] == "no bytes (0 bytes)"
    records = predict_topk(tiny_model, bad, k=1, skip_bad=True)
    assert [r["path"] for r in records] == ["<array #0>", *sorted(reasons)]
    assert records[0]["error"] is None
    assert [r["error"] for r in records[1:]] == [reasons[r] for r in sorted(reasons)]


def test_conversions_and_limits(photos):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert image_from_array(gray).shape == (8, 8, 3)
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent: white
    assert (image_from_array(rgba) == 255).all()
    floats = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    assert image_from_array(floats).max() == 255
    assert image_from_array(np.ones((3, 3), bool)).min() == 255
    with pytest.raises(ImageReadError, match=r"<array>: image is 10x10 = 100 pixels"):
        image_from_array(np.zeros((10, 10, 3), np.uint8), max_pixels=50)
    data = open(photos[0], "rb").read()
    np.testing.assert_array_equal(decode_image(data), read_image(photos[0]))
    with pytest.raises(ImageReadError, match=r"upload\.jpg: is .* more than the limit"):
        decode_image(data, name="upload.jpg", max_file_size=100)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(buffer, format="PNG")
    assert decode_image(buffer.getvalue()).shape == (5, 5, 3)


def test_a_lone_image_must_be_wrapped(photos):
    with pytest.raises(ValueError, match="wrap it in a list"):
        FaceCropper().transform(photos[0])
    with pytest.raises(ValueError, match="wrap it in a list"):
        FaceCropper().transform(open(photos[0], "rb").read())
    with pytest.raises(ValueError, match=r"X\[1\] is .* of type int"):
        FaceCropper().transform([photos[0], 3])
