"""An on-disk cache of per-image results, keyed by content and parameters.

Face detection and VGG16 encoding are the costly steps; a grid search over the
classifier's parameters would otherwise repeat them for every candidate and
fold. :class:`FeatureCache` stores one ``.npz`` file per image and setting,
under a key made from the image's bytes and every parameter that changes the
result, so a change of crop size or weights misses and never returns stale
values.
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

__all__ = ["FeatureCache", "as_cache"]

#: Bumped whenever what is stored, or how it is computed, changes.
CACHE_FORMAT = 2
#: Look-ups per (location, "hits" | "misses") in this process.
_COUNTS: Counter = Counter()
_COUNTS_LOCK = threading.Lock()


class FeatureCache:
    """A folder of arrays, one file per key.

    Parameters
    ----------
    location : str or os.PathLike
        Folder of the cache (created when first written).

    Attributes
    ----------
    hits, misses : int
        Look-ups of this folder answered from and missing from the cache in
        this process, by any ``FeatureCache`` of the same location (worker
        processes' look-ups are added by the step that started them). The
        counts live outside the object, so a cache given as a parameter is
        never changed by using it; :meth:`reset_counts` sets them to 0.

    Notes
    -----
    Several processes may share one folder (the cropper's workers, or a
    cluster's workers on a shared file system): every file is written to a
    temporary name and renamed, so readers see a whole file or none, and two
    writers of the same key write the same bytes.
    """

    def __init__(self, location: str | os.PathLike) -> None:
        self.location = Path(os.fspath(location))

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
        return f"FeatureCache({str(self.location)!r})"

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
        digest = hashlib.sha256()
        header = json.dumps(
            {"kind": kind, "format": CACHE_FORMAT, "params": params},
            sort_keys=True, default=str,
        )  # fmt: skip
        digest.update(header.encode())
        digest.update(content.encode() if isinstance(content, str) else content)
        return f"{kind}-{digest.hexdigest()}"

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
        try:
            with np.load(self._path(key), allow_pickle=False) as stored:
                value = {name: stored[name] for name in stored.files}
        except (FileNotFoundError, ValueError, OSError, EOFError):
            self.count(misses=1)
            return None
        self.count(hits=1)
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
