"""Serving: requests per second and latency against the pipeline called
directly, and a soak of good and bad requests.

A real server (``skemotion serve``, uvicorn on 127.0.0.1, its own process) and
clients in this process (asyncio, httpx), on photos of the post's seed data
resized to 224x224 and sent as JPEG (96 of the training photos). In one run:

* the pipeline called directly, in this process, on the same decoded photos in
  batches of 16 (the server's batch size): images per second;
* 1, 4 and 16 concurrent clients, each sending one photo per request as soon
  as its previous answer came: requests per second, p50/p95/p99 latency,
  answers; the ratio of served to direct throughput (the goal: at least 1.1
  at 16 clients, thanks to batching);
* a soak (``--soak-seconds``, 600 by default, after ``--warm-up-seconds`` of
  the same mix, 60 by default, while the allocator's pools and the threads
  settle) at 16 clients mixing good photos
  with every case of the serve tests' bad-request table
  (``tests/serve/probes.py``): each answer checked against the documented
  one (status and error code), the server's resident memory sampled every
  second (the goal: the last minute's mean within 20 MiB of the first's).

The model: the ready model (packaged FER2013 weights, its own detector) by
default, or ``--model FILE``. On 2 cores the clients share the CPU with the
server: the served figures include that cost.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/serve.py [--soak-seconds 600]
        [--model FILE] [--seconds 45]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data


def _photos(data: Path, n: int) -> list[bytes]:
    """``n`` seed photos, 224x224 JPEG bytes."""
    from PIL import Image

    from skemotion import load_image_folder

    paths, _ = load_image_folder(data / "seed" / "train")
    rng = np.random.default_rng(0)
    out = []
    for i in rng.choice(len(paths), min(n, len(paths)), replace=False):
        image = Image.open(paths[i]).convert("RGB").resize((224, 224))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _load(model_file: str | None):
    from skemotion import load_model, load_pretrained

    return load_pretrained() if model_file is None else load_model(model_file)


def direct_rate(model_file: str | None, photos: list[bytes], **params) -> float:
    """Images per second, the pipeline called in this process on every photo
    twice, in batches of 16; ``params`` set on it (``crop__n_jobs=2``)."""
    from skemotion import decode_image

    model = _load(model_file)
    model.set_params(crop__no_face="full_image", **params)  # the same cost each
    images = [decode_image(p) for p in photos] * 2
    model.predict_proba(images[:16])  # warm up
    t = time.perf_counter()
    for i in range(0, len(images), 16):
        model.predict_proba(images[i : i + 16])
    return len(images) / (time.perf_counter() - t)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(url: str, photos: list[bytes], clients: int, seconds: float) -> dict:
    """``clients`` loops posting photos for ``seconds``; latencies and codes."""
    import httpx

    latencies: list[float] = []
    codes: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def client(k: int, http) -> None:
        i = k
        while time.perf_counter() < stop:
            body = photos[i % len(photos)]
            i += clients
            t = time.perf_counter()
            answer = await http.post(
                url + "/v1/predict",
                content=body,
                headers={"Content-Type": "image/jpeg"},
            )
            latencies.append(time.perf_counter() - t)
            codes[answer.status_code] = codes.get(answer.status_code, 0) + 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(k, http) for k in range(clients)))
        elapsed = time.perf_counter() - started
    lat = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "p99": float(np.percentile(lat, 99)),
        "codes": codes,
    }


def _mixed(data: Path, photos: list[bytes]) -> list[tuple[str, dict, int, str]]:
    """One round of the soak: every bad case of the tests' table, each
    followed by a good photo: ``(case, request, status, error code)``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "serve"))
    from probes import BAD_REQUESTS

    face = data / "face-count" / "single_face" / "facerec_obama.jpg"
    sample = {"one": face.read_bytes()}
    rounds = []
    for i, (case, probe) in enumerate(sorted(BAD_REQUESTS.items())):
        rounds.append((case, probe.make(sample), probe.status, probe.code))
        good = {"content": photos[i % len(photos)],
                "headers": {"Content-Type": "image/jpeg"}}  # fmt: skip
        rounds.append(("good photo", good, 200, None))
    return rounds


async def soak(url: str, rounds: list, clients: int, seconds: float, pid: int) -> dict:
    """``clients`` loops through ``rounds`` for ``seconds``: the answers by
    case, those not as documented, and the server's memory every second."""
    import httpx

    answers: dict = {}
    unexpected: dict = {}
    memory: list[float] = []
    stop = time.perf_counter() + seconds

    async def client(k: int, http) -> None:
        i = k * len(rounds) // clients  # each client through every case
        while time.perf_counter() < stop:
            case, request, status, code = rounds[i % len(rounds)]
            i += 1
            answer = await http.post(url + "/v1/predict", **request)
            got = answer.json().get("error", {}).get("code") if answer.content else None
            seen = (case, answer.status_code, got)
            answers[seen] = answers.get(seen, 0) + 1
            if (answer.status_code, got) != (status, code):
                unexpected[seen] = unexpected.get(seen, 0) + 1

    async def watch() -> None:
        while time.perf_counter() < stop:
            memory.append(_rss_mib(pid))
            await asyncio.sleep(1.0)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        await asyncio.gather(watch(), *(client(k, http) for k in range(clients)))
    return {"answers": answers, "unexpected": unexpected, "memory": memory}


