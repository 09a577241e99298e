"""Serving, probed as users' clients meet it: a table of (client, case, answer).

Starts ``skemotion serve`` (the ready model) on 127.0.0.1 with short
time-outs (``--header-timeout 5 --body-timeout 10``, so that the slow-client
probes take seconds, not minutes) and a JSON-lines access log, then sends:

* a 12 MB body (over the 10 MB limit) from Python's urllib (with a length and
  chunked), requests, httpx, curl, a raw client waiting for ``100 Continue``
  and Chromium's ``fetch``;
* a phone photo (4000 x 5000, 12 MB JPEG stored sideways with EXIF
  orientation 6) and a HEIC photo through the page in Chromium (phone
  viewport): screenshots in ``--out``;
* HEIC photos from urllib, requests and curl;
* 300 idle connections and 20 bodies sent a byte a second, while /healthz
  and a prediction are timed;
* /metrics read by Prometheus' own parser, the access log's JSON lines, and
  SIGTERM while a request's body is still coming.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/serve_probes.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import ROOT, shared_data

sys.path.insert(0, str(ROOT / "tests" / "serve"))
from probes import PHONE_PHOTO_BYTES, expect_continue, read_all

ROWS: list[tuple[str, str, str]] = []


def row(client: str, case: str, answer: str) -> None:
    ROWS.append((client, case, answer))
    print(f"| {client} | {case} | {answer} |", flush=True)


def _said(status: int, body: bytes) -> str:
    try:
        error = json.loads(body)["error"]
        return f"{status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        faces = json.loads(body)["images"][0]["faces"]
        labels = ", ".join(f["label"] for f in faces)
        return f"{status}, {len(faces)} face(s): {labels}"


def _urllib(url: str, body: bytes, kind: str, chunked: bool = False) -> str:
    data = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    request = urllib.request.Request(
        url, data=data if chunked else body, headers={"Content-Type": kind}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return _said(answer.status, answer.read())
    except urllib.error.HTTPError as error:
        return _said(error.code, error.read())
    except OSError as error:
        return f"no answer: {error!r}"


def _curl(url: str, path: Path) -> str:
    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "-F", f"image=@{path}", url],
        capture_output=True, timeout=120,
    )  # fmt: skip
    if out.returncode != 0:
        return f"curl failed ({out.returncode}): {out.stderr.decode()[-200:]}"
    body, _, status = out.stdout.rpartition(b"\n")
    return _said(int(status), body)


def _expect_continue(port: int, size: int) -> str:
    head, _, body = expect_continue(port, size).partition(b"\r\n\r\n")
    status = int(head.split()[1])
    sent = "100 Continue sent" if b"100 Continue" in head else "no 100 Continue"
    return f"{_said(status, body)} ({sent}, body never sent)"


def _files(out: Path, data: Path) -> dict:
    """The photos the probes send: a face, a phone photo, a HEIC, 12 MB."""
    import numpy as np
    import pillow_heif
    from PIL import Image

    face = data / "face-count" / "single_face" / "facerec_obama.jpg"
    upright = Image.open(face).convert("RGB")
    big = upright.resize((4000, 5000), Image.BICUBIC)
    noise = np.random.default_rng(0).integers(-28, 29, (5000, 4000, 3), dtype=np.int16)
    pixels = np.clip(np.asarray(big, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    sideways = Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    phone = out / "IMG_0001.jpg"
    sideways.save(phone, format="JPEG", quality=95, exif=exif)
    heic = out / "IMG_0002.heic"
    pillow_heif.from_pillow(upright).save(heic, quality=90)
    padded = out / "padded.jpg"
    padded.write_bytes(face.read_bytes().ljust(PHONE_PHOTO_BYTES, b"\0"))
    return {"face": face, "phone": phone, "heic": heic, "padded": padded}


def probe_clients(url: str, port: int, files: dict) -> None:
    """Every client against the size limit, and HEIC from each."""
    import httpx
    import requests

    predict = url + "/v1/predict"
    padded = files["padded"].read_bytes()
    case = "12 MB body (limit 10 MB)"
    row("urllib", case, _urllib(predict, padded, "image/jpeg"))
    row("urllib, chunked", case, _urllib(predict, padded, "image/jpeg", chunked=True))
    answer = requests.post(predict, files={"image": ("p.jpg", padded)}, timeout=120)
    row("requests", case, _said(answer.status_code, answer.content))
    answer = httpx.post(predict, content=padded, headers={"content-type": "image/jpeg"})
    row("httpx", case, _said(answer.status_code, answer.content))
    row("curl -F", case, _curl(predict, files["padded"]))
    row("raw, Expect: 100-continue", case, _expect_continue(port, len(padded)))
    heic = files["heic"].read_bytes()
    case = f"HEIC photo ({len(heic):,} bytes)"
    row("urllib", case, _urllib(predict, heic, "image/heic"))
    answer = requests.post(predict, files={"image": ("p.heic", heic)}, timeout=120)
    row("requests", case, _said(answer.status_code, answer.content))
    row("curl -F", case, _curl(predict, files["heic"]))


def _settled(page, before: str, seconds: float = 120) -> None:
    """Wait until the page's status changed from ``before`` to an end: done,
    or an error (polled: the page's CSP forbids evaluating strings)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = page.inner_text("#status")
        error = page.get_attribute("#status", "class") == "error"
        if status != before and (status.startswith("Done") or error):
            return
        page.wait_for_timeout(200)
    raise TimeoutError(f"the page still says {page.inner_text('#status')!r}")


def probe_browser(url: str, files: dict, out: Path) -> None:
    """The page in Chromium (phone viewport): the phone photo, the HEIC, and
    a 12 MB fetch."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(url + "/")
        page.wait_for_selector("#model dd:not(:empty)")
        for key, name in (("phone", "phone photo"), ("heic", "HEIC photo")):
            size = files[key].stat().st_size
            before = page.inner_text("#status")
            page.set_input_files("#file", str(files[key]))
            _settled(page, before)
            shot = out / f"page-{key}.png"
            page.screenshot(path=str(shot), full_page=True)
            faces = page.locator(".faces h3").all_inner_texts()
            said = f"{page.inner_text('#status')} Faces: {', '.join(faces)}"
            row("Chromium page", f"{name} ({size:,} bytes)", f"{said} ({shot.name})")
        answer = page.evaluate(
            """async (size) => {
              const form = new FormData();
              form.append("image", new Blob([new Uint8Array(size)]), "p.jpg");
              const r = await fetch("/v1/predict", {method: "POST", body: form});
              return [r.status, await r.text()];
            }""",
            PHONE_PHOTO_BYTES,
        )
        row("Chromium fetch", "12 MB body (limit 10 MB)",
            _said(answer[0], answer[1].encode()))  # fmt: skip
        browser.close()


def probe_slow(url: str, port: int, files: dict) -> None:
    """300 idle connections and 20 bodies a byte a second, while /healthz and
    a prediction are timed; when each is cut off."""
    import httpx

    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
    slow = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"image/jpeg\r\nContent-Length: 1000\r\n\r\n")  # fmt: skip
        slow.append(sock)
    opened = time.monotonic()
    worst_health = worst_predict = 0.0
    face = files["face"].read_bytes()
    while time.monotonic() - opened < 8:
        for sock in slow:
            try:
                sock.send(b"x")
            except OSError:
                pass
        t = time.monotonic()
        assert httpx.get(url + "/healthz").status_code == 200
        worst_health = max(worst_health, time.monotonic() - t)
        t = time.monotonic()
        answer = httpx.post(url + "/v1/predict", files={"image": ("a.jpg", face)},
                            timeout=60)  # fmt: skip
        assert answer.status_code == 200
        worst_predict = max(worst_predict, time.monotonic() - t)
        time.sleep(0.5)
    case = "300 idle connections + 20 bodies at 1 byte/s"
    row("httpx", f"/healthz during {case}", f"200, slowest {worst_health:.2f} s")
    row("httpx", f"a prediction during {case}", f"200, slowest {worst_predict:.2f} s")
    answers = [read_all(s) for s in slow]
    cut = time.monotonic() - opened
    firsts = {a.split(b"\r\n")[0].decode() for a in answers}
    row("raw, body at 1 byte/s (x20)", "--body-timeout 10",
        f"{', '.join(firsts)} (body_timeout), all cut off by {cut:.1f} s")  # fmt: skip
    closed = sum(read_all(s) == b"" for s in idle)
    row("raw, idle (x300)", "--header-timeout 5",
        f"{closed} of 300 closed without an answer by "
        f"{time.monotonic() - opened:.1f} s")  # fmt: skip
    for sock in [*idle, *slow]:
        sock.close()


def probe_metrics(url: str) -> None:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    refusals = {s.labels["reason"]: int(s.value)
                for s in families["skemotion_refusals"].samples}  # fmt: skip
    closed = {s.labels["reason"]: int(s.value)
              for s in families["skemotion_connections_closed"].samples}  # fmt: skip
    row("prometheus_client parser", "GET /metrics",
        f"{len(families)} families; refusals {refusals}; connections closed "
        f"{closed}")  # fmt: skip


def probe_sigterm(server: subprocess.Popen, port: int, files: dict) -> None:
    import httpx

    url = f"http://127.0.0.1:{port}/v1/predict"
    request = httpx.Request(
        "POST", url, files={"image": ("a.jpg", files["face"].read_bytes())}
    )
    body = request.read()
    head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"POST /v1/predict HTTP/1.1\r\n{head}\r\n".encode() + body[:1000])
    time.sleep(0.5)
    server.send_signal(signal.SIGTERM)
    time.sleep(1)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        new = "a new connection was still accepted"
    except ConnectionRefusedError:
        new = "new connections refused"
    sock.sendall(body[1000:])
    head, _, answer = read_all(sock).partition(b"\r\n\r\n")
    out, _ = server.communicate(timeout=60)
    row("raw, body half sent", "SIGTERM, then the rest of the body",
        f"{_said(int(head.split()[1]), answer)}; {new}; exit status "
        f"{server.returncode}; said: {out.strip().splitlines()[-1]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path.home() / "skemotion_runs" / "probes"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = _files(args.out, shared_data())
    log = args.out / "access.jsonl"
    log.unlink(missing_ok=True)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "skemotion", "serve", "--port", str(port),
         "--header-timeout", "5", "--body-timeout", "10", "--access-log", "json",
         "--access-log-file", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(600):
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    print("| client | case | answer |\n|---|---|---|")
    try:
        probe_clients(url, port, files)
        probe_browser(url, files, args.out)
        probe_slow(url, port, files)
        probe_metrics(url)
        probe_sigterm(server, port, files)
    finally:
        server.kill()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    print(f"\nAccess log: {len(lines)} JSON lines; the last: {json.dumps(lines[-1])}")


if __name__ == "__main__":
    main()
