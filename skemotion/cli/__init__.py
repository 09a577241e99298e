"""The ``skemotion`` command line: a thin layer over the library."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``skemotion`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str or None, default=None
        The command and its options, as typed after ``skemotion``. None: the
        process's own arguments, and the process is the program's (the
        ``skemotion`` command, ``python -m skemotion``): modules scikit-learn
        imports and most commands never use are then loaded on first use
        (:mod:`skemotion.cli._startup`), so that an answer comes sooner.

    Returns
    -------
    status : int
        0 on success, 1 when some input could not be used, 2 on usage
        errors, 130 when interrupted (see the command line's documentation).
    """
    if argv is None:
        from ._startup import defer_unused_imports

        defer_unused_imports()
    from ._main import main as run

    return run(argv)