def _print_soak(r: dict, seconds: float, rounds: list) -> None:
    documented = {case: (status, code) for case, _, status, code in rounds}
    print(f"\nSoak, {seconds:.0f} s at 16 clients, good photos between every "
          "case of the bad-request table:\n")  # fmt: skip
    print("| case | documented answer | answers seen |")
    print("|---|---|---|")
    for case, (status, code) in sorted(documented.items()):
        seen = sorted((k[1], k[2], n) for k, n in r["answers"].items() if k[0] == case)
        said = ", ".join(f"{n}x {st} {c or ''}".rstrip() for st, c, n in seen)
        print(f"| {case} | {status} {code or ''} | {said} |")
    total = sum(r["answers"].values())
    print(f"\n{total} requests, {sum(r['unexpected'].values())} not as documented"
          f"{': ' + str(r['unexpected']) if r['unexpected'] else ''}")  # fmt: skip
    m = r["memory"]
    first, last = np.mean(m[:60]), np.mean(m[-60:])
    print(f"Server RSS: at start {m[0]:.0f} MiB, peak {max(m):.0f} MiB, at the end "
          f"{m[-1]:.0f} MiB; first minute's mean {first:.1f} MiB, last minute's "
          f"{last:.1f} MiB: growth {last - first:+.1f} MiB (goal < 20)")  # fmt: skip


def _print_rows(rows: list, seconds: float, direct: float) -> None:
    print(f"\n{seconds:.0f} s per row, one 224x224 photo per request:\n")
    print("| clients | requests | req/s | p50 ms | p95 ms | p99 ms | "
          "answers | served / direct |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for clients, r in rows:
        codes = sorted(r["codes"].items())
        answers = ", ".join(f"{n}x {c}" for c, n in codes)
        print(
            f"| {clients} | {r['requests']} | {r['rps']:.2f} | "
            f"{r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {answers} | "
            f"{r['rps'] / direct:.2f} |"
        )


def _start_server(model_file: str | None, port: int) -> subprocess.Popen:
    import httpx

    model = [] if model_file is None else ["--model", model_file]
    server = subprocess.Popen(
        [sys.executable, "-m", "skemotion", "serve", *model, "--port", str(port),
         "--queue", "256", "--access-log", "off"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    sys.exit("the server did not start")


def _run_soak(url: str, rounds: list, args, pid: int) -> None:
    """The warm-up, then the soak, and their figures."""
    if args.warm_up_seconds > 0:
        warm = asyncio.run(soak(url, rounds, 16, args.warm_up_seconds, pid))
        m = warm["memory"]
        print(f"\nWarm-up, {args.warm_up_seconds:.0f} s of the soak's mix: "
              f"{sum(warm['answers'].values())} requests, "
              f"{sum(warm['unexpected'].values())} not as documented; server "
              f"RSS {m[0]:.0f} -> {m[-1]:.0f} MiB")  # fmt: skip
    r = asyncio.run(soak(url, rounds, 16, args.soak_seconds, pid))
    _print_soak(r, args.soak_seconds, rounds)


def _direct_in_a_process(args) -> dict:
    """The model's description and the direct rates, measured in a process of
    their own: TensorFlow in this one (the clients') would take CPU from the
    server while it is measured."""
    command = [sys.executable, __file__, "--direct-only", "--photos", str(args.photos)]
    if args.model:
        command += ["--model", args.model]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _direct_only(args) -> None:
    """Print, as JSON, the model's description and its direct rates."""
    model = _load(args.model)
    encoder = next(s for _, s in model.steps if hasattr(s, "weights_used_"))
    photos = _photos(shared_data(), args.photos)
    print(json.dumps({
        "machine": machine(),
        "model": f"{args.model or 'the ready model'}; weights {encoder.weights_used_}; "
                 f"precision {encoder.precision_}; detector "
                 f"{model.named_steps['crop'].detector}",
        "direct": direct_rate(args.model, photos),
        "two": direct_rate(args.model, photos, crop__n_jobs=2),
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", metavar="FILE",
                        help="a model file (default: the ready model)")  # fmt: skip
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=45.0,
                        help="length of each 1/4/16-client run (0: skip)")  # fmt: skip
    parser.add_argument("--soak-seconds", type=float, default=600.0,
                        help="length of the soak at 16 clients (0: skip)")  # fmt: skip
    parser.add_argument("--warm-up-seconds", type=float, default=60.0,
                        help="the soak's mix first, not measured")  # fmt: skip
    parser.add_argument("--direct-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct_only:
        _direct_only(args)
        return

    data = shared_data()
    photos = _photos(data, args.photos)
    measured = _direct_in_a_process(args)
    print(f"Machine: {measured['machine']}; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"Model: {measured['model']}\n")
    direct = measured["direct"]
    if args.seconds > 0:
        print(f"pipeline called directly (its own process): {direct:.2f} images/s")
        print(f"  (with crop__n_jobs=2, 2 processes finding faces: "
              f"{measured['two']:.2f} images/s)", flush=True)  # fmt: skip
    port = _free_port()
    server = _start_server(args.model, port)
    url = f"http://127.0.0.1:{port}"
    try:
        if args.seconds > 0:
            asyncio.run(load(url, photos, 4, 10.0))  # warm up
            rows = []
            for clients in (1, 4, 16):
                r = asyncio.run(load(url, photos, clients, args.seconds))
                rows.append((clients, r))
                print(f"  {clients} clients: {r['rps']:.2f} req/s, codes {r['codes']}",
                      flush=True)  # fmt: skip
            _print_rows(rows, args.seconds, direct)
        if args.soak_seconds > 0:
            _run_soak(url, _mixed(data, photos), args, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
