"""The web page and the JSON API, on Starlette: safe by default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from ..prediction import check_engine_choice
from ._batcher import Batcher, QueueFull
from ._explaining import add_saliency
from ._metrics import Metrics
from ._model import Predictor, describe_model, load_served, with_detector
from ._observe import Observe
from ._settings import ServeSettings
from ._uploads import Refusal, check_token, decode_upload, preview_url, read_uploads

__all__ = ["ServeSettings", "create_app"]

logger = logging.getLogger(__name__)

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
}


_YES = {"1", "true", "yes"}


def _threads(settings: ServeSettings) -> int:
    """The threads that find faces: the settings', else one per core (4 at most)."""
    if settings.face_threads is not None:
        return settings.face_threads
    return max(1, min(4, os.cpu_count() or 1))


def _json(content, status: int = 200):
    from starlette.responses import JSONResponse

    return JSONResponse(content, status_code=status, headers=_SECURITY_HEADERS)


def _error(status: int, code: str, message: str, *, close: bool = False):
    answer = _json({"error": {"code": code, "message": message}}, status)
    if close:
        answer.headers["Connection"] = "close"
    return answer


class _Served(NamedTuple):
    """What the application serves, once its model is loaded."""

    model: object
    """The fitted pipeline (with the settings' detector, if one is set)."""
    description: dict
    """What ``/v1/model`` says of it."""
    batcher: Batcher
    """Runs its predictions, a batch at a time."""


class _Routes:
    """The application's handlers: its settings, and the model it loads when
    it starts (with the batcher that runs it)."""

    def __init__(self, model, settings: ServeSettings, metrics: Metrics) -> None:
        self.model = model  # a file, a pipeline or None, until it starts
        self.settings = settings
        self.metrics = metrics
        self.served: _Served | None = None  # once the model is loaded
        self.static = Path(str(resources.files("skemotion.serve").joinpath("static")))

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        loaded, path, name = load_served(self.model, self.settings.engine)
        if self.settings.detector is not None:
            loaded = with_detector(loaded, self.settings.detector)
        work = Predictor(loaded, self.settings.top_k, _threads(self.settings))
        batcher = Batcher(
            work.stages,
            max_queue=self.settings.max_queue,
            batch_size=self.settings.batch_size,
            on_batch=self.metrics.batch,
        )
        self.served = _Served(loaded, describe_model(loaded, path, name), batcher)
        await batcher.start()
        logger.info("serving %s", path or name)
        yield
        await batcher.stop()
        work.close()

    async def predict(self, request):
        settings = self.settings
        check_token(request, settings)
        items = await read_uploads(request, settings)
        images = await asyncio.gather(
            *(asyncio.to_thread(decode_upload, n, d, settings) for n, d in items)
        )
        try:
            results = await self.served.batcher.submit(list(images))
        except QueueFull as exc:
            raise Refusal(
                503, "busy", f"the server is busy ({exc}); try again in a moment"
            ) from None
        preview = request.query_params.get("preview", "").lower() in _YES
        if request.query_params.get("explain", "").lower() in _YES:
            # in the network's own stage thread: never beside a batch on it
            await asyncio.get_running_loop().run_in_executor(
                self.served.batcher.executors[-1], add_saliency,
                self.served.model, list(images), results,
            )  # fmt: skip
        out = [
            await _answer(name, image, result, preview)
            for (name, _), image, result in zip(items, images, results, strict=True)
        ]
        faces = sum(len(answer["faces"]) for answer in out)
        self.metrics.classified(len(out), faces)
        _note(request, images=len(out), faces=faces)
        return _json({"images": out, "classes": self.served.description["classes"]})

    async def describe(self, request):
        check_token(request, self.settings)
        return _json(
            {
                **self.served.description,
                "auth": self.settings.token is not None,
                "limits": {
                    "max_request_bytes": self.settings.max_request_bytes,
                    "max_files": self.settings.max_files,
                    "max_pixels": self.settings.max_pixels,
                },
            }
        )

    async def health(self, request):
        return _json({"status": "ok", "queued": self._queued()})

    def _queued(self) -> int:
        """Images waiting for the network (none before the model is loaded)."""
        return self.served.batcher.pending() if self.served else 0

    async def metrics_page(self, request):
        from starlette.responses import Response

        check_token(request, self.settings)
        return Response(
            self.metrics.render(self._queued()),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    async def page(self, request):
        from starlette.responses import Response

        html = (self.static / "index.html").read_text(encoding="utf-8")
        return Response(
            html, media_type="text/html; charset=utf-8", headers=_SECURITY_HEADERS
        )

    async def openapi(self, request):
        from ._openapi import openapi_schema

        return _json(openapi_schema(self.settings))

    async def refused(self, request, exc: Refusal):
        _note(request, error=exc.code)
        return _error(exc.status, exc.code, exc.message, close=exc.closes)

    async def not_found(self, request, exc):
        status = getattr(exc, "status_code", 404)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        _note(request, error=code)
        return _error(status, code, getattr(exc, "detail", None) or "not found")

    async def crashed(self, request, exc: Exception):
        logger.exception("unexpected error on %s", request.url.path)
        return _error(
            500, "internal_error", "the server failed on this request; its log says why"
        )


async def _answer(name: str, image, result, preview: bool) -> dict:
    """What ``/v1/predict`` says of one image: its size and faces (and its
    preview, when asked), or a 422 for an image the cropper could not use."""
    if isinstance(result, Exception):
        raise Refusal(422, "unreadable_image", f"{name}: {result}")
    answer = {
        "name": name,
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        **result,
    }
    if preview:
        answer["preview"] = await asyncio.to_thread(preview_url, image)
    return answer


def _note(request, **fields) -> None:
    """Add ``fields`` to the access-log record of ``request``."""
    request.scope.setdefault("skemotion", {}).update(fields)


def _middleware(settings: ServeSettings, metrics: Metrics) -> list:
    """Every request measured; CORS for the origins allowed."""
    from starlette.middleware import Middleware

    observe = Middleware(Observe, metrics=metrics)
    if not settings.cors_origins:
        return [observe]
    from starlette.middleware.cors import CORSMiddleware

    return [
        observe,
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        ),
    ]


