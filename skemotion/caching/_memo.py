"""The in-process memo in front of the on-disk store.

A grid search looks every image up once per candidate and fold. On disk each
look-up reads the image file, hashes it and unzips an ``.npz`` file; the memo
answers repeated look-ups from memory instead:

- values by their cache location and content key (``"crop-<sha256>"``):
  the arrays stored under a key never change, so a value held in memory is
  never stale;
- image files by what ``os.stat`` says of them: (absolute path, device,
  inode, size, modification and status-change times in ns) to the content
  key of the bytes read. The file is stat-ed again on every look-up, so a
  rewrite, a rename over it or a restored modification time (the status
  change time, ``st_ctime``, cannot be set back) misses and the file is read
  and hashed again.

The one change ``os.stat`` cannot see is a rewrite that keeps the size and
lands within the same timestamp tick as the version read. Like git's
"racy clean" rule, a file is only remembered once its last change is
:data:`SETTLED_SECONDS` old when it is read: any later change then gets a
later timestamp. (On Windows ``st_ctime`` is the creation time, so a rewrite
of the same size whose modification time is set back by hand is not seen
there.) The rule assumes the file system's clock is not behind this
machine's by more than that margin.

There is one memo per process (:data:`MEMO`), bounded in bytes; each worker
process has its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np

from .._io import file_state

__all__ = ["DEFAULT_MEMO_BYTES", "MEMO", "SETTLED_SECONDS", "Memo", "file_identity"]

#: Default bound of the process's memo, in bytes (256 MiB).
DEFAULT_MEMO_BYTES = 256 * 2**20
#: A file changed less than this long before it is read is not remembered by
#: its ``stat`` (FAT's timestamps are 2 s apart; others are finer).
SETTLED_SECONDS = 2.0
#: What a remembered file costs besides its strings (tuple, ints, entry).
_FILE_ENTRY_BYTES = 256
_ARRAY_BYTES = 128  # the ndarray object and its entry


def file_identity(path, header: str, max_size: int | None) -> tuple | None:
    """What the memo knows a file by: ``header`` and its :func:`file_state`;
    None when the file is not a regular file within ``max_size`` (it is never
    remembered)."""
    state = file_state(path)
    if state is None or (max_size is not None and state[3] > max_size):
        return None
    return (header, *state)


def settled(identity: tuple) -> bool:
    """Whether the file's last change is old enough to trust its ``stat``."""
    changed = max(identity[-2], identity[-1])
    return time.time_ns() - changed >= SETTLED_SECONDS * 1e9


class Memo:
    """A least-recently-used map bounded by the bytes it holds.

    Each store names the bound (the storing handle's ``memo_bytes``): least
    recently used entries, of any cache location, go until the memo holds at
    most that many bytes, counted as the arrays' bytes plus a fixed estimate
    per entry. An entry larger than the bound is not kept. Values are kept
    per location (a folder's hits are what that folder holds); files by
    their ``stat`` alone (their content key is the same for every folder).
    """

    def __init__(self) -> None:
        self.nbytes = 0
        self._entries: OrderedDict = OrderedDict()  # key -> (value, nbytes)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def _get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def _put(self, key, value, nbytes: int, max_bytes: int) -> None:
        if nbytes > max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            self._entries[key] = (value, nbytes)
            self.nbytes += nbytes
            while self.nbytes > max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.nbytes -= dropped

    def get_arrays(self, location, key: str) -> dict[str, np.ndarray] | None:
        """Fresh, writable copies of the arrays remembered under ``key``."""
        arrays = self._get(("value", location, key))
        if arrays is None:
            return None
        return {name: value.copy() for name, value in arrays.items()}

    def put_arrays(
        self, location, key: str, arrays: dict[str, np.ndarray], max_bytes: int
    ) -> None:
        """Remember read-only copies of ``arrays`` (the caller keeps its own)."""
        kept = {}
        for name, value in arrays.items():
            value = np.array(value, copy=True)
            value.setflags(write=False)
            kept[name] = value
        size = len(key) + sum(v.nbytes + _ARRAY_BYTES + len(n) for n, v in kept.items())
        self._put(("value", location, key), kept, size, max_bytes)

    def get_file(self, identity: tuple) -> str | None:
        """The content key of the file as it was when ``identity`` was taken."""
        return self._get(("file", *identity))

    def put_file(self, identity: tuple, key: str, max_bytes: int) -> None:
        """Remember a file's content key, if the file is :func:`settled`."""
        if settled(identity):
            size = _FILE_ENTRY_BYTES + len(identity[0]) + len(identity[1]) + len(key)
            self._put(("file", *identity), key, size, max_bytes)


#: This process's memo, shared by every :class:`FeatureCache`.
MEMO = Memo()
