"""Serving: requests per second and latency against the pipeline called directly.

A real server (``skemotion serve``, uvicorn on 127.0.0.1, its own process) and
clients in this process (asyncio, httpx), on photos of the post's seed data
resized to 224x224 and sent as JPEG. In one run:

* the pipeline called directly, in this process, on the same decoded photos in
  batches of 16 (the server's batch size): images per second;
* 1, 4 and 16 concurrent clients, each sending one photo per request as soon
  as its previous answer came: requests per second, p50/p95/p99 latency,
  errors; the ratio of served to direct throughput (the goal: at least 0.8 at
  16 clients, thanks to batching);
* a longer load (``--load-seconds``, 300 by default) at 16 clients, sampling
  the server's resident memory every second: at start, peak, at the end.

The model: the standard pipeline (HOG detector, 224x224 crops, VGG16 with
seeded random weights: speed does not depend on them; precision "auto")
fitted on a few seed photos. On 2 cores the clients share the CPU with the
server: the served figures include that cost.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/serve.py [--load-seconds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data


def _photos(data: Path, n: int) -> list[bytes]:
    """``n`` seed photos, 224x224 JPEG bytes."""
    from PIL import Image

    from skemotion import load_image_folder

    paths, _ = load_image_folder(data / "seed" / "validation")
    rng = np.random.default_rng(0)
    out = []
    for i in rng.choice(len(paths), min(n, len(paths)), replace=False):
        image = Image.open(paths[i]).convert("RGB").resize((224, 224))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _model(data: Path, path: Path) -> Path:
    from skemotion import load_image_folder, make_emotion_pipeline, save_model

    paths, labels = load_image_folder(data / "seed" / "train")
    pick = np.random.default_rng(0).choice(len(paths), 24, replace=False)
    pipe = make_emotion_pipeline(
        crop__progress=False,
        encode__weights=None, encode__random_state=0, encode__progress=False,
        classify__epochs=1, classify__random_state=0, classify__progress=False,
    ).fit([paths[i] for i in pick], [labels[i] for i in pick])  # fmt: skip
    return save_model(pipe, path)


def direct_rate(model_file: Path, photos: list[bytes]) -> float:
    """Images per second, the pipeline called in this process, batches of 16."""
    from skemotion import decode_image, load_model

    model = load_model(model_file)
    model.set_params(crop__no_face="full_image")  # every photo costs the same
    images = [decode_image(p) for p in photos]
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


async def load(url: str, photos: list[bytes], clients: int, seconds: float,
               pid: int | None = None) -> dict:  # fmt: skip
    """``clients`` loops posting photos for ``seconds``; latencies and codes."""
    import httpx

    latencies: list[float] = []
    codes: dict[int, int] = {}
    memory: list[float] = []
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

    async def watch() -> None:
        while time.perf_counter() < stop:
            memory.append(_rss_mib(pid))
            await asyncio.sleep(1.0)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        started = time.perf_counter()
        tasks = [client(k, http) for k in range(clients)]
        if pid is not None:
            tasks.append(watch())
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    lat = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "p99": float(np.percentile(lat, 99)),
        "codes": codes,
        "memory": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=45.0,
                        help="length of each 1/4/16-client run")
    parser.add_argument(
        "--load-seconds",
        type=float,
        default=300.0,
        help="length of the memory run at 16 clients (0: skip)",
    )
    args = parser.parse_args()

    data = shared_data()
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    print("Weights: random (seed 0); precision auto; detector HOG; 224x224 crops\n")
    photos = _photos(data, args.photos)
    with tempfile.TemporaryDirectory() as tmp:
        model_file = _model(data, Path(tmp) / "model.joblib")
        direct = direct_rate(model_file, photos)
        print(f"pipeline called directly: {direct:.2f} images/s", flush=True)
        port = _free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        server = subprocess.Popen(
            [sys.executable, "-m", "skemotion", "serve", str(model_file),
             "--port", str(port), "--queue", "256"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            import httpx

            for _ in range(600):
                try:
                    if httpx.get(url + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            asyncio.run(load(url, photos, 4, 10.0))  # warm up
            rows = []
            for clients in (1, 4, 16):
                r = asyncio.run(load(url, photos, clients, args.seconds))
                rows.append((clients, r))
                print(f"  {clients} clients: {r['rps']:.2f} req/s, codes {r['codes']}",
                      flush=True)  # fmt: skip
            print(f"\n{args.seconds:.0f} s per row, one 224x224 photo per request:\n")
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
            if args.load_seconds > 0:
                r = asyncio.run(load(url, photos, 16, args.load_seconds, server.pid))
                m = r["memory"]
                print(
                    f"\nLoad, {args.load_seconds:.0f} s at 16 clients: "
                    f"{r['requests']} requests ({r['rps']:.2f}/s), answers "
                    f"{r['codes']}; server RSS at start {m[0]:.0f} MiB, "
                    f"peak {max(m):.0f} MiB, at the end {m[-1]:.0f} MiB; "
                    f"first minute's peak {max(m[:60]):.0f} MiB, last minute's "
                    f"{max(m[-60:]):.0f} MiB"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
