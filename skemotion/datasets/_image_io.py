"""Reading image files into RGB arrays.

This is the first step of the data flow ``path -> image``: one function,
:func:`read_image`, turns a path into an ``(H, W, 3)`` uint8 RGB array, or
raises :class:`~skemotion.exceptions.ImageReadError` naming the file and the
problem. Pillow reads the file (EXIF orientation honoured, every mode
converted to RGB); files Pillow cannot identify and whose first bytes are not
those of a format Pillow reads (Radiance HDR, for example) are tried with
OpenCV, its log lines silenced. HEIC/HEIF photos (iPhones) are read by Pillow
too, once pillow-heif's opener is registered: lazily, the first time Pillow
meets one (the optional extra ``skemotion[heif]``).
:func:`check_image_file` makes the cheap checks (exists, regular file,
readable, not empty, not too large) without opening the file.

Whatever is wrong with a file, the error is an
:class:`~skemotion.exceptions.ImageReadError` (a :class:`ValueError`): no
exception from Pillow, OpenCV or NumPy escapes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..exceptions import ImageReadError, ImageTooLargeError
from ._image_files import (
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_PIXELS,
    _describe_content,
    _human_size,
    _read_head,
    check_image_file,
    heif_damage,
    sniff_format,
)

__all__ = [
    "decode_image",
    "probe_image",
    "read_image",
]

logger = logging.getLogger(__name__)

_HIGH_DEPTH_GRAY = re.compile(r"^(I|F|I;16[BLNS]?|I;32[BLNS]?|F;32[BLNS]?)$")


def _scale_gray(arr: np.ndarray, mode: str) -> np.ndarray:
    """Map a 16-bit, 32-bit integer or float gray image to uint8.

    16-bit images use their full range (0-65535). Integer and float images:
    NaN becomes 0 (black) and infinities the extreme finite values; a float
    image within [0, 1] is scaled by 255; otherwise values within 0-255 are
    kept, values within 0-65535 are scaled as 16-bit data, and anything else
    (negative values, more than 16 bits) is stretched from its minimum to its
    maximum.
    """
    arr = np.asarray(arr, dtype=np.float64)
    nan = np.isnan(arr)
    finite = np.isfinite(arr)
    if not finite.all():
        lo = float(arr[finite].min()) if finite.any() else 0.0
        hi = float(arr[finite].max()) if finite.any() else 0.0
        arr = np.clip(np.where(nan, lo, arr), lo, hi)
    if mode.startswith("I;16"):
        scaled = arr / 65535.0 * 255.0
    else:
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
        if mode.startswith("F") and lo >= 0.0 and hi <= 1.0:
            scaled = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            scaled = arr
        elif lo >= 0.0 and hi <= 65535.0:
            scaled = arr / 65535.0 * 255.0
        else:  # negative or beyond 16 bits: stretch min..max to 0..255
            scaled = (arr - lo) / (hi - lo) * 255.0
    gray = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    gray[nan] = 0
    return gray


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to an (H, W, 3) uint8 array."""
    mode = img.mode
    if _HIGH_DEPTH_GRAY.match(mode):
        gray = _scale_gray(np.asarray(img), mode)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels are shown on white, as an image viewer would.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own log lines (decoder warnings) for a moment."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None or not hasattr(log, "getLogLevel"):  # pragma: no cover
        yield
        return
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(previous)


def _read_with_opencv(path: Path | bytes) -> np.ndarray | None:
    if isinstance(path, bytes):
        data = np.frombuffer(path, dtype=np.uint8)
    else:
        data = np.fromfile(path, dtype=np.uint8)
    with _quiet_opencv():
        try:
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        except cv2.error:
            return None
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _too_many_pixels(
    path: Path, width: int, height: int, limit: int
) -> ImageTooLargeError:
    return ImageTooLargeError(
        path,
        f"image is {width}x{height} = {width * height:,} pixels, more than the "
        f"limit of {limit:,} pixels (max_pixels; protects against decompression "
        "bombs)",
    )


