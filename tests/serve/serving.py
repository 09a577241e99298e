"""Helpers of the serve tests: a free port, and a real server on 127.0.0.1
in a thread (the fixtures are in conftest.py, which imports these)."""

from __future__ import annotations

import socket
import threading
import time

import httpx

from skemotion.serve import server_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not come up in {seconds} s")


class RunningServer:
    """A real server on 127.0.0.1 in a thread of this process, as
    :func:`skemotion.serve.run_server` runs it (``server_config``)."""

    def __init__(self, app, http: str = "auto") -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(server_config(app, port=self.port, http=http))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        wait_until_up(self.url)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
