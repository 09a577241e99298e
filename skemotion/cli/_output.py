"""What every command shares for output: exit codes, usage errors, safe printing."""

from __future__ import annotations

import sys

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "emit"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


def emit(text: str, stream=None) -> None:
    """Print one line; characters the stream cannot encode are escaped.

    A file name that is not valid UTF-8 (or a terminal that is not) must not
    cost the results: such characters are written as backslash escapes.
    """
    stream = sys.stdout if stream is None else stream
    try:
        print(text, file=stream)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        safe = text.encode(encoding, "backslashreplace").decode(encoding)
        print(safe, file=stream)
