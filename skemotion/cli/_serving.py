"""The ``serve`` command: a model behind a web page and a JSON API."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

from ._inputs import check_engine, load_model_file, model_name, old_spelling
from ._output import EXIT_OK, UsageError

__all__ = ["serve"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _serve_positionals(args) -> None:
    """``serve MODEL.joblib``, the old spelling, still works."""
    if args.old_model is None:
        return
    if args.model is not None:
        raise UsageError(
            f"serve takes no positional argument, got {args.old_model} and "
            f"--model {args.model}"
        )
    old_spelling(args, args.old_model)


def serve(args) -> int:
    import os

    _serve_positionals(args)
    check_engine(args)
    token = os.environ.get("SKEMOTION_TOKEN")
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"--token-file {args.token_file}: {exc}") from None
        if not token:
            raise UsageError(f"--token-file {args.token_file}: the file is empty")
    if args.host not in _LOOPBACK:
        if not args.allow_remote:
            raise UsageError(
                f"--host {args.host} lets other machines in: add --allow-remote, "
                "and a token (SKEMOTION_TOKEN or --token-file)"
            )
        if not token:
            raise UsageError(
                "--allow-remote needs a token: SKEMOTION_TOKEN or --token-file"
            )
    try:
        from ..serve import create_app, run_server
    except ImportError:
        raise UsageError(
            "serve needs Starlette and uvicorn: pip install 'skemotion[serve]'"
        ) from None
    if args.model is not None:  # a clear error before the server starts
        load_model_file(args.model, option="--model")
    app = create_app(args.model, settings=_settings(args, token))
    print(
        f"Serving {model_name(args.model)} on http://{args.host}:{args.port}/ "
        f"({'token required' if token else 'no token'}); Ctrl-C stops"
    )
    sys.stdout.flush()
    with _graceful_sigterm() as stopped:
        run_server(
            app,
            host=args.host,
            port=args.port,
            access_log=None if args.access_log == "off" else args.access_log,
            access_log_file=args.access_log_file,
        )
    if stopped:
        print("Stopped (SIGTERM) after the requests in flight were answered")
    return EXIT_OK


@contextlib.contextmanager
def _graceful_sigterm():
    """While the server runs, uvicorn takes SIGTERM, stops gracefully, then
    raises the signal again for the handler it found: this one notes it, so
    that the command ends with status 0 instead of being killed."""
    stopped: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: stopped.append(sig))
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, previous)


def _settings(args, token: str | None):
    from ..serve import ServeSettings

    return ServeSettings(
        max_request_bytes=args.max_request_size,
        max_files=args.max_files,
        max_queue=args.queue,
        face_threads=args.face_threads,
        token=token,
        cors_origins=args.cors_origin or (),
        detector=args.detector,
        engine=args.engine,
        max_connections=args.max_connections,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )
