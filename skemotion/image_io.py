"""Reading image files into RGB arrays.

This is the first step of the data flow ``path -> image``: one function,
:func:`read_image`, turns a path into an ``(H, W, 3)`` uint8 RGB array, or
raises :class:`~skemotion.exceptions.ImageReadError` naming the file and the
problem. Pillow reads the file (EXIF orientation honoured, every mode
converted to RGB); files Pillow cannot identify are tried with OpenCV.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .exceptions import ImageReadError

__all__ = ["IMAGE_EXTENSIONS", "read_image"]

#: File name suffixes treated as images when walking folders.
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".bmp",
        ".webp",
        ".tif",
        ".tiff",
        ".ppm",
        ".pgm",
        ".pbm",
        ".jfif",
    }
)

#: Default upper bound on the number of pixels of one image (decompression bombs).
DEFAULT_MAX_PIXELS = 100_000_000


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(path, "file does not exist")
    if path.is_dir():
        raise ImageReadError(path, "is a directory, not an image file")
    if not os.access(path, os.R_OK):
        raise ImageReadError(path, "permission denied: the file cannot be read")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to an (H, W, 3) uint8 array."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels are shown on white, as an image viewer would.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _read_with_opencv(path: Path) -> np.ndarray | None:
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _describe_content(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(16)
    return f"starts with {head!r}"


def read_image(
    path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Read an image file as an RGB uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        Image file in any format Pillow or OpenCV reads (JPEG, PNG, GIF,
        WebP, BMP, TIFF, ...). The EXIF orientation is applied, so a photo
        taken sideways comes back upright. Palette, grayscale, 16-bit, CMYK
        and transparent images are converted to RGB (transparency on white);
        for animated images the first frame is used.
    max_pixels : int or None, default=100_000_000
        Refuse images with more pixels than this (protection against
        decompression bombs). ``None`` disables the check.

    Returns
    -------
    image : ndarray of shape (height, width, 3), dtype uint8
        The image in RGB order.

    Raises
    ------
    ImageReadError
        If the file does not exist, is a directory, is unreadable, empty,
        truncated, too large, or is not an image. The message names the file.
    """
    path = Path(os.fspath(path))
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if max_pixels is not None and img.width * img.height > max_pixels:
                    raise ImageReadError(
                        path,
                        f"image is {img.width}x{img.height} pixels, more than the "
                        f"limit of {max_pixels} pixels (max_pixels)",
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_rgb(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        rgb = _read_with_opencv(path)
        if rgb is None:
            raise ImageReadError(
                path,
                "not an image file that Pillow or OpenCV can read "
                f"({_describe_content(path)})",
            ) from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"image is too large: {exc}") from None
    except PermissionError:
        raise ImageReadError(
            path, "permission denied: the file cannot be read"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"truncated or corrupt image data ({exc})") from None
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageReadError(path, "image has no pixels")
    return np.ascontiguousarray(rgb)
