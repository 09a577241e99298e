"""The ``skemotion`` command line: ``train``, ``predict``, ``check``, ``evaluate``,
``demo``, ``finetune``, ``video`` and ``serve``.

A thin layer: :mod:`._arguments` builds the parser (the options several
commands share defined once, in :mod:`._options`), :mod:`._commands` maps each
command to its function, which calls the library and prints what it returns,
and :func:`main` turns every error into one line and an exit status.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

from .._logging import quiet_tensorflow
from ._arguments import build_parser
from ._commands import COMMANDS
from ._output import EXIT_FAILED, EXIT_USAGE, UsageError, emit

__all__ = ["main"]


@contextlib.contextmanager
def _plain_warnings(command: str):
    """Show warnings as one ``skemotion COMMAND: warning: ...`` line each."""

    def show(message, category, filename, lineno, file=None, line=None):
        emit(f"skemotion {command}: warning: {message}", sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _stdout_to_devnull() -> None:
    """After a broken pipe (``skemotion predict ... | head``), exit quietly."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Run the ``skemotion`` command line; returns the exit status.

    Exit status: 0 on success, 1 when some input could not be used (bad
    image files, problems found by ``check``), 2 on usage errors (a wrong
    option, a missing folder, a model file that is missing or damaged),
    130 when interrupted. Errors are one line each, never a traceback
    (``--verbose`` adds it for unexpected errors).
    """
    parser = build_parser(COMMANDS)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (usage shown)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.progress = False if args.quiet else None
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        quiet_tensorflow()
        # Pillow logs its own view of a broken file; skemotion's error says it.
        logging.getLogger("PIL").setLevel(logging.CRITICAL)
    from ..exceptions import SkemotionError

    prefix = f"skemotion {args.command}: error:"
    try:
        with _plain_warnings(args.command):
            return args.func(args)
    except UsageError as exc:
        emit(f"{prefix} {exc}", sys.stderr)
        return EXIT_USAGE
    except SkemotionError as exc:
        emit(f"{prefix} {exc}", sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_FAILED
    except Exception as exc:  # a bug or a broken installation: one line, not a trace
        if args.verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        hint = "" if args.verbose else " (run with --verbose for the traceback)"
        emit(
            f"{prefix} unexpected {type(exc).__name__}: {exc}{hint}",
            sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