def create_app(model=None, *, settings: ServeSettings | None = None):
    """The Starlette application serving ``model``: the page and the API.

    Parameters
    ----------
    model : str, os.PathLike, fitted pipeline or None, default=None
        A model file (loaded once, when the application starts), a fitted
        pipeline, or None: the ready model (:func:`~skemotion.load_pretrained`,
        FER2013's seven classes), loaded when the application starts.
    settings : ServeSettings, optional
        Limits, token and CORS, and the ready model's engine; the defaults
        are safe.

    Returns
    -------
    app : starlette.applications.Starlette

    Notes
    -----
    Routes: ``GET /`` (the page), ``POST /v1/predict`` (multipart upload in
    field ``image``, repeatable, or a raw image body), ``GET /v1/model``,
    ``GET /healthz``, ``GET /metrics`` (Prometheus' text format),
    ``GET /openapi.json``. :func:`run_server` serves it with the settings'
    time-outs and limits; so does ``uvicorn.Server(server_config(app))``.
    The server never reads a path or fetches a URL a request names: it
    takes image bytes only.
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    settings = settings or ServeSettings()
    check_engine_choice(model, settings.engine)  # here, not when it starts
    metrics = Metrics()
    routes = _Routes(model, settings, metrics)
    app = Starlette(
        routes=[
            Route("/", routes.page),
            Route("/healthz", routes.health),
            Route("/metrics", routes.metrics_page),
            Route("/openapi.json", routes.openapi),
            Route("/v1/model", routes.describe),
            Route("/v1/predict", routes.predict, methods=["POST"]),
            Mount("/static", StaticFiles(directory=routes.static), name="static"),
        ],
        middleware=_middleware(settings, metrics),
        lifespan=routes.lifespan,
        exception_handlers={
            Refusal: routes.refused,
            HTTPException: routes.not_found,
            Exception: routes.crashed,
        },
    )
    app.state.settings, app.state.metrics = settings, metrics
    return app
