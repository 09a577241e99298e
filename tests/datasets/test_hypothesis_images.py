"""Property-based tests of the image reader and the face cropper.

Hypothesis generates arrays of many shapes, dtypes and channel counts, writes
them as real image files, and checks what comes back; it also damages real
image bytes at random, and crops generated canvases with a real face pasted
anywhere (partly outside included). The array test found real problems in the
reader, since fixed: a float image in [0, 1] came back black, NaN pixels gave
an "invalid value encountered in cast" warning and arbitrary values, and
negative float values were crushed to black. The damaged-bytes and cropper
tests found nothing wrong; they guard the "one clear error or a valid image"
and "crops of the right shape, boxes inside the image" contracts.

Runs are derandomized (the same examples on every run, as CI needs); set
``HYPOTHESIS_PROFILE=explore`` to search afresh with more examples.
"""

from __future__ import annotations

import io
import itertools
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from skemotion import FaceCropper, ImageReadError, read_image

settings.register_profile(
    "ci",
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hypothesis")


def _new_path(workdir: Path, suffix: str) -> Path:
    return workdir / f"img{next(_counter)}{suffix}"


side = st.integers(min_value=1, max_value=40)


@st.composite
def stored_arrays(draw):
    """``(kind, array)``: an image array and how it is stored as a file."""
    kind = draw(
        st.sampled_from(
            ["L", "RGB", "RGBA", "LA", "1", "P", "I;16", "RGB16", "RGBA16", "I", "F"]
        )
    )
    h, w = draw(side), draw(side)
    channels = {"RGB": 3, "RGBA": 4, "LA": 2, "P": 3, "RGB16": 3, "RGBA16": 4}
    shape = (h, w, channels[kind]) if kind in channels else (h, w)
    if kind == "1":
        return kind, draw(arrays(np.bool_, shape))
    if kind in ("I;16", "RGB16", "RGBA16"):
        return kind, draw(arrays(np.uint16, shape))
    if kind == "I":
        return kind, draw(
            arrays(np.int32, shape, elements=st.integers(-(2**31), 2**31 - 1))
        )
    if kind == "F":
        elements = st.one_of(
            st.floats(0, 1, width=32),  # the common [0, 1] float image
            st.floats(-1e6, 1e6, width=32),
            st.sampled_from([np.nan, np.inf, -np.inf]),
        )
        return kind, draw(arrays(np.float32, shape, elements=elements))
    return kind, draw(arrays(np.uint8, shape))


def _save(kind: str, array: np.ndarray, workdir: Path) -> Path:
    if kind in ("RGB16", "RGBA16"):  # Pillow cannot write 16-bit colour
        path = _new_path(workdir, ".png")
        order = [2, 1, 0] if kind == "RGB16" else [2, 1, 0, 3]
        assert cv2.imwrite(str(path), np.ascontiguousarray(array[..., order]))
        return path
    if kind in ("I", "F"):
        path = _new_path(workdir, ".tif")
        Image.fromarray(array, kind).save(path)
        return path
    path = _new_path(workdir, ".png")
    if kind == "P":
        Image.fromarray(array, "RGB").quantize(colors=16).save(path)
    elif kind in ("1", "I;16"):
        Image.fromarray(array).save(path)
    else:
        Image.fromarray(array, kind).save(path)
    return path


def _on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(float) / 255
    return rgb.astype(float) * a + 255 * (1 - a)


def _assert_order_kept(values: np.ndarray, out: np.ndarray) -> None:
    """A larger value never becomes a darker pixel."""
    order = np.argsort(values, kind="stable")
    assert (np.diff(out[order].astype(int)) >= 0).all()


@given(case=stored_arrays())
def test_any_stored_array_reads_as_rgb(case, workdir):
    kind, array = case
    path = _save(kind, array, workdir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "invalid value encountered in cast"
        out = read_image(path)
    h, w = array.shape[:2]
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert out.flags.c_contiguous
    gray = out[..., 0].astype(int)
    if kind != "P" and array.ndim == 2:
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    if kind == "L":
        assert (gray == array).all()
    elif kind == "RGB":
        assert (out == array).all()
    elif kind == "1":
        assert (gray == array * 255).all()
    elif kind == "P":
        assert (out == np.asarray(Image.open(path).convert("RGB"))).all()
    elif kind in ("RGBA", "LA"):
        rgb = array[..., :3] if kind == "RGBA" else array[..., :1]
        np.testing.assert_allclose(out, np.broadcast_to(
            _on_white(rgb, array[..., -1]), out.shape), atol=1.01)  # fmt: skip
    elif kind == "I;16":
        np.testing.assert_allclose(gray, array / 65535 * 255, atol=1.01)
    elif kind == "RGB16":
        np.testing.assert_allclose(out, array / 257, atol=1.01)
    elif kind == "RGBA16":
        expected = _on_white(array[..., :3] / 257, array[..., 3] / 257)
        np.testing.assert_allclose(out, expected, atol=2.01)
    elif kind == "I":
        _assert_order_kept(array.ravel(), gray.ravel())
        if array.min() >= 0 and array.max() <= 255:
            assert (gray == array).all()
    elif kind == "F":
        finite = np.isfinite(array)
        assert (gray[np.isnan(array)] == 0).all()
        _assert_order_kept(array[finite], gray[finite])
        if finite.all() and array.min() >= 0 and array.max() <= 1:
            np.testing.assert_allclose(gray, array * 255, atol=1.01)
        if finite.any() and np.ptp(array[finite]) > 0 and finite.sum() > 1:
            # distinct values are not all crushed to one level (e.g. black)
            assert np.ptp(gray[finite]) > 0 or np.ptp(array[finite]) < 1e-6 * max(
                1.0, float(np.abs(array[finite]).max())
            )


def _seed_files() -> dict[str, bytes]:
    rng = np.random.RandomState(0)
    image = Image.fromarray(rng.randint(0, 255, (24, 32, 3)).astype(np.uint8))
    out = {}
    for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"):
        buf = io.BytesIO()
        image.save(buf, fmt)
        out[fmt] = buf.getvalue()
    return out


SEEDS = _seed_files()


@st.composite
def damaged_files(draw):
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate" and len(data) > 1:
            data = data[: draw(st.integers(1, len(data) - 1))]
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@given(data=damaged_files())
def test_damaged_bytes_give_an_image_or_one_clear_error(data, workdir):
    path = _new_path(workdir, ".img")
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow on corrupt EXIF
            out = read_image(path)
    except ImageReadError as exc:
        assert str(exc).startswith(f"{path}: ") and exc.reason
        assert exc.__cause__ is None
        assert exc.__context__ is None or exc.__suppress_context__
    else:
        assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


@pytest.fixture(scope="module")
def face_patch(face_count_dir) -> np.ndarray:
    """A real face, cut from a photo with a margin, to paste anywhere."""
    path = face_count_dir / "single_face" / "facerec_obama.jpg"
    image = read_image(path)
    (box,) = FaceCropper().detect([path])[0][:1]
    left, top, right, bottom = box
    pad = (right - left) // 3
    return image[max(0, top - pad) : bottom + pad, max(0, left - pad) : right + pad]


@st.composite
def canvases(draw):
    face = None
    if draw(st.booleans()):  # a face, often near or across an edge
        side = draw(st.integers(60, 160))
        h = draw(st.integers(side // 2, 240))
        w = draw(st.integers(side // 2, 240))
        left = draw(st.integers(-side // 3, max(-side // 3, w - 2 * side // 3)))
        top = draw(st.integers(-side // 3, max(-side // 3, h - 2 * side // 3)))
        face = (side, left, top)
    else:  # anything from 1x1 up, no face
        h, w = draw(st.integers(1, 240)), draw(st.integers(1, 240))
    background = draw(st.sampled_from(["noise", "flat"]))
    mode = draw(st.sampled_from(["RGB", "L", "RGBA", "P"]))
    seed = draw(st.integers(0, 2**16))
    return h, w, background, face, mode, seed


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    canvas=canvases(),
    detector=st.sampled_from(["hog", "haar", "none"]),
    size=st.integers(1, 40) | st.tuples(st.integers(1, 40), st.integers(1, 40)),
    margin=st.floats(0, 1.5),
    all_faces=st.booleans(),
)
def test_cropper_on_any_image(
    canvas, detector, size, margin, all_faces, face_patch, workdir
):
    h, w, background, face, mode, seed = canvas
    rng = np.random.RandomState(seed)
    if background == "noise":
        image = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    else:
        image = np.full((h, w, 3), rng.randint(0, 256), dtype=np.uint8)
    if face is not None:
        side, left, top = face
        patch = cv2.resize(face_patch, (side, side), interpolation=cv2.INTER_AREA)
        y0, x0 = max(0, top), max(0, left)
        y1, x1 = min(h, top + side), min(w, left + side)
        if y1 > y0 and x1 > x0:
            image[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]
    path = _new_path(workdir, ".png")
    Image.fromarray(image).convert(mode).save(path)
    cropper = FaceCropper(detector=detector, size=size, margin=margin, progress=False)
    (result,) = list(cropper.crop_each([path], all_faces=all_faces))
    boxes, crops = result.boxes, result.crops
    assert result.error is None and result.name == str(path)
    out_h, out_w = (size, size) if isinstance(size, int) else size
    assert crops.dtype == np.uint8 and crops.shape[1:] == (out_h, out_w, 3)
    assert len(crops) == len(boxes) >= 1
    if not all_faces:
        assert len(crops) == 1
    boxes = np.asarray(boxes)
    assert boxes.dtype.kind == "i"
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
    if detector == "none":
        assert boxes.tolist() == [[0, 0, w, h]]
    whole = boxes.tolist() == [[0, 0, w, h]]
    assert result.face_found in (True, False)
    if not result.face_found:  # no face: the whole image, and it says so
        assert whole and result.faces_found == 0
    event(f"{detector}: {'whole image' if whole else 'face found'}")
