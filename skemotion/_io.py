"""File helpers used everywhere: atomic writes, digests and file states."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "file_sha256", "file_state", "strings_sha256"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it once the block ends.

    Readers see the old file or the whole new one, never half a file: the
    block writes the temporary file, which is then renamed over ``path``
    (atomic on one file system). On an error the temporary file is removed
    and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    suffix : str, default=""
        Ending of the temporary file's name, for writers that choose the
        format by it (Keras wants ``.weights.h5``).
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, in hex, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_state(path: str | os.PathLike) -> tuple | None:
    """What tells a file as it is now from any other version of it, from one
    ``os.stat``: ``(absolute path, device, inode, size, modification time,
    status-change time)``, times in ns. A file rewritten or replaced since
    has another state, even with its size and modification time kept (the
    status-change time cannot be set back).

    Returns None for a path that cannot be stat-ed or is not a regular file.
    """
    try:
        info = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (os.path.abspath(path), info.st_dev, info.st_ino, info.st_size,
            info.st_mtime_ns, info.st_ctime_ns)  # fmt: skip


def strings_sha256(items: Iterable[str]) -> str:
    """The sha256 of strings, one per line, in the order given."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    return digest.hexdigest()
