"""Image files before their pixels: the cheap checks and what their bytes say.

:func:`check_image_file` checks that a path is a readable, non-empty regular
file of acceptable size without opening it as an image; :func:`sniff_format`
names the format a file's first bytes announce, and the wording of what a
file that is not an image seems to hold. The limits every reader shares are
here too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..exceptions import ImageReadError, ImageTooLargeError

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "check_image_file",
    "sniff_format",
]

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
        ".heic",
        ".heif",
    }
)

#: Default upper bound on the number of pixels of one image (decompression bombs).
DEFAULT_MAX_PIXELS = 100_000_000

#: Default upper bound on the size of one image file, in bytes (256 MiB).
DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024

# First bytes of the formats Pillow reads, to say what a broken file was meant to be.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)

# The major brands (bytes 8 to 12, after ``ftyp`` at 4 to 8) of the HEIF
# files pillow-heif's Pillow opener accepts: HEIC photos (iPhones), HEVC
# sequences and the generic HEIF brands.
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
     b"mif1", b"msf1"}
)  # fmt: skip


def _human_size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n_bytes} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n_bytes} bytes"  # pragma: no cover - unreachable


def _special_file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def check_image_file(
    path: str | os.PathLike, *, max_file_size: int | None = DEFAULT_MAX_FILE_SIZE
) -> None:
    """Check that a path is a readable, non-empty file of acceptable size.

    The cheap checks :func:`read_image` makes before opening a file: one
    ``stat`` call, no reading. Useful to sort out a large batch of paths
    before any decoding.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_file_size : int or None, default=268_435_456
        Refuse files larger than this many bytes (256 MiB by default).
        ``None`` disables the check.

    Raises
    ------
    ImageReadError
        If the path does not exist (or is a broken symbolic link), is a
        folder or a special file (FIFO, device, socket), cannot be read,
        is empty or is larger than ``max_file_size``. The message names the
        file and the problem.
    """
    path = Path(os.fspath(path))
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageReadError(
                path, "broken symbolic link: its target does not exist"
            ) from None
        raise ImageReadError(path, "file does not exist") from None
    except NotADirectoryError:
        raise ImageReadError(
            path, "file does not exist (a part of its folder path is a file)"
        ) from None
    except PermissionError:
        raise ImageReadError(
            path, "permission denied: a folder on its path cannot be entered"
        ) from None
    except (OSError, ValueError) as exc:  # name too long, symlink loop, NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ImageReadError(path, f"cannot be accessed ({reason})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageReadError(path, "is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        kind = _special_file_kind(info.st_mode)
        raise ImageReadError(path, f"is a {kind}, not a regular image file")
    if not os.access(path, os.R_OK):
        raise ImageReadError(path, "permission denied: the file cannot be read")
    if info.st_size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    if max_file_size is not None and info.st_size > max_file_size:
        raise ImageTooLargeError(
            path,
            f"file is {_human_size(info.st_size)}, more than the limit of "
            f"{_human_size(max_file_size)} (max_file_size={max_file_size})",
        )


def _read_head(path: Path | bytes, n: int = 512) -> bytes:
    if isinstance(path, bytes):
        return path[:n]
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def sniff_format(head: bytes) -> str | None:
    """The image format a file's first bytes announce, if any.

    Parameters
    ----------
    head : bytes
        The file's first bytes (12 are enough).

    Returns
    -------
    format : str or None
        ``"PNG"``, ``"JPEG"``, ``"GIF"``, ``"TIFF"``, ``"BMP"``, ``"WebP"`` or
        ``"HEIF"`` (an ISO-BMFF ``ftyp`` box with a HEIC/HEIF major brand:
        iPhone photos), or ``None`` for anything else.
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def heif_damage(source: Path | bytes) -> str | None:
    """What is wrong with a HEIF file's box structure, or None if it is whole.

    A HEIC/HEIF photo is a sequence of ISO-BMFF boxes (``ftyp``, ``meta``,
    ``mdat``, ...), each starting with its size. A file cut short ends
    inside its last box; some libheif versions decode such a file anyway
    (a gray or partial picture, or nothing at all when probed), so this
    check does not depend on the library: only the box headers are read
    (16 bytes a box), never the pixels.

    Parameters
    ----------
    source : Path or bytes
        The file, or its content.

    Returns
    -------
    reason : str or None
        Why the file is not a whole HEIF file, in words; None when every
        top-level box fits in it.
    """
    if isinstance(source, bytes):
        return _box_damage(len(source), lambda at, n: source[at : at + n])
    try:
        fh = open(source, "rb")
    except OSError:
        return None  # the reader says what is wrong with the file
    with fh:

        def read(at: int, n: int) -> bytes:
            fh.seek(at)
            return fh.read(n)

        return _box_damage(os.fstat(fh.fileno()).st_size, read)


def _box_damage(total: int, read) -> str | None:
    offset, boxes = 0, 0
    while offset < total:
        header = read(offset, 16)
        if len(header) < 8:
            return f"ends inside a box header at byte {offset:,} of {total:,}"
        size, kind = int.from_bytes(header[:4], "big"), header[4:8]
        if size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return f"ends inside a box header at byte {offset:,} of {total:,}"
            size = int.from_bytes(header[8:16], "big")
        elif size == 0:  # the last box runs to the end of the file
            size = total - offset
        name = kind.decode("latin-1")
        if size < 8:
            return f"box {name!r} at byte {offset:,} declares {size} bytes"
        if offset + size > total:
            return (
                f"file is cut short: box {name!r} at byte {offset:,} declares "
                f"{size:,} bytes, but the file ends {offset + size - total:,} "
                "bytes before its end"
            )
        offset += size
        boxes += 1
    if boxes == 0:
        return "no box"
    return None


def _describe_content(head: bytes) -> str:
    """Say in words what a file that is not an image seems to hold."""
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
        kind = "it looks like an HTML page"
    elif b"<svg" in lowered:
        kind = "it looks like an SVG drawing; vector images are not supported"
    elif lowered.startswith((b"{", b"[")) and b"\x00" not in head:
        kind = "it looks like JSON or another text file"
    else:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
            kind = "it looks like a text file"
        else:
            kind = "unknown binary content"
    return f"{kind} (starts with {head[:16]!r})"
