"""Each request measured: the metrics, and a line of the access log."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone

__all__ = ["ACCESS_LOGGER", "Observe", "access_formatter", "route_of"]

#: The logger the access log goes to: one record per request, its fields in
#: the record's ``access`` attribute.
ACCESS_LOGGER = "skemotion.serve.access"

#: The routes metrics name; any other path is counted as "other", so that a
#: scan of random paths does not grow the metrics without bound.
_ROUTES = ("/", "/healthz", "/metrics", "/openapi.json", "/v1/model", "/v1/predict")

_access = logging.getLogger(ACCESS_LOGGER)


def route_of(path: str) -> str:
    """The route label of a request's path."""
    if path in _ROUTES:
        return path
    return "/static" if path.startswith("/static/") else "other"


def _record(scope) -> dict:
    """What the access log says of a request, before it is answered; the
    handlers add to it through ``scope["skemotion"]`` (images, faces, error)."""
    client = scope.get("client")
    headers = dict(scope.get("headers") or [])
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "client": client[0] if client else None,
        "method": scope["method"],
        "path": scope["path"],
        "status": None,
        "bytes_in": 0,
        "bytes_out": 0,
        "duration_ms": None,
        "user_agent": headers.get(b"user-agent", b"").decode("latin-1") or None,
    }


class Observe:
    """ASGI middleware: times each HTTP request, counts its bytes, then
    records it in ``metrics`` and writes its access-log record."""

    def __init__(self, app, metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = scope["skemotion"] = _record(scope)
        started = time.perf_counter()
        self.metrics.request_started()

        async def counted_receive():
            message = await receive()
            record["bytes_in"] += len(message.get("body", b""))
            return message

        async def counted_send(message):
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
            elif message["type"] == "http.response.body":
                record["bytes_out"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        except Exception:
            record["status"] = record["status"] or 500
            raise
        finally:
            self._done(record, time.perf_counter() - started)

    def _done(self, record: dict, seconds: float) -> None:
        record["duration_ms"] = round(1000 * seconds, 1)
        status = record["status"] or 500
        self.metrics.request_done(
            route_of(record["path"]), record["method"], status, seconds,
            record.get("error"),
        )  # fmt: skip
        _access.info(
            '%s "%s %s" %s %.1f ms', record["client"], record["method"],
            record["path"], status, record["duration_ms"], extra={"access": record},
        )  # fmt: skip


class _JsonLines(logging.Formatter):
    """One JSON object per line: the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "access", None)
        if fields is None:
            return json.dumps({"message": record.getMessage()})
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def access_formatter(kind: str) -> logging.Formatter:
    """The access log's formatter: ``"json"`` (JSON lines) or ``"text"``
    (a time, the client, the request, its status and its duration)."""
    if kind == "json":
        return _JsonLines()
    if kind == "text":
        return logging.Formatter("%(asctime)s %(message)s")
    raise ValueError(f"access log format must be 'text' or 'json', got {kind!r}")
