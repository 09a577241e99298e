"""The server's settings: one checked, typed record."""

from __future__ import annotations

import dataclasses
import math
from numbers import Integral, Real

from ..preprocessing import DETECTORS
from ..pretrained import ENGINES

__all__ = ["ServeSettings"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeSettings:
    """What :func:`create_app` serves with, and its limits.

    Parameters
    ----------
    max_request_bytes : int, default=10_000_000
        Bigger requests are answered 413 as soon as the server knows (from
        their ``Content-Length``, or once that many bytes came); what is left
        of their body is read and thrown away (up to ``max_drain_bytes``)
        before the answer, so that clients that send a whole body before
        reading, as Python's urllib, get the 413 and not a reset connection.
    max_drain_bytes : int, default=64_000_000
        Bytes of a refused body read and thrown away at most; beyond, the
        connection is closed with the answer.
    max_files : int, default=8
        Images per request at most (413 beyond).
    max_pixels : int, default=40_000_000
        Pixels per image at most, read from its header (413 beyond).
    max_queue : int, default=64
        Images waiting for the network at most; a request that would pass it
        is answered 503 at once.
    batch_size : int, default=16
        Images the network sees together.
    face_threads : int or None, default=None
        Threads that find the faces of a batch's images side by side (YuNet
        runs outside Python's GIL); None: one per core, 4 at most.
    top_k : int, default=3
        Classes each face's ``top_k`` lists, most probable first.
    token : str or None, default=None
        When set, the API answers only requests with ``Authorization: Bearer
        <token>`` (compared in constant time).
    cors_origins : sequence of str, default=()
        Origins allowed to call the API from a browser; none by default.
    detector : str or None, default=None
        A face detector of :data:`~skemotion.preprocessing.DETECTORS` used
        instead of the model's own (``"yunet"``, the fast one); None keeps
        the model's.
    engine : {"litert", "tensorflow"} or None, default=None
        What runs the ready model when :func:`create_app` is given none
        (see :func:`~skemotion.load_pretrained`); None: its default. A model
        file or a pipeline runs on its own.
    header_timeout : float, default=10.0
        Seconds a connection may take to send a request's headers, counted
        from when it opened or its previous answer went; a connection that
        sent nothing is then closed, one that sent part of its headers gets
        408 first.
    body_timeout : float, default=60.0
        Seconds a request's body may take to arrive, once its headers came
        (10 MB at 1.4 Mbit/s); later, 408 and the connection closed.
    keep_alive_timeout : float, default=5.0
        Seconds an idle connection is kept open after an answer.
    max_connections : int, default=1000
        Open connections at most; beyond, each request of a new connection
        is answered 503 (and its connection closed) without reaching the
        model.
    shutdown_timeout : float, default=30.0
        On SIGTERM or Ctrl-C the server stops accepting, finishes the
        requests in flight for this long at most, then exits.

    Raises
    ------
    ValueError
        Naming the setting, when a value is out of its range (a size of 0,
        a negative time-out, an unknown detector or engine, an empty token).
    TypeError
        Naming the setting, when a value is of the wrong kind (a time-out
        given as text, say).
    """

    max_request_bytes: int = 10_000_000
    max_files: int = 8
    max_pixels: int = 40_000_000
    max_queue: int = 64
    batch_size: int = 16
    face_threads: int | None = None
    top_k: int = 3
    token: str | None = dataclasses.field(default=None, repr=False)  # a secret
    cors_origins: tuple[str, ...] = ()
    detector: str | None = None
    engine: str | None = None
    max_drain_bytes: int = 64_000_000
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    shutdown_timeout: float = 30.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _COUNTS:
                optional = field.name == "face_threads"
                _check_count(field.name, value, optional=optional)
            elif field.name in _SECONDS:
                _check_seconds(field.name, value)
        drain = self.max_drain_bytes
        if isinstance(drain, bool) or not isinstance(drain, Integral):
            raise TypeError(f"max_drain_bytes must be a whole number, got {drain!r}")
        if drain < 0:  # 0: close at once, read nothing
            raise ValueError(f"max_drain_bytes must be 0 or more, got {drain}")
        if self.token is not None and not (isinstance(self.token, str) and self.token):
            raise ValueError(
                f"token must be a non-empty string or None, got {self.token!r}"
            )
        if self.detector is not None and self.detector not in DETECTORS:
            raise ValueError(
                f"detector must be one of {', '.join(DETECTORS)} or None, got "
                f"{self.detector!r}"
            )
        if self.engine is not None and self.engine not in ENGINES:
            raise ValueError(
                f"engine must be one of {', '.join(ENGINES)} or None, got "
                f"{self.engine!r}"
            )
        origins = self.cors_origins
        if isinstance(origins, str):  # one origin, not its letters
            origins = (origins,)
        origins = tuple(origins)
        if not all(isinstance(o, str) and o for o in origins):
            raise TypeError(f"cors_origins must be origins (text), got {origins!r}")
        object.__setattr__(self, "cors_origins", origins)


#: Settings that count things (at least 1).
_COUNTS = frozenset({
    "max_request_bytes", "max_files", "max_pixels", "max_queue", "batch_size",
    "face_threads", "top_k", "max_connections",
})  # fmt: skip
#: Settings in seconds (above 0, finite).
_SECONDS = frozenset(
    {"header_timeout", "body_timeout", "keep_alive_timeout", "shutdown_timeout"}
)


def _check_count(name: str, value, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _check_seconds(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a number of seconds above 0, got {value}")
