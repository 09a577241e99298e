"""The application on uvicorn, with the settings' time-outs and limits."""

from __future__ import annotations

import ctypes
import logging
import os
import sys

from ._observe import ACCESS_LOGGER, access_formatter
from ._protocol import guarded_protocol

__all__ = ["run_server", "server_config"]


def server_config(
    app, *, host: str = "127.0.0.1", port: int = 8000, http: str = "auto"
):
    """The uvicorn configuration serving ``app`` as :func:`run_server` does.

    Parameters
    ----------
    app : starlette.applications.Starlette
        An application of :func:`create_app`; its :class:`ServeSettings`
        give the time-outs and limits.
    host : str, default="127.0.0.1"
        The address to listen on (this machine only, by default).
    port : int, default=8000
        The port to listen on.
    http : {"auto", "httptools", "h11"}, default="auto"
        uvicorn's HTTP/1.1 implementation: httptools' C parser (the ``serve``
        extra installs it), or h11's, pure Python; ``"auto"``: httptools when
        it is installed.

    Returns
    -------
    config : uvicorn.Config
        For ``uvicorn.Server(config)``: HTTP/1.1 through uvicorn's protocol
        with a header time-out and a connection limit, uvicorn's
        keep-alive time-out, a graceful shutdown bounded by
        ``shutdown_timeout``, uvicorn's own access log off (the application
        writes its own, see :func:`run_server`).
    """
    import uvicorn

    settings, metrics = app.state.settings, app.state.metrics
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(settings, metrics, http),
        ws="none",
        lifespan="on",
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        access_log=False,
        server_header=False,
        log_level="warning",
    )


def _access_log(kind: str | None, path: str | None) -> logging.Handler | None:
    """Send the access log to ``path`` (appended) or standard error."""
    if kind is None:
        return None
    handler = (
        logging.FileHandler(path, encoding="utf-8")
        if path
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(access_formatter(kind))
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


#: glibc's ``mallopt`` parameters (``malloc.h``), and the size from which a
#: block gets a mapping of its own.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_OWN_MAPPING_FROM = 1 << 20


def _give_back_freed_memory() -> bool:
    """Blocks of 1 MiB and more (a decoded photo, a batch's crops) each in a
    mapping of their own, given back to the system when freed; True where
    that was set (glibc, and no ``MALLOC_MMAP_THRESHOLD_`` of the user's).

    glibc otherwise raises the size from which it maps a block each time one
    such block is freed, so a server's photos come to live in heaps that
    grow and are not given back: the ready model on 16 clients sending two
    photos each, 479 MiB resident after the requests, against 316 MiB so.
    """
    if not sys.platform.startswith("linux") or any(
        name in os.environ
        for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, say)
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _OWN_MAPPING_FROM)
        and mallopt(_M_TRIM_THRESHOLD, _OWN_MAPPING_FROM)
    )


def run_server(
    app,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    access_log: str | None = "text",
    access_log_file: str | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C.

    On either, the server stops accepting connections (new clients are
    refused), finishes the requests in flight (for ``shutdown_timeout``
    seconds at most), then returns.

    Parameters
    ----------
    app : starlette.applications.Starlette
        An application of :func:`create_app`.
    host : str, default="127.0.0.1"
        The address to listen on (this machine only, by default).
    port : int, default=8000
        The port to listen on.
    access_log : {"text", "json"} or None, default="text"
        A line per request: ``"text"`` for people, ``"json"`` for JSON lines
        (time, client, method, path, status, bytes in and out, duration in
        ms, user agent, and the error code or the images and faces of a
        prediction); None for none.
    access_log_file : str or None, default=None
        Append the access log to this file rather than standard error.

    Notes
    -----
    On Linux with glibc, memory blocks of 1 MiB and more (decoded photos)
    are given back to the system as soon as they are freed, so the server's
    resident memory stays near what it needs at rest; set
    ``MALLOC_MMAP_THRESHOLD_`` to choose otherwise.
    """
    import uvicorn

    _give_back_freed_memory()
    handler = _access_log(access_log, access_log_file)
    try:
        uvicorn.Server(server_config(app, host=host, port=port)).run()
    finally:
        if handler is not None:
            logging.getLogger(ACCESS_LOGGER).removeHandler(handler)
            handler.close()
