"""What the server has done, counted, and written in Prometheus' text format."""

from __future__ import annotations

import bisect
import os
import threading
from collections import defaultdict

__all__ = ["Metrics"]

#: Seconds: the upper bounds of the latency histogram's buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Images: the upper bounds of the batch-size histogram's buckets.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class _Histogram:
    """Counts of observations at or under each bound, their sum and number."""

    def __init__(self, bounds) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: dict) -> list[str]:
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            running += n
            bucket = {**labels, "le": f"{bound:g}"}
            out.append(_sample(f"{name}_bucket", bucket, running))
        out.append(_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, self.count))
        out.append(_sample(f"{name}_sum", labels, self.sum))
        out.append(_sample(f"{name}_count", labels, self.count))
        return out


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict, value: float) -> str:
    inside = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    number = repr(float(value)) if isinstance(value, float) else str(value)
    return f"{name}{{{inside}}} {number}" if inside else f"{name} {number}"


def _family(name: str, kind: str, text: str, samples: list[str]) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples]


def _resident_bytes() -> int | None:
    """This process's resident memory, from /proc (Linux), else None."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Metrics:
    """The server's counters, gauges and histograms, safe across threads.

    Requests by route, method and status; latency by route; refusals by
    reason (the error code of the answer); images and faces classified;
    batch sizes; connections open, refused and timed out. :meth:`render`
    writes them in Prometheus' text exposition format, version 0.0.4.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict = defaultdict(int)
        self.latency: dict = {}
        self.refusals: defaultdict = defaultdict(int)
        self.connections_closed: defaultdict = defaultdict(int)
        self.batches = _Histogram(BATCH_BUCKETS)
        self.images = 0
        self.faces = 0
        self.connections = 0
        self.in_flight = 0

    def request_started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def request_done(self, route: str, method: str, status: int, seconds: float,
                     error: str | None) -> None:  # fmt: skip
        with self._lock:
            self.in_flight -= 1
            self.requests[(route, method, str(status))] += 1
            self.latency.setdefault(route, _Histogram(LATENCY_BUCKETS)).observe(seconds)
            if error is not None:
                self.refusals[error] += 1

    def classified(self, images: int, faces: int) -> None:
        with self._lock:
            self.images += images
            self.faces += faces

    def batch(self, size: int) -> None:
        with self._lock:
            self.batches.observe(size)

    def connection_opened(self) -> None:
        with self._lock:
            self.connections += 1

    def connection_lost(self) -> None:
        with self._lock:
            self.connections -= 1

    def connection_closed(self, reason: str) -> None:
        """A connection the server closed (``header_timeout``) or turned
        away (``over_limit``)."""
        with self._lock:
            self.connections_closed[reason] += 1

    def render(self, queue_depth: int) -> str:
        """Every metric, in Prometheus' text format."""
        with self._lock:
            lines = self._counters() + self._histograms() + self._gauges(queue_depth)
        return "\n".join(lines) + "\n"

    def _counters(self) -> list[str]:
        requests = [
            _sample(
                "skemotion_requests_total", {"route": r, "method": m, "status": s}, n
            )
            for (r, m, s), n in sorted(self.requests.items())
        ]
        refusals = [
            _sample("skemotion_refusals_total", {"reason": reason}, n)
            for reason, n in sorted(self.refusals.items())
        ]
        closed = [
            _sample("skemotion_connections_closed_total", {"reason": reason}, n)
            for reason, n in sorted(self.connections_closed.items())
        ]
        return [
            *_family("skemotion_requests_total", "counter",
                     "Requests answered, by route, method and status.", requests),
            *_family("skemotion_refusals_total", "counter",
                     "Requests refused, by reason (the answer's error code).",
                     refusals),
            *_family("skemotion_images_total", "counter",
                     "Images classified.", [_sample("skemotion_images_total", {},
                                                    self.images)]),
            *_family("skemotion_faces_total", "counter", "Faces classified.",
                     [_sample("skemotion_faces_total", {}, self.faces)]),
            *_family("skemotion_connections_closed_total", "counter",
                     "Connections the server closed (header_timeout) or turned "
                     "away (over_limit).", closed),
        ]  # fmt: skip

    def _histograms(self) -> list[str]:
        latency = [
            line
            for route, hist in sorted(self.latency.items())
            for line in hist.lines(
                "skemotion_request_duration_seconds", {"route": route}
            )
        ]
        return [
            *_family("skemotion_request_duration_seconds", "histogram",
                     "Seconds from a request's headers to its answer, by route.",
                     latency),
            *_family("skemotion_batch_size", "histogram",
                     "Images the network classified together.",
                     self.batches.lines("skemotion_batch_size", {})),
        ]  # fmt: skip

    def _gauges(self, queue_depth: int) -> list[str]:
        gauges = [
            ("skemotion_queue_depth", "Images waiting for the network.", queue_depth),
            ("skemotion_requests_in_flight", "Requests being answered.",
             self.in_flight),
            ("skemotion_connections_open", "Connections open.", self.connections),
        ]  # fmt: skip
        memory = _resident_bytes()
        if memory is not None:
            gauges.append(
                ("process_resident_memory_bytes", "Resident memory size in bytes.",
                 memory)
            )  # fmt: skip
        return [
            line
            for name, text, value in gauges
            for line in _family(name, "gauge", text, [_sample(name, {}, value)])
        ]
