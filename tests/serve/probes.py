"""The bad-request table: requests a server must refuse, each with the answer
it must give. The serve tests send them through Starlette's test client and
real clients; ``benchmarks/serve.py`` mixes them into its soak.

Each case is ``make(photos) -> keyword arguments of an httpx request`` (the
test client's and httpx's ``post`` take the same), with the status and the
error code of the answer.
"""

from __future__ import annotations

import socket
import struct
import zlib
from typing import NamedTuple

#: Bytes over the default limit (10,000,000): a phone photo's size.
PHONE_PHOTO_BYTES = 12_000_000


class Probe(NamedTuple):
    make: object
    status: int
    code: str


def bomb() -> bytes:
    """A valid PNG header declaring 100,000 x 100,000 pixels."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def post_files(data: bytes, name: str = "x.jpg") -> dict:
    return {"files": {"image": (name, data, "image/jpeg")}}


def _too_big(photos) -> dict:
    """A JPEG padded past the size limit, as a phone photo is."""
    return post_files(photos["one"].ljust(PHONE_PHOTO_BYTES, b"\0"), "phone.jpg")


BAD_REQUESTS = {
    "text file named .jpg": Probe(
        lambda p: post_files(b"hello, not an image" * 10), 415, "not_an_image"
    ),
    "HTML page": Probe(
        lambda p: post_files(b"<!DOCTYPE html><html></html>"), 415, "not_an_image"
    ),
    "truncated JPEG": Probe(
        lambda p: post_files(p["one"][: len(p["one"]) // 3]), 422, "unreadable_image"
    ),
    "decompression bomb": Probe(
        lambda p: post_files(bomb(), "bomb.png"), 413, "too_many_pixels"
    ),
    "too many files": Probe(
        lambda p: {"files": [("image", (f"{i}.jpg", p["one"])) for i in range(9)]},
        413,
        "too_many_files",
    ),
    "no image in the form": Probe(
        lambda p: {"data": {"note": "x"}, "files": {"other": ("a.txt", b"")}},
        400,
        "no_image",
    ),
    "a path instead of an image": Probe(
        lambda p: {"json": {"path": "/etc/passwd"}}, 415, "unsupported_media_type"
    ),
    "a URL instead of an image": Probe(
        lambda p: {
            "content": b"https://example.com/a.jpg",
            "headers": {"content-type": "text/plain"},
        },
        415,
        "unsupported_media_type",
    ),
    "empty body": Probe(
        lambda p: {"content": b"", "headers": {"content-type": "image/png"}},
        400,
        "no_image",
    ),
    "12 MB photo (over the limit)": Probe(_too_big, 413, "too_large"),
}


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends on ``sock`` until it closes it."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def expect_continue(port: int, size: int) -> bytes:
    """The whole answer to a POST of ``size`` bytes that waits for ``100
    Continue`` before its body (as curl does for big bodies)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % size
        )
        return read_all(sock)
