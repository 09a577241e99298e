"""uvicorn's HTTP/1.1 protocols, with a header time-out and a connection limit.

uvicorn closes a connection that stays idle after an answer, but not one that
opens and sends nothing, or sends its headers a byte at a time: such clients
could hold the server's connections for ever. :func:`guarded_protocol` adds,
on top of uvicorn's own protocol, httptools' or h11's (a subclass: their
common hooks only):

* a deadline for each request's headers (``header_timeout``), from when the
  connection opened or its previous answer went; a connection that sent
  nothing is then closed, one that sent part of its headers gets 408 first;
* a limit on open connections (``max_connections``): the requests of a
  connection beyond it are answered 503 without reaching the application.

How long a body may take is the application's rule (``body_timeout``,
:mod:`._uploads`), where the answer can say so.
"""

from __future__ import annotations

import json

__all__ = ["HTTP_IMPLEMENTATIONS", "guarded_protocol"]


def _raw_answer(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer that closes its connection: JSON, as the API's."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _busy_app(limit: int):
    """The ASGI application answering connections beyond ``limit``."""
    body = json.dumps(
        {
            "error": {
                "code": "too_many_connections",
                "message": f"the server holds {limit:,} connections already; "
                "try again in a moment",
            }
        }
    ).encode()

    async def busy(scope, receive, send) -> None:
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return busy


#: The HTTP/1.1 implementations :func:`guarded_protocol` can guard.
HTTP_IMPLEMENTATIONS = ("auto", "httptools", "h11")


def _base_protocol(http: str) -> type:
    """uvicorn's httptools protocol (its C parser) or its pure-Python h11
    one; ``"auto"``: httptools when it is installed, as uvicorn picks."""
    if http not in HTTP_IMPLEMENTATIONS:
        raise ValueError(f"http must be one of {HTTP_IMPLEMENTATIONS}, got {http!r}")
    if http != "h11":
        try:
            import httptools  # noqa: F401
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

            return HttpToolsProtocol
        except ImportError:
            if http == "httptools":
                raise ImportError(
                    "http='httptools' needs httptools: pip install 'skemotion[serve]'"
                ) from None
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def guarded_protocol(settings, metrics, http: str = "auto") -> type:
    """uvicorn's HTTP/1.1 protocol class (``http``: ``"auto"``,
    ``"httptools"`` or ``"h11"``) with ``settings``' header time-out and
    connection limit, counting connections in ``metrics``.

    The hooks are those both of uvicorn's protocols have: a request's
    headers have come when the protocol starts a new request-response
    ``cycle``, so the time-out waits for ``cycle`` to change.
    """
    late = _raw_answer(
        408, "Request Timeout", "header_timeout",
        f"the request's headers did not arrive within {settings.header_timeout:g} s",
    )  # fmt: skip
    busy = _busy_app(settings.max_connections)

    class Guard:
        _timer = None
        _heard = False
        _answered = None  # the cycle answered when the timer was armed

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            metrics.connection_opened()
            if len(self.connections) > settings.max_connections:
                metrics.connection_closed("over_limit")
                self.app = busy  # each request of this connection: 503
            self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            metrics.connection_lost()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._heard = self._heard or self._timer is not None
            super().data_received(data)
            self._disarm_on_request()

        def on_response_complete(self) -> None:
            self._arm()  # before uvicorn reads a pipelined request
            super().on_response_complete()
            self._disarm_on_request()

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self._heard, self._answered = False, self.cycle
                self._timer = self.loop.call_later(
                    settings.header_timeout, self._headers_late
                )

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _disarm_on_request(self) -> None:
            if self._timer is not None and self.cycle is not self._answered:
                self._disarm()  # a request's headers came

        def _headers_late(self) -> None:
            self._timer = None
            if self.transport.is_closing() or self.cycle is not self._answered:
                return
            metrics.connection_closed("header_timeout")
            if self._heard:
                self.transport.write(late)
            self.transport.close()

    base = _base_protocol(http)
    return type(f"Guarded{base.__name__}", (Guard, base), {})
