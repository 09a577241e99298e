"""Progress bars for long work, quiet when nobody is watching."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled(progress: bool | None) -> bool:
    """Resolve a ``progress`` parameter: ``None`` means "when stderr is a terminal"."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def progress_iter(
    iterable: Iterable[T], *, total: int | None, desc: str, progress: bool | None
) -> Iterator[T]:
    """Iterate with a tqdm bar on stderr when progress is enabled."""
    if not progress_enabled(progress):
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, unit="img", leave=False)