def _bomb_reason(exc: Exception) -> str:
    match = re.search(r"\((\d+) pixels\).*?limit of (\d+) pixels", str(exc))
    if match is None:
        return f"image is too large to decode safely (decompression bomb?): {exc}"
    declared, limit = int(match[1]), int(match[2])
    return (
        f"image declares {declared:,} pixels, more than Pillow's limit of "
        f"{limit:,} pixels (decompression bomb protection)"
    )


_HEIF_NEEDS_PILLOW_HEIF = (
    "is a HEIC/HEIF photo; reading it needs the pillow-heif package: "
    "pip install 'skemotion[heif]'"
)


def _heif_opener_added(source: Path | bytes, name) -> bool:
    """Give Pillow pillow-heif's opener if ``source`` is HEIF and it has none.

    Called when Pillow cannot identify ``source``. True when the opener has
    just been registered (open it again: the same Pillow path then reads it,
    limits, orientation and errors unchanged); False when ``source`` is not
    HEIF or Pillow has the opener already (its verdict stands). Registered
    once per process, and never before a HEIF file is met; an opener
    registered by the caller (with options of their own) is kept.

    Raises
    ------
    ImageReadError
        Naming ``name``, if ``source`` is HEIF and pillow-heif is missing
        (or broken).
    """
    if "HEIF" in Image.OPEN or sniff_format(_read_head(source, 16)) != "HEIF":
        return False
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # not installed, or its libheif cannot be loaded
        raise ImageReadError(name, _HEIF_NEEDS_PILLOW_HEIF) from None
    except Exception as exc:  # a broken installation: say so, no traceback
        raise ImageReadError(
            name,
            "is a HEIC/HEIF photo, and pillow-heif cannot be loaded to read it "
            f"({type(exc).__name__}: {exc})",
        ) from None
    return "HEIF" in Image.OPEN


def _refuse_damaged_heif(source: Path | bytes, name) -> None:
    """Raise for a HEIF file whose boxes do not fit in it (cut short).

    Checked before any library sees the file: libheif's verdict on a
    truncated file changes between versions (an error, nothing, or a
    picture half gray).
    """
    if sniff_format(_read_head(source, 16)) != "HEIF":
        return
    reason = heif_damage(source)
    if reason is not None:
        raise ImageReadError(name, f"truncated or corrupt HEIF data ({reason})")


def _header_size(source: Path | bytes, name) -> tuple[int, int] | None:
    """The size an image's header declares (no pixel decoded), or None when
    Pillow cannot open it (:func:`read_image` then says why)."""
    _refuse_damaged_heif(source, name)
    for _attempt in range(2):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                fp = io.BytesIO(source) if isinstance(source, bytes) else source
                with Image.open(fp) as img:
                    return img.size
        except Exception:  # read_image names the problem, if there is one
            pass
        if not _heif_opener_added(source, name):
            return None
    return None  # pragma: no cover - the opener is added at most once


