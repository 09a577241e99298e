"""Reading real image files, and clear errors for files that are not images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skemotion import ImageReadError, detect_faces, read_image


@pytest.fixture(scope="module")
def face_photo(face_count_dir: Path) -> Path:
    return face_count_dir / "single_face" / "facerec_obama.jpg"


def test_reads_every_seed_format(seed_dir: Path):
    # the seed set mixes JPEG, PNG and GIF; RGB, RGBA, grayscale and palette
    suffixes = {}
    for path in sorted(seed_dir.rglob("*")):
        if path.suffix.lower() in {".jpg", ".png", ".gif"}:
            suffixes.setdefault(path.suffix.lower(), path)
    assert set(suffixes) == {".jpg", ".png", ".gif"}
    for path in suffixes.values():
        image = read_image(path)
        assert image.dtype == np.uint8
        assert image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 100


def test_palette_gif_matches_pillow_rgb(seed_dir: Path):
    gif = next(seed_dir.rglob("*.gif"))
    expected = np.asarray(Image.open(gif).convert("RGB"))
    got = read_image(gif)
    assert got.shape == expected.shape
    # identical except where the palette marks transparency (shown on white)
    assert np.mean(np.all(got == expected, axis=2)) > 0.9


def test_exif_orientation_is_honoured(face_photo: Path, tmp_path: Path):
    upright = read_image(face_photo)
    assert len(detect_faces(upright)) == 1
    # store the photo rotated on its side, with an EXIF tag saying how to undo it
    sideways = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    rotated_file = tmp_path / "rotated.jpg"
    sideways.save(rotated_file, exif=exif, quality=95)
    read_back = read_image(rotated_file)
    assert read_back.shape == upright.shape
    assert len(detect_faces(read_back)) == 1
    # without honouring EXIF, the stored pixels are sideways and no face is found
    assert len(detect_faces(np.asarray(Image.open(rotated_file).convert("RGB")))) == 0


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "I;16", "P"])
def test_modes_become_rgb(mode: str, tmp_path: Path):
    base = Image.fromarray(
        np.random.RandomState(0).randint(0, 255, (40, 50, 3)).astype(np.uint8)
    )
    if mode == "I;16":
        img = Image.fromarray(
            (np.arange(40 * 50).reshape(40, 50) * 30).astype(np.uint16)
        )
    elif mode == "P":
        img = base.convert("P")
    else:
        img = base.convert(mode)
    path = tmp_path / ("img.tiff" if mode == "CMYK" else "img.png")
    img.save(path)
    out = read_image(path)
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    if mode == "I;16":  # 16-bit range scaled down, not clipped at 255
        assert out.max() > 200 and len(np.unique(out)) > 100


def test_rgba_transparency_is_white(tmp_path: Path):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:5, :, :] = (255, 0, 0, 255)  # opaque red top half, transparent bottom
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert (out[:5] == (255, 0, 0)).all()
    assert (out[5:] == 255).all()


def _bad_files(tmp_path: Path, face_photo: Path) -> dict[str, Path]:
    good = face_photo.read_bytes()
    files = {
        "empty": tmp_path / "empty.jpg",
        "truncated": tmp_path / "truncated.jpg",
        "html": tmp_path / "page.jpg",
        "directory": tmp_path / "folder.png",
        "missing": tmp_path / "missing.jpg",
    }
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(good[: len(good) // 3])
    files["html"].write_text("<html><body>not an image</body></html>")
    files["directory"].mkdir()
    return files


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("empty", "empty"),
        ("truncated", "truncated"),
        ("html", "not an image"),
        ("directory", "directory"),
        ("missing", "does not exist"),
    ],
)
def test_bad_file_error_names_file_and_problem(kind, reason, tmp_path, face_photo):
    path = _bad_files(tmp_path, face_photo)[kind]
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    assert reason in str(info.value)
    assert info.value.path == str(path)


def test_max_pixels_refuses_large_image(tmp_path: Path):
    Image.new("RGB", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="more than the limit"):
        read_image(tmp_path / "big.png", max_pixels=50_000)
    assert read_image(tmp_path / "big.png", max_pixels=None).shape == (200, 300, 3)


def test_opencv_fallback_reads_what_pillow_cannot(tmp_path: Path):
    import cv2
    from PIL import UnidentifiedImageError

    # Radiance HDR: a real format OpenCV decodes and Pillow cannot identify
    hdr = np.full((10, 20, 3), 0.5, dtype=np.float32)
    hdr[..., 2] = 0.0  # BGR order: no red
    assert cv2.imwrite(str(tmp_path / "x.hdr"), hdr)
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "x.hdr")
    out = read_image(tmp_path / "x.hdr")
    assert out.shape == (10, 20, 3) and out.dtype == np.uint8
    assert (out[..., 0] == 0).all() and (out[..., 1] > 0).all()


def test_fallback_is_not_tried_on_a_broken_png(tmp_path: Path, capfd):
    from PIL import UnidentifiedImageError

    # the first bytes say PNG: Pillow's verdict stands, and no OpenCV log line
    png = tmp_path / "broken.png"
    Image.new("RGB", (64, 48), (1, 2, 3)).save(png)
    png.write_bytes(png.read_bytes()[:40])  # cut inside the first data chunk
    with pytest.raises(UnidentifiedImageError):
        Image.open(png)
    with pytest.raises(ImageReadError, match="truncated or corrupt PNG file"):
        read_image(png)
    assert capfd.readouterr().err == ""


def test_non_ascii_path(tmp_path: Path, face_photo: Path):
    path = tmp_path / "dossier été" / "visage à l'ombre.jpg"
    path.parent.mkdir()
    path.write_bytes(face_photo.read_bytes())
    assert read_image(path).shape == read_image(face_photo).shape


def test_read_image_from_bytes_roundtrip(tmp_path: Path):
    from PIL import features

    assert features.check("webp"), "this Pillow build cannot read WebP"
    buf = io.BytesIO()
    Image.new("RGB", (33, 44), (10, 20, 30)).save(buf, format="WEBP", lossless=True)
    (tmp_path / "w.webp").write_bytes(buf.getvalue())
    out = read_image(tmp_path / "w.webp")
    assert out.shape == (44, 33, 3) and tuple(out[5, 5]) == (10, 20, 30)
