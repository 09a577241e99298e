"""YuNet (libfacedetection's CNN, from the ``yuface`` wheel), called directly.

``yuface``'s Python binding allocates a result buffer on every call and never
frees it (measured: the process grew 0.45 MiB per 12 photos, without end, so a
server leaked about 2 MiB a second) and holds the GIL while it detects. The
library it wraps, ``libfacedetection``, takes the caller's buffer: called
through ctypes with a buffer of our own (freed with it), nothing leaks, and
ctypes lets go of the GIL for the call, so that detection runs beside other
Python threads. Where the library or its function cannot be found (another
platform or build), the binding is used as it is.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from pathlib import Path

import numpy as np

__all__ = ["yunet_function"]

#: libfacedetection's ``int *facedetect_cnn(unsigned char *result_buffer,
#: unsigned char *bgr, int width, int height, int step)``, a C++ name.
_SYMBOL = "_Z14facedetect_cnnPhS_iii"
#: Held while the library builds its network, on its first call.
_FIRST_CALL = threading.Lock()
#: The result buffer's size its header asks for: a face count (int), then 16
#: shorts per face (score 0-100, x, y, width, height, five x, y landmarks).
_BUFFER_BYTES = 0x20000


def _library_function():
    """libfacedetection's function from yuface's folder, or None."""
    import yuface

    folder = Path(yuface.__file__).parent
    for candidate in sorted(folder.glob("libfacedetection*")):
        try:
            function = getattr(ctypes.CDLL(str(candidate)), _SYMBOL)
        except (OSError, AttributeError):
            continue
        function.restype = ctypes.POINTER(ctypes.c_int)
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 3
        return function
    return None


def _direct(function):
    def detect(bgr: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
        height, width = bgr.shape[:2]
        buffer = np.zeros(_BUFFER_BYTES, dtype=np.uint8)
        function(buffer.ctypes.data, bgr.ctypes.data, width, height, width * 3)
        count = int(buffer[:4].view(np.int32)[0])
        return buffer[4 : 4 + 32 * count].view(np.int16).reshape(count, 16).copy()

    return detect


@functools.lru_cache(maxsize=1)
def yunet_function():
    """``detect(bgr) -> rows``: YuNet on a BGR uint8 image, one row of 16 per
    face (score 0-100, x, y, width, height, five x, y landmarks, unused)."""
    function = _library_function()
    if function is None:  # the binding: leaks, holds the GIL, but works
        from yuface.yuface import detect as binding

        return binding
    detect = _direct(function)
    with _FIRST_CALL:
        detect(np.zeros((32, 32, 3), dtype=np.uint8))
    return detect
