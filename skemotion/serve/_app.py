"""The web page and the JSON API, on Starlette: safe by default."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from importlib import resources
from pathlib import Path

import numpy as np

from .._version import __version__
from ..datasets._image_io import _sniff_format
from ..datasets._sources import InMemoryImage
from ..exceptions import ImageReadError, ImageTooLargeError, NoFaceError
from ..prediction import top_k as most_probable
from ._batcher import Batcher, QueueFull

__all__ = ["ServeSettings", "create_app"]

logger = logging.getLogger(__name__)

#: What ``/v1/model`` calls the model served without a model file.
READY_NAME = "ready model (FER2013)"

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
}


class ServeSettings:
    """What :func:`create_app` serves with, and its limits.

    Parameters
    ----------
    max_request_bytes : int, default=10_000_000
        Bigger requests are answered 413 before they are read.
    max_files : int, default=8
        Images per request at most (413 beyond).
    max_pixels : int, default=40_000_000
        Pixels per image at most, read from its header (413 beyond).
    max_queue : int, default=64
        Images waiting for the network at most; a request that would pass it
        is answered 503 at once.
    batch_size : int, default=16
        Images the network sees together.
    top_k : int, default=3
    token : str or None, default=None
        When set, the API answers only requests with ``Authorization: Bearer
        <token>`` (compared in constant time).
    cors_origins : sequence of str, default=()
        Origins allowed to call the API from a browser; none by default.
    """

    def __init__(
        self,
        *,
        max_request_bytes: int = 10_000_000,
        max_files: int = 8,
        max_pixels: int = 40_000_000,
        max_queue: int = 64,
        batch_size: int = 16,
        top_k: int = 3,
        token: str | None = None,
        cors_origins=(),
    ) -> None:
        self.max_request_bytes = max_request_bytes
        self.max_files = max_files
        self.max_pixels = max_pixels
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.top_k = top_k
        self.token = token
        self.cors_origins = tuple(cors_origins)


class _Refusal(Exception):
    """A request answered with an error status and a JSON message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _load(model):
    """The model to serve, its file (None for a pipeline), and its name."""
    if model is None:
        from ..pretrained import load_pretrained

        return load_pretrained(), None, READY_NAME
    if isinstance(model, (str, os.PathLike)):
        from ..persistence import load_model

        path = os.fspath(model)
        return load_model(path), path, os.path.basename(path)
    return model, None, "a fitted pipeline"


def _model_description(model, path: str | None, name: str | None = None) -> dict:
    from ..persistence import dependency_versions

    steps = dict(getattr(model, "steps", []))
    encoder = next((s for s in steps.values() if hasattr(s, "weights_used_")), None)
    params = {
        k: repr(v)
        for k, v in model.get_params().items()
        if "__" in k and not k.endswith(("__memory", "__progress"))
    }
    return {
        "classes": [str(c) for c in model.classes_],
        "weights": getattr(encoder, "weights_used_", None),
        "precision": getattr(encoder, "precision_", None),
        "crop_size": list(steps["crop"].get_params()["size"])
        if isinstance(steps["crop"].size, (tuple, list))
        else [steps["crop"].size] * 2,
        "file": os.path.basename(path) if path else None,
        "name": name,
        "ready": name == READY_NAME,
        "parameters": params,
        "versions": dependency_versions(),
        "skemotion": __version__,
    }


