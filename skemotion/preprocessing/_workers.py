"""Work on many images, in this process or in a pool of worker processes, the
results in input order: :func:`in_order`. It knows nothing of cropping: the
cropper hands it its one per-image path (:meth:`FaceCropper.crop_file`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

from joblib import Parallel, delayed, effective_n_jobs

__all__ = ["in_order"]


def in_order(
    function: Callable, items: list, n_jobs: int | None
) -> tuple[Iterator, bool]:
    """``function(item)`` for each item, in order, from 1 or more processes
    (``n_jobs`` as joblib reads it), and whether worker processes compute them.

    ``function`` must not raise (a bad file is a result, not an error) and,
    for workers, must pickle (a bound method of an estimator does).
    """
    n_jobs = effective_n_jobs(n_jobs)
    if n_jobs == 1 or len(items) < 2:
        return map(function, items), False
    n_jobs = min(n_jobs, len(items))
    # Small tasks keep every worker busy and the first results coming early;
    # a few items per task amortise the cost of sending them.
    per_task = max(1, min(16, math.ceil(len(items) / (4 * n_jobs))))
    tasks = (
        delayed(_each)(function, items[i : i + per_task])
        for i in range(0, len(items), per_task)
    )
    parallel = Parallel(
        n_jobs=n_jobs,
        backend="loky",
        return_as="generator",
        pre_dispatch=f"{4 * n_jobs}",
    )
    return itertools.chain.from_iterable(parallel(tasks)), True


def _each(function: Callable, items: list) -> list:
    """A worker's task: a few items, in order."""
    return [function(item) for item in items]
