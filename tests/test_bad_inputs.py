"""Messy photo folders: every bad input is handled by a policy or a clear error.

A corpus of awkward files is generated at run time in a temporary folder
(faces come from the real photos of ``shared/data/face-count``, rewritten
there; nothing is downloaded, nothing is written into the repository). Each
file either has a documented policy, checked here, or gives one
:class:`~skemotion.ImageReadError` naming it and the problem; a batch with bad
files lists every one of them, or, when asked to skip, still predicts every
good file. See the "Bad input and safety" section of docs/user_guide.md.
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import os
import struct
import sys
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, features

from skemotion import (
    BadImagesError,
    FaceCropper,
    ImageReadError,
    ImageTooLargeError,
    MultipleFacesError,
    NoFaceError,
    SkemotionError,
    load_model,
    predict_topk,
    read_image,
    save_model,
)
from skemotion.cli import main
from skemotion.prediction import iter_predict_topk

ROTATIONS = {  # EXIF orientation -> how the stored pixels are turned
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class Case:
    """One generated input: where it is and what skemotion must say about it."""

    path: Path
    reason: str | None  # None: a good image, handled by a policy


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + _png_chunk(b"IEND", b"")
    )


def _build_corpus(root: Path, face_count_dir: Path) -> dict[str, Case]:
    face_jpg = face_count_dir / "single_face" / "facerec_obama.jpg"
    face = Image.open(face_jpg).convert("RGB")
    jpeg_bytes = face_jpg.read_bytes()
    buf = io.BytesIO()
    face.save(buf, "PNG")
    png_bytes = buf.getvalue()
    rng = np.random.RandomState(0)
    cases: dict[str, Case] = {}

    def add(name: str, filename: str, reason: str | None = None) -> Path:
        path = root / filename
        cases[name] = Case(path, reason)
        return path

    # -- files that cannot be used: one clear error each ------------------
    add("zero-byte file", "empty.jpg", "file is empty (0 bytes)").write_bytes(b"")
    add("truncated JPEG", "truncated.jpg", "truncated or corrupt JPEG").write_bytes(
        jpeg_bytes[: len(jpeg_bytes) // 3]
    )
    add("truncated PNG", "truncated.png", "truncated or corrupt PNG").write_bytes(
        png_bytes[: len(png_bytes) // 2]
    )
    add("PNG cut inside its header", "header-cut.png", "truncated or corrupt PNG")
    cases["PNG cut inside its header"].path.write_bytes(png_bytes[:40])
    add("HTML file named .jpg", "page.jpg", "it looks like an HTML page").write_text(
        "<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n"
    )
    add("text file named .jpg", "notes.jpg", "it looks like a text file").write_text(
        "shopping list: eggs, milk\n"
    )
    add("SVG named .png", "drawing.png", "SVG drawing").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    )
    add("directory named .png", "folder.png", "is a directory").mkdir()
    add("path that does not exist", "missing.jpg", "file does not exist")
    add("broken symbolic link", "dangling.jpg", "broken symbolic link").symlink_to(
        root / "nowhere.jpg"
    )
    os.mkfifo(add("named pipe (FIFO) named .jpg", "pipe.jpg", "named pipe (FIFO)"))
    add("decompression bomb (10^10 pixels)", "bomb.png", "decompression bomb")
    cases["decompression bomb (10^10 pixels)"].path.write_bytes(
        _png_declaring(100_000, 100_000)
    )
    add(
        "image over max_pixels (1.2e8 pixels)",
        "huge.png",
        "more than the limit of 100,000,000 pixels (max_pixels",
    ).write_bytes(_png_declaring(12_000, 10_000))
    add("no read permission", "secret.jpg", "permission denied").write_bytes(jpeg_bytes)
    os.chmod(cases["no read permission"].path, 0)

    # -- awkward but good images: a documented policy each ----------------
    Image.new("RGB", (1, 1), (200, 100, 50)).save(add("1x1 image", "dot.png", None))
    gray16 = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(gray16).save(add("16-bit grayscale PNG", "gray16.png", None))
    rgb16 = (rng.rand(48, 64, 3) * 65535).astype(np.uint16)
    cv2.imwrite(str(add("16-bit RGB PNG", "rgb16.png", None)), rgb16)
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[:20] = (255, 0, 0, 255)  # opaque red on top, transparent below
    Image.fromarray(rgba, "RGBA").save(add("RGBA PNG", "rgba.png", None))
    face.convert("P").save(add("palette GIF", "palette.gif", None))
    frames = [Image.new("RGB", (30, 20), c) for c in ((0, 0, 255), (255, 0, 0))]
    frames[0].save(
        add("animated GIF", "animated.gif", None),
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
    )
    Image.new("RGB", (40, 30), (255, 0, 0)).convert("CMYK").save(
        add("CMYK JPEG", "cmyk.jpg", None), quality=95
    )
    face.convert("L").save(add("grayscale JPEG", "gray.jpg", None), quality=95)
    for orientation, turn in ROTATIONS.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        name = f"JPEG with EXIF orientation {orientation}"
        path = add(name, f"exif{orientation}.jpg")
        face.transpose(turn).save(path, exif=exif, quality=95)
    face.save(add("upright JPEG (reference)", "upright.jpg", None), quality=95)
    face.save(add("WebP", "face.webp", None), quality=90)
    spaced = add(
        "non-ASCII and spaces in the path", "dossier été/visage à l'ombre 😀.jpg"
    )
    spaced.parent.mkdir()
    spaced.write_bytes(jpeg_bytes)
    raw_name = os.fsdecode(b"caf\xe9 latin-1 name.jpg")  # not valid UTF-8
    add("file name that is not UTF-8", raw_name, None).write_bytes(jpeg_bytes)
    add("JPEG named .png", "actually-jpeg.png", None).write_bytes(jpeg_bytes)
    floats = rng.rand(30, 40).astype(np.float32)
    floats[0, :5] = np.nan
    Image.fromarray(floats, "F").save(add("float TIFF with NaN", "float.tif", None))
    add("image with no face", "coffee.png", None).write_bytes(
        (face_count_dir / "no_face" / "skimage_coffee.png").read_bytes()
    )
    add("image with many faces", "bald guys.jpg", None).write_bytes(
        (face_count_dir / "multi_face" / "dlib_bald_guys.jpg").read_bytes()
    )
    return cases


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, face_count_dir) -> dict[str, Case]:
    return _build_corpus(tmp_path_factory.mktemp("corpus"), face_count_dir)


@pytest.fixture
def unreadable(corpus, monkeypatch) -> Path:
    """The no-permission file, unreadable even for root.

    Root reads any file whatever its mode, so there the refusal the system
    would give is simulated: ``open`` raises PermissionError for this path.
    """
    path = corpus["no read permission"].path
    if os.access(path, os.R_OK):  # running as root: chmod is not enforced
        real_open = builtins.open

        def deny(file, *args, **kwargs):
            if os.fspath(file) == os.fspath(path):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", deny)
        with pytest.raises(PermissionError):
            open(path, "rb")
    return path


BAD = [
    "zero-byte file",
    "truncated JPEG",
    "truncated PNG",
    "PNG cut inside its header",
    "HTML file named .jpg",
    "text file named .jpg",
    "SVG named .png",
    "directory named .png",
    "path that does not exist",
    "broken symbolic link",
    "named pipe (FIFO) named .jpg",
    "decompression bomb (10^10 pixels)",
    "image over max_pixels (1.2e8 pixels)",
    "no read permission",
]


@pytest.mark.parametrize("name", BAD)
def test_bad_file_gives_one_clear_error(name, corpus, request):
    case = corpus[name]
    if name == "no read permission":
        request.getfixturevalue("unreadable")
    with pytest.raises(ImageReadError) as info:
        read_image(case.path)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, SkemotionError)
    assert error.path == str(case.path)
    assert str(error) == f"{case.path}: {error.reason}"
    assert case.reason in error.reason
    # no chained exception from Pillow, OpenCV or the OS shows in a traceback
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    # the cropper reports the same error for the file, and goes on
    (result,) = FaceCropper(detector="none", size=32, progress=False).crop_each(
        [case.path]
    )
    assert result.boxes is None and result.crops is None
    assert result.face_found is None  # not known: the file could not be read
    assert result.error.reason == error.reason


def test_no_permission_checked_before_opening(corpus, monkeypatch):
    # the other refusal path: os.access says no, the file is never opened
    path = corpus["no read permission"].path
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: p != path and real_access(p, mode, **kw)
    )
    with pytest.raises(ImageReadError, match="permission denied"):
        read_image(path)


def test_file_size_limit(corpus):
    path = corpus["upright JPEG (reference)"].path
    size = path.stat().st_size
    with pytest.raises(ImageTooLargeError) as info:
        read_image(path, max_file_size=size - 1)
    assert "more than the limit of" in str(info.value)
    assert f"max_file_size={size - 1}" in str(info.value)
    assert read_image(path, max_file_size=size).ndim == 3
    assert read_image(path, max_file_size=None).ndim == 3


def test_pixel_limit_is_configurable(corpus):
    path = corpus["upright JPEG (reference)"].path
    h, w = read_image(path).shape[:2]
    with pytest.raises(ImageTooLargeError, match=f"{w}x{h} = {w * h:,} pixels"):
        read_image(path, max_pixels=w * h - 1)
    (result,) = FaceCropper(max_pixels=w * h - 1, progress=False).crop_each([path])
    assert "max_pixels" in result.error.reason
    assert read_image(path, max_pixels=w * h).shape == (h, w, 3)


# -- good but awkward images: the policies ---------------------------------


def test_one_pixel_image_is_used_whole(corpus):
    path = corpus["1x1 image"].path
    assert read_image(path).tolist() == [[[200, 100, 50]]]
    for detector in ("hog", "haar", "none"):
        crops = FaceCropper(detector=detector, size=32, progress=False).transform(
            [path]
        )
        assert crops.shape == (1, 32, 32, 3)
        assert (crops == (200, 100, 50)).all()
    with pytest.raises(BadImagesError) as info:
        FaceCropper(no_face="raise", size=32, progress=False).transform([path])
    assert isinstance(info.value.errors[0], NoFaceError)


def test_16bit_png_uses_the_full_range(corpus):
    gray = read_image(corpus["16-bit grayscale PNG"].path)
    expected = np.asarray(Image.open(corpus["16-bit grayscale PNG"].path), float)
    np.testing.assert_allclose(gray[..., 0], expected / 65535 * 255, atol=1)
    assert (gray[..., 0] == gray[..., 2]).all() and gray.max() > 200
    rgb = read_image(corpus["16-bit RGB PNG"].path)
    stored = cv2.imread(str(corpus["16-bit RGB PNG"].path), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(rgb, stored[..., ::-1] / 257, atol=1)


def test_rgba_transparency_is_white(corpus):
    out = read_image(corpus["RGBA PNG"].path)
    assert (out[:20] == (255, 0, 0)).all() and (out[20:] == 255).all()


def test_gif_palette_and_first_frame_of_animation(corpus):
    palette = read_image(corpus["palette GIF"].path)
    expected = np.asarray(Image.open(corpus["palette GIF"].path).convert("RGB"))
    assert (palette == expected).all()
    animated = read_image(corpus["animated GIF"].path)
    with Image.open(corpus["animated GIF"].path) as gif:
        assert gif.n_frames == 2
    assert animated.shape == (20, 30, 3) and (animated == (0, 0, 255)).all()


def test_cmyk_and_grayscale_jpeg_become_rgb(corpus):
    red = read_image(corpus["CMYK JPEG"].path).astype(int)
    assert red.shape == (30, 40, 3)
    assert (red[..., 0] > 230).all() and (red[..., 1:] < 30).all()
    gray = read_image(corpus["grayscale JPEG"].path)
    assert gray.shape[2] == 3
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


@pytest.mark.parametrize("orientation", sorted(ROTATIONS))
def test_exif_rotated_photo_face_found_upright(orientation, corpus):
    rotated = corpus[f"JPEG with EXIF orientation {orientation}"].path
    upright = corpus["upright JPEG (reference)"].path
    cropper = FaceCropper(progress=False)
    (box,), (reference,) = cropper.detect([rotated]), cropper.detect([upright])
    assert read_image(rotated).shape == read_image(upright).shape
    np.testing.assert_allclose(box, reference, atol=8)
    # the stored pixels are turned: without EXIF, no upright face is there
    stored = np.asarray(Image.open(rotated).convert("RGB"))
    assert stored.shape != read_image(upright).shape or orientation == 3
    from skemotion import detect_faces

    assert len(detect_faces(stored)) == 0


def test_webp_is_read(corpus):
    assert features.check("webp"), "this Pillow build cannot read WebP"
    webp = read_image(corpus["WebP"].path).astype(int)
    jpeg = read_image(corpus["upright JPEG (reference)"].path).astype(int)
    assert webp.shape == jpeg.shape and np.abs(webp - jpeg).mean() < 8


def test_content_decides_not_the_suffix(corpus):
    as_png = read_image(corpus["JPEG named .png"].path)
    assert (as_png == read_image(corpus["non-ASCII and spaces in the path"].path)).all()


def test_float_tiff_with_nan(corpus):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value in cast" warning
        out = read_image(corpus["float TIFF with NaN"].path)
    stored = np.asarray(Image.open(corpus["float TIFF with NaN"].path))
    assert (out[0, :5] == 0).all()
    np.testing.assert_allclose(out[1:, :, 0], stored[1:] * 255, atol=1)


def test_no_face_policy(corpus, tiny_model):
    path = corpus["image with no face"].path
    h, w = read_image(path).shape[:2]
    (record,) = predict_topk(tiny_model, [path], k=1)
    assert record["box"] == [0, 0, w, h] and record["error"] is None
    with pytest.raises(BadImagesError) as info:
        FaceCropper(no_face="raise", progress=False).transform([path])
    error = info.value.errors[0]
    assert isinstance(error, NoFaceError) and "no face found" in str(error)
    assert str(path) in str(error)


def test_many_faces_policy(corpus, tiny_model):
    path = corpus["image with many faces"].path
    boxes = FaceCropper(progress=False).detect([path])[0]
    assert len(boxes) >= 5
    (largest,) = predict_topk(tiny_model, [path], k=1)
    assert largest["box"] == boxes[0].tolist()  # the largest face
    every = predict_topk(tiny_model, [path], k=1, all_faces=True)
    assert [r["box"] for r in every] == boxes.tolist()
    with pytest.raises(BadImagesError) as info:
        FaceCropper(multiple_faces="raise", progress=False).transform([path])
    error = info.value.errors[0]
    assert isinstance(error, MultipleFacesError)
    assert f"{len(boxes)} faces found" in str(error)


# -- batches -------------------------------------------------------------------


@pytest.fixture
def encoder_calls(tiny_model, monkeypatch) -> list[int]:
    """Record every call into the (costly) encoder of ``tiny_model``."""
    calls: list[int] = []
    encoder = tiny_model.named_steps["encode"]

    def spying(original):
        def spy(X, *args, **kwargs):
            calls.append(len(X))
            return original(X, *args, **kwargs)

        return spy

    for name in ("transform", "encode"):
        if hasattr(type(encoder), name):
            monkeypatch.setattr(encoder, name, spying(getattr(encoder, name)))
    return calls


def _mixed(corpus) -> tuple[list[str], list[str]]:
    good = [
        str(corpus[n].path)
        for n in ("upright JPEG (reference)", "1x1 image", "WebP", "CMYK JPEG")
    ]
    bad = [
        str(corpus[n].path)
        for n in ("truncated JPEG", "HTML file named .jpg", "path that does not exist")
    ]
    return good, [good[0], bad[0], good[1], bad[1], good[2], bad[2], good[3]]


def test_pipeline_lists_every_bad_file_before_encoding(
    corpus, tiny_model, encoder_calls
):
    good, mixed = _mixed(corpus)
    bad = [p for p in mixed if p not in good]
    for call in (tiny_model.predict, tiny_model.predict_proba):
        with pytest.raises(BadImagesError) as info:
            call(mixed)
        assert [e.path for e in info.value.errors] == bad
        assert str(info.value).startswith(f"3 of {len(mixed)} images could not be used")
        assert all(p in str(info.value) for p in bad)
    with pytest.raises(BadImagesError) as info:
        tiny_model.named_steps["crop"].transform(mixed)
    assert [e.path for e in info.value.errors] == bad
    assert encoder_calls == []
    assert len(tiny_model.predict(good)) == len(good)
    assert sum(encoder_calls) >= len(good)  # the spy does see the encoder


def test_predict_topk_raises_listing_all_or_skips(corpus, tiny_model, encoder_calls):
    good, mixed = _mixed(corpus)
    bad = [p for p in mixed if p not in good]
    stream = iter_predict_topk(tiny_model, mixed, k=1)
    with pytest.raises(BadImagesError) as info:
        next(stream)  # raised before the first record, before any encoding
    assert [e.path for e in info.value.errors] == bad
    assert encoder_calls == []
    records = predict_topk(tiny_model, mixed, k=1, skip_bad=True)
    assert [r["path"] for r in records] == mixed
    assert [r["error"] is None for r in records] == [p in good for p in mixed]
    proba = tiny_model.predict_proba(good)
    labels = [r["label"] for r in records if r["error"] is None]
    assert labels == list(tiny_model.classes_[proba.argmax(axis=1)])


def test_batches_stay_bounded(corpus, tiny_model, monkeypatch):
    """Images go through the model chunk_size at a time, whatever their
    number; skipping bad files, records come chunk by chunk."""
    good, _ = _mixed(corpus)
    paths = good * 3
    gray = tiny_model.named_steps["gray"]
    sizes: list[int] = []
    real = gray.transform

    def counting(X):
        sizes.append(len(X))
        return real(X)

    monkeypatch.setattr(gray, "transform", counting)
    strict = predict_topk(tiny_model, paths, k=1)
    assert max(sizes) <= 128 and sum(sizes) == len(paths)
    sizes.clear()
    stream = iter_predict_topk(tiny_model, paths, k=1, chunk_size=5, skip_bad=True)
    first = next(stream)  # the first image's records come after one chunk
    assert sizes == [5] and first[0]["path"] == paths[0]
    rest = [r for rs in stream for r in rs]
    assert sizes == [5, 5, 2]
    streamed = first + rest
    assert [(r["path"], r["label"]) for r in streamed] == [
        (r["path"], r["label"]) for r in strict
    ]
    np.testing.assert_allclose(
        [r["probability"] for r in streamed],
        [r["probability"] for r in strict],
        rtol=1e-5,
    )


def test_unexpected_cropper_failure_is_pinned_on_its_file(
    corpus, tiny_model, monkeypatch
):
    import skemotion.preprocessing._face_cropping as cropping

    good, _ = _mixed(corpus)
    poison = good[1]
    real = cropping.read_source

    def fragile(source, **kwargs):
        if str(source) == poison:
            raise RuntimeError("decoder library crashed")
        return real(source, **kwargs)

    monkeypatch.setattr(cropping, "read_source", fragile)
    records = predict_topk(tiny_model, good, k=1, skip_bad=True)
    assert [r["path"] for r in records] == good
    errors = {r["path"]: r["error"] for r in records if r["error"]}
    assert errors == {
        poison: "could not be read or cropped (RuntimeError: decoder library crashed)"
    }
    with pytest.raises(BadImagesError, match="decoder library crashed"):
        predict_topk(tiny_model, good, k=1)


def test_model_failure_on_one_image_keeps_the_others(
    corpus, tiny_model, monkeypatch, tmp_path
):
    good, _ = _mixed(corpus)
    black = tmp_path / "black.png"
    Image.new("RGB", (64, 64)).save(black)
    gray = tiny_model.named_steps["gray"]
    real = gray.transform

    def fragile(X):
        if (np.asarray(X).reshape(len(X), -1).max(axis=1) == 0).any():
            raise FloatingPointError("model blew up on an all-black image")
        return real(X)

    monkeypatch.setattr(gray, "transform", fragile)
    paths = [good[0], str(black), good[2]]
    records = predict_topk(tiny_model, paths, k=1, skip_bad=True)
    assert [r["path"] for r in records] == paths
    assert [r["error"] for r in records][::2] == [None, None]
    assert records[1]["error"].startswith("prediction failed (FloatingPointError")


# -- the command line ----------------------------------------------------------


@pytest.fixture(scope="module")
def crops_model_file(tiny_model_file, tmp_path_factory) -> Path:
    """The tiny model with ``detector="none"``: fast on ready-made face crops."""
    model = load_model(tiny_model_file)
    model.set_params(crop__detector="none")
    return save_model(model, tmp_path_factory.mktemp("none") / "crops.joblib")


def _stderr_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_cli_whole_corpus_no_traceback(corpus, tiny_model_file, unreadable, capfd):
    names = list(corpus)
    paths = [str(corpus[n].path) for n in names]
    bad = [str(corpus[n].path) for n in names if corpus[n].reason is not None]
    good = [p for p in paths if p not in bad]
    code = main(
        ["predict", "--model", str(tiny_model_file), *paths, "--format", "json", "-q"]
    )
    out, err = capfd.readouterr()
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in rows if r["error"] is None and r["rank"] == 1] == good
    assert [r["path"] for r in rows if r["error"] is not None] == bad
    # stderr holds one error line per bad file, naming it, and nothing else:
    # no traceback, no log line from OpenCV, Pillow, dlib or TensorFlow
    lines = _stderr_lines(err)
    assert len(lines) == len(bad)
    for line, path, name in zip(lines, bad, [n for n in names if corpus[n].reason],
                                strict=True):  # fmt: skip
        assert line.startswith(f"{path}: error: ")
        assert corpus[name].reason in line


def _fer_faces(shared_data: Path, n: int) -> list[str]:
    folder = shared_data / "fer2013" / "test"
    return sorted(str(p) for p in (folder / "happy").iterdir())[:n]


@pytest.fixture(scope="module")
def mixed_batch(corpus, shared_data) -> tuple[list[str], list[str]]:
    """30 files: 20 real 48x48 face crops (FER2013) and 10 bad files, mixed."""
    good = _fer_faces(shared_data, 20)
    bad = [str(corpus[n].path) for n in BAD if n != "no read permission"][:10]
    batch = list(good)
    for i, path in enumerate(bad):
        batch.insert(3 * i + 1, path)
    return batch, bad


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_cli_mixed_batch_every_format(fmt, mixed_batch, crops_model_file, capfd):
    batch, bad = mixed_batch
    good = [p for p in batch if p not in bad]
    argv = [
        "predict",
        "--model",
        str(crops_model_file),
        *batch,
        "--format",
        fmt,
        "-k",
        "2",
    ]
    assert main([*argv, "-q"]) == 1
    out, err = capfd.readouterr()
    if fmt == "text":
        printed = [line.rsplit(": ", 1)[0] for line in out.splitlines()]
    elif fmt == "json":
        rows = [json.loads(line) for line in out.splitlines()]
        printed = [r["path"] for r in rows if r["rank"] == 1]
        assert [r["path"] for r in rows if r["error"]] == bad
    else:
        rows = list(csv.DictReader(io.StringIO(out)))
        printed = [r["path"] for r in rows if r["rank"] == "1"]
        assert [r["path"] for r in rows if r["error"]] == bad
    assert printed == good  # every good file, in input order
    lines = _stderr_lines(err)
    assert [line.split(": error: ")[0] for line in lines] == bad
    assert (
        main(
            ["predict", "--model", str(crops_model_file), *good, "--format", fmt, "-q"]
        )
        == 0
    )
    assert _stderr_lines(capfd.readouterr().err) == []


def test_cli_limits_and_usage_errors(mixed_batch, crops_model_file, corpus, capfd):
    batch, bad = mixed_batch
    good = [p for p in batch if p not in bad][:3]
    big = str(corpus["upright JPEG (reference)"].path)
    model = str(crops_model_file)
    assert (
        main(["predict", "--model", model, *good, big, "--max-file-size", "20K", "-q"])
        == 1
    )
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 3
    assert _stderr_lines(err) == [
        f"{big}: error: file is {Path(big).stat().st_size / 1024:.1f} KiB, more "
        "than the limit of 20.0 KiB (max_file_size=20480)"
    ]
    assert (
        main(["predict", "--model", model, *good, big, "--max-pixels", "10000", "-q"])
        == 1
    )
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 3 and "max_pixels" in err
    for argv in (
        ["predict", "--model", model, big, "--max-file-size", "lots"],
        ["predict", "--model", model, big, "--max-pixels", "0"],
        ["predict", "--model", model],
    ):
        assert main(argv) == 2  # a usage error, shown with the usage
        err = capfd.readouterr().err
        assert "usage: skemotion predict" in err and "Traceback" not in err
    assert main(["predict", "--model", model, big, "--top-k", "0"]) == 2
    assert "--top-k: must be at least 1, got 0" in capfd.readouterr().err
    assert main(["predict", "--model", str(corpus["zero-byte file"].path), big]) == 2
    assert "model file is empty" in capfd.readouterr().err


def test_cli_paths_with_odd_characters(corpus, tiny_model_file, capsys):
    spaced = str(corpus["non-ASCII and spaces in the path"].path)
    raw = str(corpus["file name that is not UTF-8"].path)
    model = str(tiny_model_file)
    assert main(["predict", "--model", model, spaced, raw, "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{spaced}: ")
    escaped = raw.encode("utf-8", "backslashreplace").decode("utf-8")
    assert lines[1].startswith(f"{escaped}: ") and "\\udce9" in escaped
    assert (
        main(["predict", "--model", model, spaced, raw, "--format", "json", "-q"]) == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows if r["rank"] == 1] == [spaced, raw]
    assert main(["predict", "--model", model, raw, "--format", "csv", "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(escaped)


@pytest.mark.slow
def test_cli_output_survives_a_closed_pipe(mixed_batch, crops_model_file):
    """``skemotion predict ... | head -1``: a quiet exit, not a traceback."""
    import subprocess

    batch, bad = mixed_batch
    good = [p for p in batch if p not in bad] * 15  # more output than a pipe holds
    script = "import sys; from skemotion.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [
        "predict",
        "--model",
        str(crops_model_file),
        *good,
        "--format",
        "json",
        "-q",
    ]
    predict = subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = json.loads(predict.stdout.readline())  # read one result, hang up
    predict.stdout.close()
    err = predict.stderr.read().decode()
    # exit status 1 with only good files: the broken pipe was met and handled
    assert predict.wait(timeout=300) == 1
    assert first["path"] == good[0] and first["error"] is None
    assert "Traceback" not in err and "BrokenPipeError" not in err