def _read_with_pillow(
    path: Path, max_pixels: int | None, data: bytes | None = None
) -> np.ndarray:
    """Decode with Pillow: the file at ``path``, or ``data`` named ``path``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data) if data is not None else path) as img:
            return _pillow_to_rgb(img, path, max_pixels)


def _pillow_to_rgb(img: Image.Image, path, max_pixels: int | None) -> np.ndarray:
    """An opened Pillow image, upright, as RGB; ``path`` names it in errors."""
    width, height = img.size
    if max_pixels is not None and width * height > max_pixels:
        raise _too_many_pixels(path, width, height, max_pixels)
    if width < 1 or height < 1:
        raise ImageReadError(path, f"image has no pixels ({width}x{height})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img.load()
    try:
        upright = ImageOps.exif_transpose(img)
    except Exception as exc:  # a broken EXIF block: keep the pixels
        logger.warning(
            "%s: EXIF orientation could not be read (%s); the image is used as "
            "stored", path, exc,
        )  # fmt: skip
        upright = img
    return _to_rgb(upright if upright is not None else img)


def probe_image(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> None:
    """Check a file cheaply: :func:`check_image_file` plus its image header.

    Reads only the first bytes (Pillow's header parse, no pixel decoding), so
    a batch of thousands of paths is sorted out in moments, before any costly
    work. Catches missing, empty, special, too large, non-image files and
    decompression bombs; a file whose header is fine but whose pixel data is
    truncated passes, and :func:`read_image` reports it later.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_pixels : int or None, default=100_000_000
        As for :func:`read_image`.
    max_file_size : int or None, default=268_435_456
        As for :func:`read_image`.

    Raises
    ------
    ImageReadError
        The same error, with the same message, that :func:`read_image` would
        raise for the problem found.
    """
    check_image_file(path, max_file_size=max_file_size)
    path = Path(os.fspath(path))
    size = _header_size(path, path)
    if size is None or (max_pixels is not None and size[0] * size[1] > max_pixels):
        # not something Pillow identifies (OpenCV may still read it), or too
        # large: let read_image decide and word the error
        read_image(path, max_pixels=max_pixels, max_file_size=max_file_size)


def read_image(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> np.ndarray:
    """Read an image file as an RGB uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        Image file in any format Pillow or OpenCV reads (JPEG, PNG, GIF,
        WebP, BMP, TIFF, ...), or a HEIC/HEIF photo when pillow-heif is
        installed (``pip install 'skemotion[heif]'``); the content decides,
        not the file name's suffix. The EXIF orientation is applied (for
        HEIC, its rotation and mirroring), so a photo taken sideways comes
        back upright (a broken EXIF block is logged and ignored).
        Palette, grayscale, 16-bit, 32-bit, float, CMYK and transparent
        images are converted to RGB (transparency on white; 16-bit data
        scaled from 0-65535; float data in [0, 1] scaled by 255, NaN as 0);
        for animated images the first frame is used.
    max_pixels : int or None, default=100_000_000
        Refuse images with more pixels than this, read from the file's
        header before any pixel is decoded (protection against
        decompression bombs). ``None`` disables this check; Pillow's own
        limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 million pixels)
        still applies.
    max_file_size : int or None, default=268_435_456
        Refuse files larger than this many bytes (256 MiB), before reading
        them. ``None`` disables the check.

    Returns
    -------
    image : ndarray of shape (height, width, 3), dtype uint8
        The image in RGB order.

    Raises
    ------
    ImageReadError
        If the file does not exist, is a directory or a special file, cannot
        be read, is empty, truncated or corrupt, too large (bytes or
        pixels), is not an image, or is a HEIC/HEIF photo and pillow-heif is
        not installed. The message names the file and the
        problem; no exception of Pillow, OpenCV or NumPy escapes.
    """
    path = Path(os.fspath(path))
    check_image_file(path, max_file_size=max_file_size)
    return _decode(path, path, max_pixels)


def decode_image(
    data: bytes,
    *,
    name: str = "<bytes>",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> np.ndarray:
    """Decode an image file's content, held in memory, as an RGB uint8 array.

    What :func:`read_image` does for a file, for its bytes (an upload, a
    blob from a database, a frame from a stream): the same formats,
    conversions, limits and errors.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The content of an image file (JPEG, PNG, HEIC, ...).
    name : str, default="<bytes>"
        What errors call it.
    max_pixels : int or None, default=100_000_000
        As for :func:`read_image`.
    max_file_size : int or None, default=268_435_456
        Refuse more bytes than this, as for a file.

    Returns
    -------
    image : ndarray of shape (height, width, 3), dtype uint8

    Raises
    ------
    ImageReadError
        If the bytes are empty, too many, truncated or corrupt, too large in
        pixels, or not an image; the message starts with ``name``.
    """
    data = bytes(data)
    if not data:
        raise ImageReadError(name, "no bytes (0 bytes)")
    if max_file_size is not None and len(data) > max_file_size:
        raise ImageTooLargeError(
            name,
            f"is {_human_size(len(data))}, more than the limit of "
            f"{_human_size(max_file_size)} (max_file_size={max_file_size})",
        )
    return _decode(data, name, max_pixels)


def _decode(source: Path | bytes, name, max_pixels: int | None) -> np.ndarray:
    """Decode a file (a path) or its content (bytes); errors name ``name``."""
    _refuse_damaged_heif(source, name)
    data = source if isinstance(source, bytes) else None
    rgb = None
    try:
        rgb = _read_with_pillow(source if data is None else name, max_pixels, data)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        pass  # tried below, outside this handler: no chained Pillow traceback
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(name, _bomb_reason(exc)) from None
    except FileNotFoundError:
        raise ImageReadError(
            name, "file does not exist (it disappeared while being read)"
        ) from None
    except PermissionError:
        raise ImageReadError(
            name, "permission denied: the file cannot be read"
        ) from None
    except MemoryError:
        raise ImageReadError(name, "not enough memory to decode the image") from None
    except Exception as exc:  # Pillow's decoders raise many types on bad data
        logger.debug("%s: decoding failed", name, exc_info=True)
        kind = sniff_format(_read_head(source)) or "image"
        detail = (
            str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        )
        raise ImageReadError(
            name, f"truncated or corrupt {kind} data ({detail})"
        ) from None
    if rgb is None:
        if _heif_opener_added(source, name):  # Pillow reads HEIF from now on
            return _decode(source, name, max_pixels)
        rgb = _read_unidentified(source, name, max_pixels)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageReadError(name, f"image has no usable pixels (shape {rgb.shape})")
    return np.ascontiguousarray(rgb)


def _read_unidentified(
    source: Path | bytes, name, max_pixels: int | None
) -> np.ndarray:
    """Try OpenCV on what Pillow cannot identify; say what it is if not an image."""
    head = _read_head(source)
    kind = sniff_format(head)
    if kind is not None:  # a format Pillow reads: its verdict is final
        raise ImageReadError(
            name,
            f"truncated or corrupt {kind} file: its first bytes say {kind} but its "
            "header cannot be decoded",
        )
    try:
        rgb = _read_with_opencv(source)
    except MemoryError:
        raise ImageReadError(name, "not enough memory to decode the image") from None
    except (OSError, ValueError) as exc:
        raise ImageReadError(name, f"cannot be read ({exc})") from None
    if rgb is None:
        raise ImageReadError(
            name,
            "not an image file that Pillow or OpenCV can read: "
            + _describe_content(head),
        )
    height, width = rgb.shape[:2]
    if max_pixels is not None and width * height > max_pixels:
        raise _too_many_pixels(name, width, height, max_pixels)
    return rgb


def image_from_array(
    image, *, name: str = "<array>", max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """An image held in memory (an array or a Pillow image) as RGB uint8.

    Parameters
    ----------
    image : ndarray or PIL.Image.Image
        An array of shape ``(height, width)`` (gray), ``(height, width, 1)``,
        ``(height, width, 3)`` (RGB) or ``(height, width, 4)`` (RGBA,
        composited on white), of any numeric dtype: uint8 as it is; bool as
        black and white; other types mapped to 0-255 as :func:`read_image`
        maps 16-bit, 32-bit and float images. Or a Pillow image, converted as
        :func:`read_image` converts a file's.
    name : str, default="<array>"
        What errors call it.
    max_pixels : int or None, default=100_000_000
        Refuse images with more pixels than this.

    Returns
    -------
    image : ndarray of shape (height, width, 3), dtype uint8

    Raises
    ------
    ImageReadError
        If it is not an image of those shapes and types, or too large.
    """
    if isinstance(image, Image.Image):
        try:
            return np.ascontiguousarray(_pillow_to_rgb(image, name, max_pixels))
        except ImageReadError:
            raise
        except Exception as exc:
            raise ImageReadError(
                name, f"Pillow image cannot be converted ({type(exc).__name__}: {exc})"
            ) from None
    arr = np.asarray(image)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ImageReadError(name, f"is not a numeric image array (dtype {arr.dtype})")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageReadError(
            name,
            f"is not an image: shape {arr.shape}, expected (height, width), "
            "(height, width, 3) or (height, width, 4)",
        )
    height, width = arr.shape[:2]
    if height < 1 or width < 1:
        raise ImageReadError(name, f"image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise _too_many_pixels(name, width, height, max_pixels)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        mode = "F" if arr.dtype.kind == "f" else "I"
        arr = _scale_gray(arr, mode)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2))
    if arr.shape[2] == 4:  # transparent pixels on white, as a viewer shows them
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        rgb = arr[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return np.ascontiguousarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
    return np.ascontiguousarray(arr)