def _predictor(model, top_k: int):
    """``work(images)``: every face of each image, classified in one batch."""
    if top_k < 1:  # refused at start-up, not request by request
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    from sklearn.base import clone

    crop = clone(model.named_steps["crop"]).set_params(no_face="raise", progress=False)
    rest = model[1:]
    classes = [str(c) for c in model.classes_]

    def work(images: list[np.ndarray]) -> list[dict]:
        sources = [InMemoryImage(f"<upload {i}>", img) for i, img in enumerate(images)]
        found = list(crop.crop_each(sources, all_faces=True))
        crops = [c for (_, _, cs, error) in found if error is None for c in cs]
        proba = rest.predict_proba(np.stack(crops)) if crops else None
        results, start = [], 0
        for _, boxes, face_crops, error in found:
            if error is not None and not isinstance(error, NoFaceError):
                results.append(error)
                continue
            faces = []
            n = 0 if error is not None else len(face_crops)
            for box, p in zip(
                np.asarray(boxes if n else []).reshape(-1, 4),
                proba[start : start + n] if n else [],
                strict=True,
            ):
                best = most_probable(p, classes, top_k)[0]
                faces.append(
                    {
                        "box": [int(v) for v in box],
                        "label": best[0][0],
                        "top_k": [
                            {"label": label, "probability": round(v, 6)}
                            for label, v in best
                        ],
                        "probabilities": {
                            c: round(float(v), 6)
                            for c, v in zip(classes, p, strict=True)
                        },
                    }
                )
            start += n
            results.append({"faces": faces})
        return results

    return work


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


