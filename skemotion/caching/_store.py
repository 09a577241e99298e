"""An on-disk cache of per-image results, keyed by content and parameters.

Face detection and VGG16 encoding are the costly steps; a grid search over the
classifier's parameters would otherwise repeat them for every candidate and
fold. :class:`FeatureCache` stores one ``.npz`` file per image and setting,
under a key made from the image's bytes and every parameter that changes the
result, so a change of crop size or weights misses and never returns stale
values.

Within one process a memo answers repeated look-ups from memory (see
:mod:`._memo`): a file already seen, unchanged since, is not read or hashed
again, and a stored value is not read from disk again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ._memo import DEFAULT_MEMO_BYTES, MEMO, file_identity

__all__ = ["FeatureCache", "as_cache"]

#: Bumped whenever what is stored, or how it is computed, changes (3: faces
#: are aligned with dlib's five-point landmarks, whatever the detector).
CACHE_FORMAT = 3
#: Look-ups per (location, "hits" | "misses") in this process.
_COUNTS: Counter = Counter()
_COUNTS_LOCK = threading.Lock()


class FeatureCache:
    """A folder of arrays, one file per key.

    Parameters
    ----------
    location : str or os.PathLike
        Folder of the cache (created when first written).
    memo_bytes : int, default=268_435_456
        Bound of the process's memo, in bytes (256 MiB): the values looked
        up or stored most recently are kept in memory, and each image file's
        content key by its ``os.stat``, so a grid search's repeated look-ups
        neither read the image nor unzip a stored file. The memo is one per
        process, shared by every ``FeatureCache`` (``clone`` and a folder
        given as ``memory=`` included; each location's values kept apart);
        storing through this handle drops the least recently used entries
        until it holds at most ``memo_bytes``. 0: this handle does not use
        it. Worker processes (``crop__n_jobs``) each have their own memo.

    Attributes
    ----------
    hits, misses : int
        Look-ups of this folder answered from and missing from the cache in
        this process, by any ``FeatureCache`` of the same location (worker
        processes' look-ups are added by the step that started them). The
        counts live outside the object, so a cache given as a parameter is
        never changed by using it; :meth:`reset_counts` sets them to 0.
        Look-ups answered by the memo are hits.

    Notes
    -----
    The memo never returns stale values. Values are kept by their content
    key, which changes with the content. A file is known by its absolute
    path, device, inode, size, modification and status-change times, taken
    by ``os.stat`` on every look-up: a file rewritten or replaced since is
    read and hashed again, even with its size and modification time kept
    (the status-change time cannot be set back). A file changed less than
    2 s before it is read is not remembered by its ``stat`` (git's "racy
    clean" rule): a rewrite within one timestamp tick keeping the size
    would be invisible to ``os.stat``. Clearing the folder does not clear
    the memo of a running process; what the memo returns is still what the
    folder held under the same key.

    Several processes may share one folder (the cropper's workers, or a
    cluster's workers on a shared file system): every file is written to a
    temporary name and renamed, so readers see a whole file or none, and two
    writers of the same key write the same bytes.
    """

    memo_bytes: int = DEFAULT_MEMO_BYTES  # what a handle pickled before it had one uses

    def __init__(
        self, location: str | os.PathLike, memo_bytes: int = DEFAULT_MEMO_BYTES
    ) -> None:
        self.location = Path(os.fspath(location))
        self.memo_bytes = int(memo_bytes)

    @property
    def hits(self) -> int:
        """Look-ups of this location answered from the cache, in this process."""
        return _COUNTS[(self.location, "hits")]

    @property
    def misses(self) -> int:
        """Look-ups of this location not in the cache, in this process."""
        return _COUNTS[(self.location, "misses")]

    def count(self, *, hits: int = 0, misses: int = 0) -> None:
        """Add look-ups made elsewhere (in worker processes) to the counts.

        Parameters
        ----------
        hits : int, default=0
            Look-ups answered from the cache.
        misses : int, default=0
            Look-ups not found.
        """
        with _COUNTS_LOCK:
            _COUNTS[(self.location, "hits")] += hits
            _COUNTS[(self.location, "misses")] += misses

    def reset_counts(self) -> None:
        """Set :attr:`hits` and :attr:`misses` of this location to 0."""
        with _COUNTS_LOCK:
            _COUNTS[(self.location, "hits")] = 0
            _COUNTS[(self.location, "misses")] = 0

    def __repr__(self) -> str:
        if self.memo_bytes == DEFAULT_MEMO_BYTES:
            return f"FeatureCache({str(self.location)!r})"
        return f"FeatureCache({str(self.location)!r}, memo_bytes={self.memo_bytes})"

    def __eq__(self, other) -> bool:
        return isinstance(other, FeatureCache) and other.location == self.location

    def __hash__(self) -> int:
        return hash(self.location)

    def __deepcopy__(self, memo) -> FeatureCache:
        # a handle on a shared store, like joblib.Memory: clone() shares it
        return self

    @staticmethod
    def key(kind: str, content: bytes | str, params: dict) -> str:
        """A key from a kind of result, the input's bytes and the parameters.

        Parameters
        ----------
        kind : str
            What is stored (``"crop"``, ``"vgg16"``): a sub-folder.
        content : bytes or str
            The input (an image file's bytes, a crop's pixels).
        params : dict
            Every parameter that changes the result (JSON-serialisable).

        Returns
        -------
        key : str
        """
        digest = hashlib.sha256(_header(kind, params).encode())
        digest.update(content.encode() if isinstance(content, str) else content)
        return f"{kind}-{digest.hexdigest()}"

    def file_key(
        self, kind: str, path: str | os.PathLike, params: dict, read, *,
        max_size: int | None = None,
    ) -> str | None:  # fmt: skip
        """:meth:`key` of an image file's bytes, read only when not known.

        The file is stat-ed on every call; while its ``stat`` is the one the
        memo saw, the key is the memo's and the file is not read.

        Parameters
        ----------
        kind, params
            As in :meth:`key`.
        path : str or os.PathLike
            The file.
        read : callable
            ``read()`` returns the file's bytes, or None when it cannot or
            may not be read.
        max_size : int or None, default=None
            A file larger than this is never answered from the memo:
            ``read`` is called and decides.

        Returns
        -------
        key : str or None
            None when ``read`` returned None.
        """
        identity = None
        if self.memo_bytes > 0:
            identity = file_identity(path, _header(kind, params), max_size)
        if identity is not None:
            key = MEMO.get_file(identity)
            if key is not None:
                return key
        content = read()
        if content is None:
            return None
        key = self.key(kind, content, params)
        if identity is not None:
            MEMO.put_file(identity, key, self.memo_bytes)
        return key

    def _path(self, key: str) -> Path:
        kind = key.rsplit("-", 1)[0]
        return self.location / kind / key[-64:-62] / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, by name, or None.

        Parameters
        ----------
        key : str
            From :meth:`key`.

        Returns
        -------
        arrays : dict of str to ndarray, or None
            None when nothing is stored (or the file is unreadable).
        """
        use_memo = self.memo_bytes > 0
        value = MEMO.get_arrays(self.location, key) if use_memo else None
        if value is not None:
            self.count(hits=1)
            return value
        try:
            with np.load(self._path(key), allow_pickle=False) as stored:
                value = {name: stored[name] for name in stored.files}
        except (FileNotFoundError, ValueError, OSError, EOFError):
            self.count(misses=1)
            return None
        self.count(hits=1)
        if use_memo:
            MEMO.put_arrays(self.location, key, value, self.memo_bytes)
        return value

    def put(self, key: str, **arrays: np.ndarray) -> None:
        """Store named arrays under ``key``, atomically (never half a file).

        Parameters
        ----------
        key : str
            From :meth:`key`.
        **arrays : ndarray
            The arrays, by name.
        """
        with atomic_path(self._path(key), suffix=".tmp") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        if self.memo_bytes > 0:
            MEMO.put_arrays(self.location, key, arrays, self.memo_bytes)


def _header(kind: str, params: dict) -> str:
    """What a key hashes before the content: the kind, format and parameters."""
    return json.dumps(
        {"kind": kind, "format": CACHE_FORMAT, "params": params},
        sort_keys=True, default=str,
    )  # fmt: skip


def as_cache(memory) -> FeatureCache | None:
    """Turn a ``memory`` parameter into a :class:`FeatureCache` (or None).

    Accepts None, a folder path, a :class:`joblib.Memory` (its location is
    used) or a :class:`FeatureCache`.
    """
    if memory is None or isinstance(memory, FeatureCache):
        return memory
    location = getattr(memory, "location", memory)
    if location is None:  # joblib.Memory(None) caches nothing
        return None
    return FeatureCache(location)
