"""GrayscaleConverter: luminance replicated to 3 channels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.exceptions import NotFittedError

from skemotion import FaceCropper, GrayscaleConverter


def test_matches_pillow_luminance_on_real_faces(face_count_dir):
    paths = sorted(str(p) for p in (face_count_dir / "single_face").iterdir())[:2]
    crops = FaceCropper(size=64).transform(paths)
    gray = GrayscaleConverter().fit_transform(crops)
    assert gray.shape == crops.shape and gray.dtype == np.uint8
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    for crop, g in zip(crops, gray, strict=True):
        pillow = np.asarray(Image.fromarray(crop).convert("L")).astype(int)
        assert np.abs(pillow - g[..., 0]).max() <= 1


def test_an_images_gray_does_not_depend_on_its_batch(seed_dir):
    """The gray of a face alone is its gray among others, to the pixel (a
    matrix product used to round a pixel of 3-11-shocked.jpg's crop the other
    way in a batch of 18, so that the cache held two features for it)."""
    paths = [
        str(p)
        for label in ("happy", "sad", "shocked")
        for p in sorted((seed_dir / "train" / f"{label}_face").iterdir())[:6]
    ]
    cropper = FaceCropper(size=32, max_detection_side=400, progress=False)
    crops = cropper.transform(paths)
    converter = GrayscaleConverter().fit(crops)
    together = converter.transform(crops)
    for size in (1, 5, 7):
        starts = range(0, len(crops), size)
        apart = [converter.transform(crops[i : i + size]) for i in starts]
        np.testing.assert_array_equal(np.concatenate(apart), together)


def test_one_channel_and_gray_input():
    rgb = np.random.RandomState(0).randint(0, 256, (3, 8, 9, 3)).astype(np.uint8)
    one = GrayscaleConverter(n_channels=1).fit_transform(rgb)
    assert one.shape == (3, 8, 9, 1)
    # already-gray input (3-D or 1 channel) passes through unchanged
    again = GrayscaleConverter().fit_transform(one[..., 0])
    np.testing.assert_array_equal(again[..., 0], one[..., 0])


def test_float_input_kept_float():
    x = np.full((1, 4, 4, 3), 100.0, dtype=np.float32)
    out = GrayscaleConverter().fit_transform(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 100.0, rtol=1e-6)


def test_errors():
    with pytest.raises(NotFittedError):
        GrayscaleConverter().transform(np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="image paths"):
        GrayscaleConverter().fit(["a.jpg"])
    with pytest.raises(ValueError, match="shape"):
        GrayscaleConverter().fit(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="n_channels"):
        GrayscaleConverter(n_channels=2).fit(np.zeros((1, 4, 4, 3)))


def test_feature_names():
    gray = GrayscaleConverter().fit(np.zeros((1, 2, 3, 3), np.uint8))
    names = gray.get_feature_names_out()
    assert len(names) == 2 * 3 * 3 and names[0] == "pixel_0_0_0"