def create_app(model=None, *, settings: ServeSettings | None = None):
    """The Starlette application serving ``model``: the page and the API.

    Parameters
    ----------
    model : str, os.PathLike, fitted pipeline or None, default=None
        A model file (loaded once, when the application starts), a fitted
        pipeline, or None: the ready model (:func:`~skemotion.load_pretrained`,
        FER2013's seven classes), loaded when the application starts.
    settings : ServeSettings, optional
        Limits, token and CORS; the defaults are safe.

    Returns
    -------
    app : starlette.applications.Starlette

    Notes
    -----
    Routes: ``GET /`` (the page), ``POST /v1/predict`` (multipart upload in
    field ``image``, repeatable, or a raw image body), ``GET /v1/model``,
    ``GET /healthz``, ``GET /openapi.json``. The server never reads a path or
    fetches a URL a request names: it takes image bytes only.
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from ..datasets._image_io import decode_image

    settings = settings or ServeSettings()
    state: dict = {}
    static = Path(str(resources.files("skemotion.serve").joinpath("static")))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loaded, path, name = _load(model)
        state["model"] = loaded
        state["description"] = _model_description(loaded, path, name)
        state["batcher"] = Batcher(
            _predictor(loaded, settings.top_k),
            max_queue=settings.max_queue,
            batch_size=settings.batch_size,
        )
        await state["batcher"].start()
        logger.info("serving %s", path or name)
        yield
        await state["batcher"].stop()

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": code, "message": message}},
            status_code=status,
            headers=_SECURITY_HEADERS,
        )

    def check_token(request) -> None:
        if settings.token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.token.encode()
        ):
            raise _Refusal(
                401, "unauthorized", "this server needs 'Authorization: Bearer <token>'"
            )

    async def read_body(request) -> bytes:
        declared = request.headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and (int(declared) > settings.max_request_bytes)
        ):
            raise _Refusal(
                413,
                "too_large",
                f"the request is {int(declared):,} bytes, "
                f"more than the limit of {settings.max_request_bytes:,}",
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_request_bytes:
                raise _Refusal(
                    413,
                    "too_large",
                    "the request is more than the limit "
                    f"of {settings.max_request_bytes:,} bytes",
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def uploads(request) -> list[tuple[str, bytes]]:
        body = await read_body(request)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            # parse what was read (within the limit) from a request that
            # replays it, rather than reading the stream a second time
            replayed = Request(request.scope, _replay(body))
            try:
                form = await replayed.form(
                    max_files=settings.max_files + 1, max_fields=settings.max_files + 8
                )
            except Exception as exc:
                raise _Refusal(400, "bad_request", f"unreadable form ({exc})") from None
            files = [v for _, v in form.multi_items() if hasattr(v, "read")]
            items = [
                (f.filename or f"image {i + 1}", await f.read())
                for i, f in enumerate(files)
            ]
            await form.close()
        elif kind.startswith("image/") or kind == "application/octet-stream":
            items = [("body", body)]
        else:
            raise _Refusal(
                415,
                "unsupported_media_type",
                "send an image as multipart/form-data (field 'image') "
                "or as the raw body with an image/* content type",
            )
        items = [(name, data) for name, data in items if data]
        if not items:
            raise _Refusal(400, "no_image", "the request holds no image")
        if len(items) > settings.max_files:
            raise _Refusal(
                413,
                "too_many_files",
                f"{len(items)} images; at most {settings.max_files} per request",
            )
        return items

    def decode(name: str, data: bytes) -> np.ndarray:
        """Bytes to pixels, with the library's limits; the type by the bytes."""
        from PIL import Image

        if _sniff_format(data[:32]) is None:  # not PNG/JPEG/GIF/TIFF/BMP/WebP
            try:
                import io

                with Image.open(io.BytesIO(data)):
                    pass
            except Exception:
                raise _Refusal(
                    415,
                    "not_an_image",
                    f"{name}: not an image (its "
                    "bytes are not those of an image format)",
                ) from None
        try:
            return decode_image(
                data,
                name=name,
                max_pixels=settings.max_pixels,
                max_file_size=settings.max_request_bytes,
            )
        except ImageTooLargeError as exc:
            raise _Refusal(413, "too_many_pixels", str(exc)) from None
        except ImageReadError as exc:
            raise _Refusal(422, "unreadable_image", str(exc)) from None

    async def predict(request):
        check_token(request)
        items = await uploads(request)
        images = await asyncio.gather(
            *(asyncio.to_thread(decode, n, d) for n, d in items)
        )
        try:
            results = await state["batcher"].submit(list(images))
        except QueueFull as exc:
            raise _Refusal(
                503, "busy", f"the server is busy ({exc}); try again in a moment"
            ) from None
        out = []
        for (name, _), image, result in zip(items, images, results, strict=True):
            if isinstance(result, Exception):
                raise _Refusal(422, "unreadable_image", f"{name}: {result}")
            out.append(
                {
                    "name": name,
                    "width": int(image.shape[1]),
                    "height": int(image.shape[0]),
                    **result,
                }
            )
        return JSONResponse(
            {"images": out, "classes": state["description"]["classes"]},
            headers=_SECURITY_HEADERS,
        )

    async def describe(request):
        check_token(request)
        return JSONResponse(
            {
                **state["description"],
                "auth": settings.token is not None,
                "limits": {
                    "max_request_bytes": settings.max_request_bytes,
                    "max_files": settings.max_files,
                    "max_pixels": settings.max_pixels,
                },
            },
            headers=_SECURITY_HEADERS,
        )

    async def health(request):
        batcher = state.get("batcher")
        return JSONResponse(
            {"status": "ok", "queued": batcher.pending() if batcher else 0},
            headers=_SECURITY_HEADERS,
        )

    async def page(request):
        html = (static / "index.html").read_text(encoding="utf-8")
        return Response(
            html, media_type="text/html; charset=utf-8", headers=_SECURITY_HEADERS
        )

    async def openapi(request):
        from ._openapi import openapi_schema

        return JSONResponse(openapi_schema(settings), headers=_SECURITY_HEADERS)

    async def refused(request, exc: _Refusal):
        return error(exc.status, exc.code, exc.message)

    async def not_found(request, exc):
        status = getattr(exc, "status_code", 404)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        return error(status, code, getattr(exc, "detail", None) or "not found")

    async def crashed(request, exc: Exception):
        logger.exception("unexpected error on %s", request.url.path)
        return error(
            500, "internal_error", "the server failed on this request; its log says why"
        )

    middleware = []
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    from starlette.exceptions import HTTPException

    return Starlette(
        routes=[
            Route("/", page),
            Route("/healthz", health),
            Route("/openapi.json", openapi),
            Route("/v1/model", describe),
            Route("/v1/predict", predict, methods=["POST"]),
            Mount("/static", StaticFiles(directory=static), name="static"),
        ],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            _Refusal: refused,
            HTTPException: not_found,
            Exception: crashed,
        },
    )
