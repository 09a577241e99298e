"""YuNet (libfacedetection's CNN), on LiteRT or on libfacedetection itself.

Two engines give the same faces (``tools/build_yunet.py`` checks it: every
face of at least 0.85 confidence, box, landmarks and score, on the post's and
face-count's photos at 800 and 320 px):

* **LiteRT** (where ``ai-edge-litert`` is installed): the same network with
  the same weights, built into ``files/yunet.tflite`` by
  ``tools/build_yunet.py``, run by LiteRT's XNNPACK kernels on the image
  padded with zeros below and to the right up to multiples of 32, as
  libfacedetection pads it (more padding would change the faces: the
  layers' biases fill it); its outputs are decoded here as libfacedetection
  decodes them.
  On the post's photos the network takes 2.7 times less CPU than the
  ``yuface`` wheel's build (12.9 against 35.0 ms a photo, one core), and
  :func:`detect_faces` (shrinking and decoding included) half
  (benchmarks/README.md, "Photos end to end").
* **libfacedetection** (the ``yuface`` wheel), called directly: ``yuface``'s
  Python binding allocates a result buffer on every call and never frees it
  (measured: the process grew 0.45 MiB per 12 photos, without end, so a
  server leaked about 2 MiB a second) and holds the GIL while it detects.
  The library it wraps takes the caller's buffer: called through ctypes with
  a buffer of our own (freed with it), nothing leaks, and ctypes lets go of
  the GIL for the call. Where the library or its function cannot be found
  (another platform or build), the binding is used as it is.

Both give libfacedetection's rows: per face, 16 integers (the score times
100, x, y, width, height, five x, y landmarks, one unused), truncated as
libfacedetection truncates them, the most confident first.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import threading
from pathlib import Path

import numpy as np

from .._litert import litert_available, resize_input

__all__ = ["litert_detector", "yunet_engine", "yunet_function"]

#: YuNet for LiteRT (``tools/build_yunet.py``) and its sha256, checked
#: before the file is loaded.
LITERT_MODEL = Path(__file__).parent / "files" / "yunet.tflite"
LITERT_SHA256 = "87cd078a7e4b24811f66f805c75cb9d19447b2e5ed11f5770450e87cff7683a5"
#: libfacedetection's decoding: the strides of the three outputs, the
#: confidence a candidate needs, the overlap above which a less confident
#: box is dropped, the candidates kept before and the faces after.
_STRIDES = (8, 16, 32)
_CANDIDATE_CONFIDENCE = np.float32(0.5)
_OVERLAP = np.float32(0.3)
_TOP_K, _KEEP_TOP_K = 1000, 100

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


def litert_detector(path: Path = LITERT_MODEL, sha256: str | None = LITERT_SHA256):
    """``detect(bgr) -> rows``: YuNet on LiteRT, from ``path`` (its sha256
    checked unless ``sha256`` is None).

    One single-threaded interpreter, which threads take in turn: its memory
    grows with the largest image it has seen, and one for each of the
    server's three face-finding threads held 143 MiB more after bursts of
    full-size photos (one: 29 MiB; the slow test allows 100). The threads
    still read images, crop faces and turn YuNet's outputs into faces side
    by side.
    """
    from ai_edge_litert.interpreter import Interpreter

    content = Path(path).read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if sha256 is not None and digest != sha256:
        raise RuntimeError(
            f"{path}: YuNet's sha256 is {digest[:12]}..., not {sha256[:12]}...: the "
            "installation is damaged; reinstall skemotion"
        )
    state = _LiteState(Interpreter(model_content=content, num_threads=1))
    turn = threading.Lock()

    def detect(bgr: np.ndarray) -> np.ndarray:
        bgr = np.asarray(bgr, dtype=np.uint8)
        with turn:
            outputs = state.run(bgr)
        return _decode(outputs)

    return detect


class _LiteState:
    """The interpreter, resized when the padded image's shape changes."""

    def __init__(self, interpreter) -> None:
        self.interpreter = interpreter
        self.input = interpreter.get_input_details()[0]["index"]
        self.outputs = [o["index"] for o in interpreter.get_output_details()]
        self.shape: tuple[int, int] | None = None
        self.batch: np.ndarray | None = None

    def run(self, bgr: np.ndarray) -> list[np.ndarray]:
        """The three outputs for ``bgr`` padded with zeros to multiples of 32
        (as libfacedetection pads it), finest first."""
        height, width = bgr.shape[:2]
        shape = (-(-height // 32) * 32, -(-width // 32) * 32)
        if shape != self.shape:
            resize_input(self.interpreter, self.input, (1, *shape, 3),
                         first=self.shape is None)  # fmt: skip
            self.shape = shape
            self.batch = np.zeros((1, *shape, 3), dtype=np.float32)
        batch = self.batch
        batch[0, :height, :width] = bgr
        batch[0, height:] = 0
        batch[0, :height, width:] = 0
        self.interpreter.set_tensor(self.input, batch)
        self.interpreter.invoke()
        outputs = [self.interpreter.get_tensor(i)[0] for i in self.outputs]
        return sorted(outputs, key=lambda o: -o.shape[0] * o.shape[1])


#: Where libfacedetection clips what its sigmoid takes.
_SIGMOID_LIMIT = np.float32(88.3762626647949)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, -_SIGMOID_LIMIT, _SIGMOID_LIMIT)
    return np.float32(1) / (np.float32(1) + np.exp(-values))


def _decode(outputs: list[np.ndarray]) -> np.ndarray:
    """libfacedetection's rows from the network's three outputs: candidates
    decoded at each stride, the confident ones kept, non-maximum suppression,
    then the values truncated to integers, all in float32 as it computes."""
    candidates = []
    for stride, output in zip(_STRIDES, outputs, strict=True):
        rows, cols = output.shape[:2]
        step = np.float32(stride)
        prior_y, prior_x = np.mgrid[0:rows, 0:cols].astype(np.float32) * step
        confidence = np.sqrt(_sigmoid(output[..., 0]) * _sigmoid(output[..., 15]))
        centre_x = output[..., 1] * step + prior_x
        centre_y = output[..., 2] * step + prior_y
        half_w = np.exp(output[..., 3]) * step / np.float32(2)
        half_h = np.exp(output[..., 4]) * step / np.float32(2)
        points = output[..., 5:15].reshape(rows, cols, 5, 2) * step
        points += np.stack([prior_x, prior_y], axis=-1)[:, :, np.newaxis, :]
        candidates.append(np.concatenate([
            confidence[..., np.newaxis],
            np.stack([centre_x - half_w, centre_y - half_h, centre_x + half_w,
                      centre_y + half_h], axis=-1),
            points.reshape(rows, cols, 10),
        ], axis=-1).reshape(-1, 15))  # fmt: skip
    found = np.concatenate(candidates)
    found = found[found[:, 0] >= _CANDIDATE_CONFIDENCE]
    found = found[np.argsort(-found[:, 0], kind="stable")][:_TOP_K]
    kept = found[:0]
    for row in found:  # each candidate, the most confident first
        if not (_overlaps(row[1:5], kept[:, 1:5]) > _OVERLAP).any():
            kept = np.concatenate([kept, row[np.newaxis]])
    kept = kept[:_KEEP_TOP_K]
    boxes = kept[:, 1:5]
    faces = np.zeros((len(kept), 16), dtype=np.int16)
    faces[:, 0] = np.trunc(kept[:, 0] * np.float32(100))
    faces[:, 1:3] = np.trunc(boxes[:, :2])
    faces[:, 3:5] = np.trunc(boxes[:, 2:] - boxes[:, :2])
    faces[:, 5:15] = np.trunc(kept[:, 5:15])
    return faces


def _overlaps(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of ``box`` with each of ``others``, 0 where
    they do not overlap, in float32 as libfacedetection computes it."""
    width = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    height = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        union = inter / (area + areas - inter)
    return np.where((width > 0) & (height > 0), union, np.float32(0))


def _libfacedetection():
    function = _library_function()
    if function is None:  # the binding: leaks, holds the GIL, but works
        from yuface.yuface import detect as binding

        return binding
    detect = _direct(function)
    with _FIRST_CALL:
        detect(np.zeros((32, 32, 3), dtype=np.uint8))
    return detect


@functools.lru_cache(maxsize=3)
def yunet_function(litert: bool | None = None):
    """``detect(bgr) -> rows``: YuNet on a BGR uint8 image, one row of 16 per
    face (score 0-100, x, y, width, height, five x, y landmarks, unused).

    ``litert``: True for the LiteRT engine, False for libfacedetection (the
    ``yuface`` package), None for LiteRT where ai-edge-litert is installed.
    Raises ImportError when the engine asked for (or neither) is installed.
    """
    if litert is None:
        litert = litert_available()
    if litert:
        return litert_detector()
    return _libfacedetection()


def yunet_engine() -> str:
    """What runs YuNet here: ``"litert"`` (ai-edge-litert installed) or
    ``"libfacedetection"`` (the ``yuface`` package)."""
    return "litert" if litert_available() else "libfacedetection"
