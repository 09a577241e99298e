"""HEIC/HEIF photos (what iPhones save), read like every other format.

The HEIC files are made at run time from a real face photo with pillow-heif
(the optional extra ``skemotion[heif]``, installed in development and CI: the
tests fail loudly without it), and read through the public API: the same
Pillow path, limits and errors as a JPEG.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pillow_heif  # the heif extra: installed for development and in CI
import pytest
from PIL import Image

from skemotion import (
    ImageReadError,
    ImageTooLargeError,
    decode_image,
    detect_faces,
    load_image_folder,
    probe_image,
    read_image,
)
from skemotion.datasets import IMAGE_EXTENSIONS, sniff_format

#: exif_transpose turns the stored pixels by the inverse of these.
STORED_TURN = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def _save_heic(img: Image.Image, path: Path, **kwargs) -> Path:
    pillow_heif.from_pillow(img).save(path, quality=90, **kwargs)
    return path


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


@pytest.fixture(scope="module")
def face_jpeg(face_count_dir: Path) -> Path:
    return face_count_dir / "single_face" / "facerec_obama.jpg"


@pytest.fixture(scope="module")
def face_heic(face_jpeg: Path, tmp_path_factory) -> Path:
    """The JPEG face photo (910x1137) saved as HEIC."""
    with Image.open(face_jpeg) as img:
        path = tmp_path_factory.mktemp("heic") / "face.heic"
        return _save_heic(img.convert("RGB"), path)


@pytest.fixture(scope="module")
def small_face(face_jpeg: Path) -> Image.Image:
    """The face photo at half size: quicker to encode, the face still found."""
    with Image.open(face_jpeg) as img:
        return img.convert("RGB").reduce(2)


@pytest.fixture
def without_pillow_heif(monkeypatch):
    """As if pillow-heif were not installed: no HEIF opener in Pillow, and
    ``import pillow_heif`` fails. Undone after the test."""
    openers = {k: v for k, v in Image.OPEN.items() if k != "HEIF"}
    monkeypatch.setattr(Image, "OPEN", openers)
    monkeypatch.setattr(Image, "ID", [i for i in Image.ID if i != "HEIF"])
    monkeypatch.setitem(sys.modules, "pillow_heif", None)


def test_heif_headers_are_sniffed(face_heic: Path):
    assert face_heic.read_bytes()[4:12] == b"ftypheic"
    assert sniff_format(face_heic.read_bytes()[:32]) == "HEIF"
    brands = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
    for brand in brands:
        assert sniff_format(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 8) == "HEIF"
    # other ISO-BMFF files (MP4 video, QuickTime) are not HEIF
    for brand in (b"isom", b"mp42", b"qt  "):
        assert sniff_format(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 8) is None
    assert sniff_format(b"\x00\x00\x00\x18heic" + b"\x00" * 12) is None
    assert {".heic", ".heif"} <= IMAGE_EXTENSIONS


def test_heic_pixels_match_the_jpeg(face_heic: Path, face_jpeg: Path):
    heic, jpeg = read_image(face_heic), read_image(face_jpeg)
    assert heic.dtype == np.uint8 and heic.flags.c_contiguous
    assert heic.shape == jpeg.shape == (1137, 910, 3)
    assert _mean_abs_diff(heic, jpeg) < 3  # lossy, quality 90: about 0.5


@pytest.mark.parametrize("orientation", sorted(STORED_TURN))
def test_heic_orientation_is_applied(orientation, small_face, tmp_path: Path):
    # pillow-heif writes an EXIF Orientation as the HEIF rotation (irot),
    # which libheif applies on reading; the stored pixels are turned
    stored = small_face.transpose(STORED_TURN[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save_heic(stored, tmp_path / "turned.heic", exif=exif.tobytes())
    with Image.open(path) as img:  # the file carries the orientation
        assert img.info["original_orientation"] == orientation
    upright = read_image(path)
    reference = np.asarray(small_face)
    assert upright.shape == reference.shape
    if orientation != 3:  # turned a quarter: the stored pixels lie sideways
        assert np.asarray(stored).shape != reference.shape
    assert _mean_abs_diff(upright, reference) < 3  # turned once, not twice
    (box,), (expected,) = detect_faces(upright), detect_faces(reference)
    np.testing.assert_allclose(box, expected, atol=8)


def test_heic_transparency_is_white(small_face, tmp_path: Path):
    rgba = small_face.convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, dtype=np.uint8)
    alpha[:, : rgba.width // 2] = 0  # left half transparent
    rgba.putalpha(Image.fromarray(alpha))
    path = _save_heic(rgba, tmp_path / "alpha.heic")
    with Image.open(path) as img:
        assert img.mode == "RGBA"
    out = read_image(path)
    half = rgba.width // 2
    assert out[:, : half - 8].min() >= 245  # shown on white, as a viewer does
    assert _mean_abs_diff(out[:, half + 8 :], np.asarray(small_face)[:, half + 8 :]) < 4


def test_max_pixels_refuses_a_heic_before_decoding(face_heic: Path, monkeypatch):
    read_image(face_heic)  # Pillow has the HEIF opener from now on
    heif_image_file = Image.OPEN["HEIF"][0]
    decoded = []
    original_load = heif_image_file.load

    def counting_load(self):
        decoded.append(self)
        return original_load(self)

    monkeypatch.setattr(heif_image_file, "load", counting_load)
    data = face_heic.read_bytes()
    calls = (
        lambda: read_image(face_heic, max_pixels=1_000_000),
        lambda: probe_image(face_heic, max_pixels=1_000_000),
        lambda: decode_image(data, name="up.heic", max_pixels=1_000_000),
    )
    for call in calls:
        with pytest.raises(ImageTooLargeError, match="910x1137 = 1,034,670 pixels"):
            call()
    assert decoded == []  # refused from the header, no pixel decoded
    assert read_image(face_heic, max_pixels=1_100_000).shape == (1137, 910, 3)
    assert decoded  # the counting sees a decoding


def test_max_file_size_applies_to_heic(face_heic: Path):
    size = face_heic.stat().st_size
    with pytest.raises(ImageTooLargeError, match="max_file_size"):
        read_image(face_heic, max_file_size=size - 1)
    with pytest.raises(ImageTooLargeError, match=r"up\.heic: .*max_file_size"):
        decode_image(face_heic.read_bytes(), name="up.heic", max_file_size=size - 1)


def test_heic_bytes_are_decoded(face_heic: Path):
    data = face_heic.read_bytes()
    from_bytes = decode_image(data, name="upload.heic")
    np.testing.assert_array_equal(from_bytes, read_image(face_heic))
    np.testing.assert_array_equal(decode_image(memoryview(data)), from_bytes)


def test_folder_of_heic_photos_loads(face_heic: Path, face_jpeg: Path, tmp_path: Path):
    for rel, src in [
        ("happy/a.heic", face_heic),
        ("happy/IMG_0001.HEIC", face_heic),  # iPhones name them in capitals
        ("sad/b.heif", face_heic),
        ("sad/c.jpg", face_jpeg),
    ]:
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        shutil.copyfile(src, tmp_path / rel)
    paths, labels = load_image_folder(tmp_path, on_unreadable="raise")
    names = [Path(p).name for p in paths]
    assert names == ["IMG_0001.HEIC", "a.heic", "b.heif", "c.jpg"]
    assert list(labels) == ["happy", "happy", "sad", "sad"]
    for path in paths:
        probe_image(path)
        assert read_image(path).shape == (1137, 910, 3)


def test_heic_named_jpg_is_read_by_its_bytes(face_heic: Path, tmp_path: Path):
    misnamed = tmp_path / "photo.jpg"
    shutil.copyfile(face_heic, misnamed)
    np.testing.assert_array_equal(read_image(misnamed), read_image(face_heic))


@pytest.mark.parametrize("keep", [16, 300, 0.5, -1000], ids=str)
def test_truncated_heic_gives_one_clear_error(keep, face_heic: Path, tmp_path: Path):
    data = face_heic.read_bytes()
    cut = data[: keep if isinstance(keep, int) else int(len(data) * keep)]
    path = tmp_path / "cut.heic"
    path.write_bytes(cut)
    for call, name in (
        (lambda: read_image(path), str(path)),
        (lambda: probe_image(path), str(path)),
        (lambda: decode_image(cut, name="cut upload"), "cut upload"),
    ):
        with pytest.raises(ImageReadError) as info:
            call()
        error = info.value
        assert type(error) is ImageReadError
        assert str(error).startswith(f"{name}: truncated or corrupt HEIF")
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__


def test_missing_pillow_heif_says_how_to_install(
    face_heic: Path, face_jpeg: Path, tmp_path: Path, without_pillow_heif
):
    misnamed = tmp_path / "photo.jpg"
    shutil.copyfile(face_heic, misnamed)
    for call, name in (
        (lambda: read_image(face_heic), str(face_heic)),
        (lambda: read_image(misnamed), str(misnamed)),
        (lambda: probe_image(face_heic), str(face_heic)),
        (lambda: decode_image(face_heic.read_bytes(), name="up.heic"), "up.heic"),
    ):
        with pytest.raises(ImageReadError) as info:
            call()
        message = str(info.value)
        assert message.startswith(f"{name}: is a HEIC/HEIF photo")
        assert "pip install 'skemotion[heif]'" in message
        assert info.value.__context__ is None or info.value.__suppress_context__
    assert read_image(face_jpeg).shape == (1137, 910, 3)  # other formats: as ever


def test_face_in_a_heic_is_predicted(face_heic: Path, tiny_model):
    (box,) = detect_faces(read_image(face_heic))
    assert box[2] - box[0] > 100  # the face, not a speck
    # through the fitted pipeline, from the file's path and from its bytes
    labels = tiny_model.predict([str(face_heic), face_heic.read_bytes()])
    assert set(labels) <= set(tiny_model.classes_)
    assert labels[0] == labels[1]
