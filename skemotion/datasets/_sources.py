"""What the pipeline's first step takes: image files, or images in memory.

Every front end (the pipeline, ``predict_topk``, a server, a video) hands
images to :class:`~skemotion.FaceCropper` as a 1-D list of *sources*: paths,
or images held in memory — arrays, Pillow images, or the encoded bytes of an
image file. :func:`as_sources` validates such a list; :func:`read_source`,
:func:`probe_source` and :func:`source_content` treat each kind alike, with
the same limits and errors as files. An image in memory is named
``<array #3>``, ``<bytes #3>`` or ``<PIL image #3>`` (its position) in
errors and results.
"""

from __future__ import annotations

import os

import numpy as np

from ..exceptions import ImageReadError
from ._image_files import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_PIXELS, check_image_file
from ._image_io import (
    _header_size,
    decode_image,
    image_from_array,
    probe_image,
    read_image,
)

__all__ = ["InMemoryImage", "as_sources", "check_paths", "probe_source", "read_source",
           "source_content", "source_name"]  # fmt: skip


class InMemoryImage:
    """An image given in memory, with the name errors and results call it.

    Parameters
    ----------
    name : str
        ``<array #3>``, ``<bytes #3>``, ``<PIL image #3>``.
    value : ndarray, bytes or PIL.Image.Image
    """

    __slots__ = ("name", "value")

    def __init__(self, name: str, value) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"InMemoryImage({self.name!r})"

    def __reduce__(self):
        value = self.value
        if _is_pil(value):  # a Pillow image crosses processes as its pixels
            value = image_from_array(value, name=self.name, max_pixels=None)
        return (InMemoryImage, (self.name, value))


def _is_pil(value) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def _item(i: int, item):
    if isinstance(item, InMemoryImage):  # named already (sources passed on)
        return item
    if isinstance(item, (str, os.PathLike)):
        return os.fsdecode(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return InMemoryImage(f"<bytes #{i}>", bytes(item))
    if isinstance(item, np.ndarray) and item.dtype != object:
        return InMemoryImage(f"<array #{i}>", item)
    if _is_pil(item):
        return InMemoryImage(f"<PIL image #{i}>", item)
    raise ValueError(
        f"X[{i}] is {item!r:.60} of type {type(item).__name__}; expected an image "
        "path (str or os.PathLike), an image array, a PIL image or an image "
        "file's bytes"
    )


def as_sources(X) -> list:
    """Validate what :class:`~skemotion.FaceCropper` takes; a list of sources.

    Parameters
    ----------
    X : array-like
        A 1-D array-like (list, tuple, array, pandas Series) of image paths,
        image arrays, PIL images or encoded image bytes, mixed at will; or a
        batch of images as one array of shape ``(n, height, width, 3)``
        (``(n, height, width)`` for gray, ``(n, height, width, 4)`` for RGBA).

    Returns
    -------
    sources : list of str or InMemoryImage
        Paths as ``str``, everything else wrapped with its name.

    Raises
    ------
    ValueError
        For a lone path or image (wrap it in a list), an empty ``X``, or an
        item that is none of those.
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        shown = os.fsdecode(X) if not isinstance(X, bytes) else f"{len(X)} bytes"
        raise ValueError(
            f"X must be a 1-D array-like of images, got a single one ({shown!r:.80}); "
            "wrap it in a list: [image]"
        )
    if _is_pil(X):
        raise ValueError("X must be a list of images, got a single PIL image: [image]")
    if hasattr(X, "to_numpy"):  # pandas Series / DataFrame
        X = X.to_numpy()
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.dtype.kind in "US":  # an array of path strings
            X = X.astype(object)
        elif X.ndim in (3, 4):  # a batch of images
            if len(X) == 0:
                raise ValueError("X is empty: at least one image is required")
            return [InMemoryImage(f"<array #{i}>", x) for i, x in enumerate(X)]
        else:
            raise ValueError(
                "X must be a 1-D array-like of images or a batch of images of "
                f"shape (n, height, width, 3), got an array of shape {X.shape}"
            )
    if isinstance(X, np.ndarray):
        arr = X
    else:
        arr = np.empty(len(X), dtype=object)
        arr[:] = list(X)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            "X must be a 1-D array-like of images (paths, arrays, PIL images or "
            f"bytes), got an array of shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError("X is empty: at least one image is required")
    return [_item(i, item) for i, item in enumerate(arr)]


def check_paths(X) -> list[str]:
    """Validate image files: :func:`as_sources`' rules, then paths only.

    For what reads files by name (:func:`~skemotion.evaluate_model`, the
    cluster). Bytes are an image's content here as everywhere, never a file
    name.

    Parameters
    ----------
    X : array-like of str or os.PathLike
        A 1-D array-like (list, tuple, array, pandas Series) of image paths.

    Returns
    -------
    paths : list of str

    Raises
    ------
    ValueError
        For what :func:`as_sources` refuses, and for an image in memory.
    """
    sources = as_sources(X)
    for i, source in enumerate(sources):
        if isinstance(source, InMemoryImage):
            raise ValueError(
                f"X[{i}] is an image in memory ({source.name}); expected an image "
                "path (str or os.PathLike). Write it to a file, or give it to the "
                "pipeline's predict or to predict_topk, which take images in memory"
            )
    return sources


def source_name(source) -> str:
    """What errors and results call a source: its path, or its in-memory name."""
    return source.name if isinstance(source, InMemoryImage) else source


def read_source(
    source,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> np.ndarray:
    """A source's pixels, RGB uint8, or an ImageReadError naming it."""
    if not isinstance(source, InMemoryImage):
        return read_image(source, max_pixels=max_pixels, max_file_size=max_file_size)
    if isinstance(source.value, bytes):
        return decode_image(source.value, name=source.name, max_pixels=max_pixels,
                            max_file_size=max_file_size)  # fmt: skip
    return image_from_array(source.value, name=source.name, max_pixels=max_pixels)


def probe_source(
    source,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> None:
    """The cheap checks before any decoding: a file's header, bytes' header,
    an array's shape and type; raises what :func:`read_source` would."""
    if not isinstance(source, InMemoryImage):
        probe_image(source, max_pixels=max_pixels, max_file_size=max_file_size)
    elif isinstance(source.value, bytes):
        data = source.value
        if not data or (max_file_size is not None and len(data) > max_file_size):
            decode_image(data, name=source.name, max_file_size=max_file_size)
        size = _header_size(data, source.name)
        if size is None or (max_pixels is not None and size[0] * size[1] > max_pixels):
            decode_image(data, name=source.name, max_pixels=max_pixels,
                         max_file_size=max_file_size)  # fmt: skip
    else:  # an array or a Pillow image: its shape, type and size
        image_from_array(source.value, name=source.name, max_pixels=max_pixels)


def source_content(source, *, max_file_size: int | None) -> bytes | None:
    """The bytes a cache key is made of: a file's content, bytes as given, an
    array's pixels with its shape; None when a file cannot be read."""
    if isinstance(source, InMemoryImage):
        value = source.value
        if isinstance(value, bytes):
            return value
        if _is_pil(value):
            value = image_from_array(value, name=source.name, max_pixels=None)
        arr = np.ascontiguousarray(value)
        return str((arr.shape, arr.dtype.str)).encode() + arr.tobytes()
    try:
        check_image_file(source, max_file_size=max_file_size)
        with open(source, "rb") as fh:
            return fh.read()
    except (OSError, ImageReadError):
        return None
