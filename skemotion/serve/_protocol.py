"""uvicorn's HTTP/1.1 protocol, with a header time-out and a connection limit.

uvicorn closes a connection that stays idle after an answer, but not one that
opens and sends nothing, or sends its headers a byte at a time: such clients
could hold the server's connections for ever. :func:`guarded_protocol` adds,
on top of uvicorn's own h11 protocol (a subclass: its hooks only):

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

__all__ = ["guarded_protocol"]


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


def guarded_protocol(settings, metrics) -> type:
    """uvicorn's h11 protocol class with ``settings``' header time-out and
    connection limit, counting connections in ``metrics``."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    late = _raw_answer(
        408, "Request Timeout", "header_timeout",
        f"the request's headers did not arrive within {settings.header_timeout:g} s",
    )  # fmt: skip
    busy = _busy_app(settings.max_connections)

    class GuardedH11Protocol(H11Protocol):
        _timer = None
        _heard = False

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

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:  # the headers came
                self._disarm()

        def on_response_complete(self) -> None:
            self._arm()  # before uvicorn reads a pipelined request
            super().on_response_complete()

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self._heard = False
                self._timer = self.loop.call_later(
                    settings.header_timeout, self._headers_late
                )

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _headers_late(self) -> None:
            self._timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            metrics.connection_closed("header_timeout")
            if self._heard:
                self.transport.write(late)
            self.transport.close()

    return GuardedH11Protocol
