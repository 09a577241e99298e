"""What a request carries: its token, its body within the limits, its images."""

from __future__ import annotations

import asyncio
import hmac

import numpy as np

from ..datasets import decode_image, sniff_format
from ..exceptions import ImageReadError, ImageTooLargeError

__all__ = ["Refusal", "check_token", "decode_upload", "preview_url", "read_uploads"]

#: The longest side of the previews ``?preview=1`` returns.
PREVIEW_SIDE = 1024


class Refusal(Exception):
    """A request answered with an error status and a JSON message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @property
    def closes(self) -> bool:
        """Whether the answer closes the connection: after a body refused
        (413) or late (408), what the client sends next is not a request."""
        return self.code in {"too_large", "body_timeout"}


def check_token(request, settings) -> None:
    """Refuse (401) a request without the bearer token, when one is set."""
    if settings.token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), settings.token.encode()
    ):
        raise Refusal(
            401, "unauthorized", "this server needs 'Authorization: Bearer <token>'"
        )


def _replay(body: bytes):
    """An ASGI ``receive`` that hands over an already read body once."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _too_large(size: int | None, settings) -> Refusal:
    limit = settings.max_request_bytes
    said = (
        f"the request is {size:,} bytes, more than the limit of {limit:,}"
        if size is not None
        else f"the request is more than the limit of {limit:,} bytes"
    )
    return Refusal(413, "too_large", said)


async def _discard_rest(stream, settings) -> None:
    """Read what is left of a refused body, up to ``max_drain_bytes``, so that
    a client that sends its whole body before reading (Python's urllib) reads
    the answer instead of a reset connection."""
    drained = 0
    async for chunk in stream:
        drained += len(chunk)
        if drained > settings.max_drain_bytes:
            return  # the connection is closed with the answer, unread


async def _read_within_limit(request, settings) -> bytes:
    declared = request.headers.get("content-length")
    size = int(declared) if declared is not None and declared.isdigit() else None
    stream = request.stream()
    if size is not None and size > settings.max_request_bytes:
        # a client waiting for "100 Continue" has sent nothing: answer at once
        if "100-continue" not in request.headers.get("expect", "").lower():
            await _discard_rest(stream, settings)
        raise _too_large(size, settings)
    chunks, received = [], 0
    async for chunk in stream:
        received += len(chunk)
        if received > settings.max_request_bytes:
            await _discard_rest(stream, settings)
            raise _too_large(None, settings)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_body(request, settings) -> bytes:
    """The body, refused (413) once it passes the limit, and (408) when it
    has not all come within ``body_timeout`` seconds; either refusal closes
    the connection."""
    try:
        async with asyncio.timeout(settings.body_timeout):
            return await _read_within_limit(request, settings)
    except TimeoutError:
        raise Refusal(
            408,
            "body_timeout",
            f"the request's body did not arrive within {settings.body_timeout:g} s",
        ) from None


async def _form_files(request, body: bytes, settings) -> list[tuple[str, bytes]]:
    """The files of a multipart form, each with its name."""
    from starlette.requests import Request

    # parse what was read (within the limit) from a request that
    # replays it, rather than reading the stream a second time
    replayed = Request(request.scope, _replay(body))
    try:
        form = await replayed.form(
            max_files=settings.max_files + 1, max_fields=settings.max_files + 8
        )
    except Exception as exc:
        raise Refusal(400, "bad_request", f"unreadable form ({exc})") from None
    files = [v for _, v in form.multi_items() if hasattr(v, "read")]
    items = [
        (f.filename or f"image {i + 1}", await f.read()) for i, f in enumerate(files)
    ]
    await form.close()
    return items


async def read_uploads(request, settings) -> list[tuple[str, bytes]]:
    """Each image of a request (a form's files, or the raw body), named."""
    body = await _read_body(request, settings)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        items = await _form_files(request, body, settings)
    elif kind.startswith("image/") or kind == "application/octet-stream":
        items = [("body", body)]
    else:
        raise Refusal(
            415,
            "unsupported_media_type",
            "send an image as multipart/form-data (field 'image') "
            "or as the raw body with an image/* content type",
        )
    items = [(name, data) for name, data in items if data]
    if not items:
        raise Refusal(400, "no_image", "the request holds no image")
    if len(items) > settings.max_files:
        raise Refusal(
            413,
            "too_many_files",
            f"{len(items)} images; at most {settings.max_files} per request",
        )
    return items


def decode_upload(name: str, data: bytes, settings) -> np.ndarray:
    """Bytes to pixels, with the library's limits; the type by the bytes."""
    from PIL import Image

    if sniff_format(data[:32]) is None:  # not PNG/JPEG/GIF/TIFF/BMP/WebP
        try:
            import io

            with Image.open(io.BytesIO(data)):
                pass
        except Exception:
            raise Refusal(
                415,
                "not_an_image",
                f"{name}: not an image (its bytes are not those of an image format)",
            ) from None
    try:
        return decode_image(
            data,
            name=name,
            max_pixels=settings.max_pixels,
            max_file_size=settings.max_request_bytes,
        )
    except ImageTooLargeError as exc:
        raise Refusal(413, "too_many_pixels", str(exc)) from None
    except ImageReadError as exc:
        raise Refusal(422, "unreadable_image", str(exc)) from None


def preview_url(image: np.ndarray) -> str:
    """The decoded image, upright, as a JPEG ``data:`` URL at most
    :data:`PREVIEW_SIDE` pixels on its longest side: what a browser that
    cannot decode the upload itself (HEIC in Chromium) shows. Face boxes
    are in the image's own pixels: scale them by the preview's width over
    the image's."""
    import base64
    import io

    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
