"""The server on real sockets (127.0.0.1): every client reads its refusal,
slow and idle clients are cut off without starving the others, the
connection limit, /metrics, the access log and a graceful SIGTERM."""

from __future__ import annotations

import contextlib
import json
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from probes import BAD_REQUESTS, PHONE_PHOTO_BYTES, expect_continue, read_all
from prometheus_client.parser import text_string_to_metric_families
from serving import RunningServer, free_port, wait_until_up
from starlette.testclient import TestClient

from skemotion.serve import ServeSettings, create_app

LIMIT = 10_000_000  # the default max_request_bytes


@pytest.fixture(scope="module", params=["httptools", "h11"])
def guarded(model_file, request):
    """A server with short time-outs, so that the tests of them are quick, on
    each of uvicorn's HTTP/1.1 implementations."""
    settings = ServeSettings(header_timeout=2, body_timeout=3)
    app = create_app(model_file, settings=settings)
    with RunningServer(app, http=request.param) as running:
        yield running


def _parsed(text: str) -> dict:
    """Every sample of a /metrics page, read by Prometheus' own parser:
    ``{key(name, **labels): value}``."""
    return {
        key(s.name, **s.labels): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def key(name: str, **labels) -> tuple:
    return name, tuple(sorted(labels.items()))


def _metrics(url: str) -> dict:
    return _parsed(httpx.get(url + "/metrics").text)


def _urllib(url: str, body, chunked: bool = False) -> tuple[int, dict]:
    """POST ``body`` with urllib, which sends all of it before reading."""
    data = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    request = urllib.request.Request(
        url,
        data=data if chunked else body,
        headers={"Content-Type": "image/jpeg"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_every_client_reads_the_413(guarded, photos):
    """A 12 MB body: urllib (whole body first, with a length or chunked),
    requests, httpx and a client waiting for 100 Continue all read the 413
    and its JSON message; the server goes on answering."""
    body = photos["one"].ljust(PHONE_PHOTO_BYTES, b"\0")
    url = guarded.url + "/v1/predict"
    said = (
        f"the request is {PHONE_PHOTO_BYTES:,} bytes, more than the limit of {LIMIT:,}"
    )
    status, answer = _urllib(url, body)
    assert (status, answer["error"]["message"]) == (413, said)
    status, answer = _urllib(url, body, chunked=True)
    assert status == 413 and answer["error"]["code"] == "too_large"
    assert f"more than the limit of {LIMIT:,} bytes" in answer["error"]["message"]
    by_requests = requests.post(url, files={"image": ("phone.jpg", body)}, timeout=60)
    assert by_requests.status_code == 413
    assert by_requests.json()["error"]["code"] == "too_large"
    assert by_requests.headers["connection"] == "close"
    by_httpx = httpx.post(url, content=body, headers={"content-type": "image/jpeg"})
    assert by_httpx.status_code == 413 and by_httpx.json()["error"]["message"] == said
    waiting = expect_continue(guarded.port, PHONE_PHOTO_BYTES)
    assert waiting.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in waiting
    assert httpx.post(url, files={"image": ("a.jpg", photos["one"])}).status_code == 200


class _SlowClient:
    """A POST whose 1,000-byte body comes a byte a second."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        # before the headers go out: the server's body timer cannot have
        # started earlier (taken after them, the test's thread may be
        # scheduled late and see the time-out fire "early")
        self.started = time.monotonic()
        self.sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )

    def trickle(self) -> None:
        try:
            self.sock.send(b"x")
        except OSError:  # cut off already
            pass


class _Watcher:
    """Reads sockets as the server answers or closes them, in a thread of its
    own, and notes when each one ended: the time the server acted, not the
    time the test got round to reading (which, on a busy machine, is late)."""

    def __init__(self, socks: list[socket.socket]) -> None:
        self.received = {sock: b"" for sock in socks}
        self.closed_at: dict[socket.socket, float] = {}
        self._selector = selectors.DefaultSelector()
        for sock in socks:
            self._selector.register(sock, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while len(self.closed_at) < len(self.received):
            for key, _ in self._selector.select(timeout=0.5):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                if chunk:
                    self.received[sock] += chunk
                else:
                    self.closed_at[sock] = time.monotonic()
                    self._selector.unregister(sock)

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), (
            f"{len(self.received) - len(self.closed_at)} connections still open"
        )


def _unloaded(server, photos) -> tuple[float, float]:
    """The server's own time, before any load: the best of three /healthz
    and of three predictions, in seconds."""
    health, predict = [], []
    for _ in range(3):
        start = time.monotonic()
        assert httpx.get(server.url + "/healthz", timeout=30).status_code == 200
        between = time.monotonic()
        files = {"image": ("a.jpg", photos["one"])}
        answer = httpx.post(server.url + "/v1/predict", files=files, timeout=30)
        assert answer.status_code == 200
        health.append(between - start)
        predict.append(time.monotonic() - between)
    return min(health), min(predict)


def _held_while(guarded, photos, slow: list[_SlowClient], seconds: float) -> list:
    """Trickle the slow bodies for ``seconds``; meanwhile, time /healthz and a
    prediction once a second: ``[(healthz s, status), (predict s, status)]``."""
    timings = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for client in slow:
            client.trickle()
        start = time.monotonic()
        health = httpx.get(guarded.url + "/healthz", timeout=30)
        between = time.monotonic()
        files = {"image": ("a.jpg", photos["one"])}
        predicted = httpx.post(guarded.url + "/v1/predict", files=files, timeout=30)
        timings.append(
            (
                (between - start, health.status_code),
                (time.monotonic() - between, predicted.status_code),
            )
        )
        time.sleep(max(0.0, 1 - (time.monotonic() - start)))
    return timings


def test_slow_and_idle_clients_do_not_starve_the_others(guarded, photos):
    """300 idle connections, 20 bodies sent a byte a second and one request
    whose headers stop half-way: /healthz and predictions answer promptly all
    along; the slow bodies get 408 after body_timeout (3 s), the idle
    connections are closed after header_timeout (2 s), the half header gets
    408 first; /metrics counts each.

    "Promptly" and "after" are bounded by the same server's own unloaded
    time, measured first, not by seconds that a busy machine may exceed: a
    request may take a few times its unloaded time plus a scheduling slice,
    and a time-out may fire that much late.
    """
    health_alone, predict_alone = _unloaded(guarded, photos)
    late = 0.5 + 10 * (health_alone + predict_alone)  # what load may add
    before = _metrics(guarded.url)
    idle = [
        socket.create_connection(("127.0.0.1", guarded.port), timeout=30)
        for _ in range(300)
    ]
    slow = [_SlowClient(guarded.port) for _ in range(20)]
    half = socket.create_connection(("127.0.0.1", guarded.port), timeout=30)
    half.sendall(b"GET /heal")
    opened = time.monotonic()
    watcher = _Watcher([*idle, half, *(c.sock for c in slow)])
    for (health_s, health), (predict_s, predicted) in _held_while(
        guarded, photos, slow, 4.5
    ):
        assert (health, predicted) == (200, 200)
        # not queued behind the slow ones
        assert health_s < 5 * health_alone + late
        assert predict_s < 5 * predict_alone + late
    watcher.wait(timeout=30)
    for client in slow:
        answer = watcher.received[client.sock]
        took = watcher.closed_at[client.sock] - client.started
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert b'"code":"body_timeout"' in answer
        assert 3 <= took < 3 + late, took
    assert watcher.received[half].startswith(b"HTTP/1.1 408 ")
    for sock in idle:
        assert watcher.received[sock] == b""  # closed, no answer
        assert watcher.closed_at[sock] - opened < 2 + late
    after = _metrics(guarded.url)

    def grew(name, **labels):
        return after.get(key(name, **labels), 0) - before.get(key(name, **labels), 0)

    assert grew("skemotion_connections_closed_total", reason="header_timeout") >= 301
    assert grew("skemotion_refusals_total", reason="body_timeout") == 20
    for sock in [*idle, half, *(c.sock for c in slow)]:
        sock.close()


def test_connections_beyond_the_limit_get_503(model_file):
    settings = ServeSettings(max_connections=10, header_timeout=30)
    with RunningServer(create_app(model_file, settings=settings)) as running:
        held = [
            socket.create_connection(("127.0.0.1", running.port)) for _ in range(10)
        ]
        time.sleep(0.2)  # the server has accepted them
        turned_away = httpx.get(running.url + "/healthz")
        assert turned_away.status_code == 503
        assert turned_away.json()["error"]["code"] == "too_many_connections"
        assert turned_away.headers["connection"] == "close"
        for sock in held:
            sock.close()
        time.sleep(0.2)
        samples = _metrics(running.url)
        assert (
            samples[("skemotion_connections_closed_total", (("reason", "over_limit"),))]
            >= 1
        )
        assert httpx.get(running.url + "/healthz").status_code == 200


def test_metrics_count_what_the_server_did(model_file, photos):
    """/metrics in Prometheus' text format (read by prometheus_client's
    parser): requests by route and status, latency, images and faces,
    batches, refusals by reason, the queue; behind the token when one is set."""
    settings = ServeSettings(token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(create_app(model_file, settings=settings)) as client:
        assert client.get("/metrics").status_code == 401
        files = [
            ("image", ("a.jpg", photos["one"])),
            ("image", ("b.jpg", photos["many"])),
        ]
        faces = len(
            [
                f
                for image in client.post(
                    "/v1/predict", files=files, headers=auth
                ).json()["images"]
                for f in image["faces"]
            ]
        )
        make, status, code = BAD_REQUESTS["HTML page"]
        assert (
            client.post("/v1/predict", headers=auth, **make(photos)).status_code
            == status
        )
        text = client.get("/metrics", headers=auth).text
    samples = _parsed(text)
    predict = {"route": "/v1/predict", "method": "POST"}
    requests_total = "skemotion_requests_total"
    assert samples[key(requests_total, **predict, status="200")] == 1
    assert samples[key(requests_total, **predict, status="415")] == 1
    metrics_401 = key(requests_total, route="/metrics", method="GET", status="401")
    assert samples[metrics_401] == 1
    assert samples[key("skemotion_refusals_total", reason=code)] == 1
    assert samples[key("skemotion_refusals_total", reason="unauthorized")] == 1
    assert samples[key("skemotion_images_total")] == 2
    assert samples[key("skemotion_faces_total")] == faces >= 3
    latency = "skemotion_request_duration_seconds"
    assert samples[key(f"{latency}_count", route="/v1/predict")] == 2
    assert samples[key(f"{latency}_bucket", route="/v1/predict", le="+Inf")] == 2
    assert samples[key("skemotion_batch_size_count")] >= 1
    assert samples[key("skemotion_batch_size_sum")] == 2  # the two images
    assert samples[key("skemotion_queue_depth")] == 0
    assert samples[key("process_resident_memory_bytes")] > 50e6


@contextlib.contextmanager
def _serve_process(model_file, *options: str):
    """``skemotion serve --model model_file *options`` in its own process
    (the ready model for None), up: ``(process, port)``; killed at the end if
    still running."""
    port = free_port()
    model = [] if model_file is None else ["--model", str(model_file)]
    server = subprocess.Popen(
        [sys.executable, "-m", "skemotion", "serve", *model,
         "--port", str(port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}", seconds=120)
        yield server, port
    finally:
        server.kill()
        server.wait()


def _resident_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_the_request_in_flight(model_file, photos, tmp_path):
    """``skemotion serve`` with a JSON-lines access log: on SIGTERM it stops
    accepting (new connections are refused), answers the request whose body
    is still coming, then exits 0; the log holds a JSON line per request."""
    log = tmp_path / "access.jsonl"
    options = ("--access-log", "json", "--access-log-file", str(log))
    with _serve_process(model_file, *options) as (server, port):
        url = f"http://127.0.0.1:{port}/v1/predict"
        assert (
            httpx.post(url, files={"image": ("a.jpg", photos["one"])}).status_code
            == 200
        )
        assert (
            httpx.post(url, **BAD_REQUESTS["HTML page"].make(photos)).status_code == 415
        )
        request = httpx.Request("POST", url, files={"image": ("a.jpg", photos["one"])})
        body = request.read()
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.sendall(f"POST /v1/predict HTTP/1.1\r\n{head}\r\n".encode() + body[:1000])
        time.sleep(0.5)  # the request is in flight: its headers came
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _refused(port):
            assert time.monotonic() < deadline, "still accepting after SIGTERM"
            time.sleep(0.1)
        sock.sendall(body[1000:])
        answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["images"][0]["faces"]
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err[-2000:]
    assert "Stopped (SIGTERM)" in out
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    predicted = [r for r in lines if r["path"] == "/v1/predict"]
    assert [r["status"] for r in predicted] == [200, 415, 200]
    assert predicted[0]["images"] == 1 and predicted[0]["faces"] == 1
    assert predicted[1]["error"] == "not_an_image"
    assert all(r["client"] == "127.0.0.1" and r["duration_ms"] >= 0 for r in lines)
    assert predicted[2]["bytes_in"] == len(body) and predicted[2]["bytes_out"] > 0


def _mixed(photos) -> list[tuple[str, dict, int, str | None]]:
    """One round of the soak: every bad case, and good photos between them."""
    good = [
        ("one face", {"files": {"image": ("a.jpg", photos["one"])}}, 200, None),
        ("two faces", {"files": {"image": ("b.jpg", photos["many"])}}, 200, None),
    ]
    bad = [(case, p.make(photos), p.status, p.code) for case, p in BAD_REQUESTS.items()]
    return [item for i, case in enumerate(bad) for item in (case, good[i % 2])]


def _soak(port: int, rounds: list, seconds: float, pid: int) -> tuple:
    """16 clients through ``rounds`` for ``seconds``: the answers not as
    documented, the requests sent, the server's memory (MiB) every second."""
    memory, unexpected = [], []
    stop = time.monotonic() + seconds

    def client(i: int) -> int:
        sent = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while time.monotonic() < stop:
                case, kwargs, status, code = rounds[(i + sent) % len(rounds)]
                answer = http.post("/v1/predict", **kwargs)
                got = answer.json().get("error", {}).get("code")
                if (answer.status_code, got) != (status, code):
                    unexpected.append((case, answer.status_code, got))
                sent += 1
        return sent

    def sample() -> None:
        while time.monotonic() < stop:
            memory.append(_resident_mib(pid))
            time.sleep(1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with ThreadPoolExecutor(16) as pool:
        sent = sum(pool.map(client, range(16)))
    sampler.join()
    return unexpected, sent, memory


@pytest.mark.slow
def test_soak_of_mixed_requests(compiled_model_file, photos):
    """Good and bad requests at 16 clients against ``skemotion serve`` on its
    default engine (a compiled model): every answer the documented one; after
    45 s of warming up, the server's memory flat over 30 s (the median of the
    first 10 s against that of the last 10 s).

    The warm-up is long because memory grows, bounded, while the server meets
    new numbers of faces per batch (the allocator's pools, the threads, the
    interpreter's tensors): measured over 120 s, 510 MiB at 15 s, 545 MiB at
    60 s, 548 MiB at 120 s. A TensorFlow model grows for longer (1182 MiB at
    20 s, 1242 MiB at 160 s; ``networks.batch_pieces`` says how it ends)."""
    rounds = _mixed(photos)
    with _serve_process(compiled_model_file, "--access-log", "off") as (server, port):
        warm_up = _soak(port, rounds, 45, server.pid)
        unexpected, sent, memory = _soak(port, rounds, 30, server.pid)
    assert warm_up[0] == [] and unexpected == []
    assert sent > 100
    growth = statistics.median(memory[-10:]) - statistics.median(memory[:10])
    assert growth < 20, f"memory grew {growth:.1f} MiB ({memory})"


@pytest.mark.slow
def test_memory_of_a_burst_of_photos_is_given_back(photos):
    """The ready model served: after 16 clients at once, three times, each
    sending two full-size photos, the server holds less than 100 MiB more
    than after its first answer (the photos' memory is given back when they
    are freed; with glibc's defaults it held 213 MiB more, measured)."""
    files = [("image", ("a.jpg", photos["one"])), ("image", ("b.jpg", photos["many"]))]
    with _serve_process(None, "--access-log", "off") as (server, port):
        url = f"http://127.0.0.1:{port}/v1/predict"
        assert httpx.post(url, files=files[:1], timeout=60).status_code == 200
        after_one = _resident_mib(server.pid)
        for _ in range(3):
            with ThreadPoolExecutor(16) as pool:
                statuses = list(
                    pool.map(
                        lambda _: httpx.post(url, files=files, timeout=120).status_code,
                        range(16),
                    )
                )
            assert statuses == [200] * 16
        growth = _resident_mib(server.pid) - after_one
    assert growth < 100, f"{growth:.0f} MiB more after the bursts"
