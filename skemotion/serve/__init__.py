"""Serve a model: a local web page and a JSON API (``skemotion serve``).

Needs the ``serve`` extra (``pip install skemotion[serve]``): Starlette and
uvicorn. Safe by default: it listens on 127.0.0.1, takes image bytes only
(never a path or a URL), limits request size, images and pixels, answers a
full queue with 503, and needs a token to listen anywhere else.
"""

try:
    import starlette as _starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "skemotion.serve needs Starlette and uvicorn: pip install 'skemotion[serve]'"
    ) from exc

from ._app import create_app
from ._server import run_server, server_config
from ._settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "run_server", "server_config"]
