"""The cropper's work on many paths: each path's crop as a task computes it
(through the cache, never raising for a bad file), in this process or in a
pool of worker processes, in input order."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from ..datasets import source_content, source_name
from ..exceptions import ImageReadError, MultipleFacesError, NoFaceError
from ._results import PathResult

if TYPE_CHECKING:
    from ._face_cropping import FaceCropper

__all__ = ["crop_path", "crop_results"]

logger = logging.getLogger(__name__)


def crop_results(
    cropper: FaceCropper, paths: list, size: tuple[int, int], all_faces: bool, cache
) -> tuple[Iterator[PathResult], bool]:
    """Each path's :func:`crop_path` result, in order, from 1 or more processes
    (the cropper's ``n_jobs``), and whether worker processes compute them."""
    n_jobs = effective_n_jobs(cropper.n_jobs)
    if n_jobs == 1 or len(paths) < 2:
        results = (crop_path(cropper, p, size, all_faces, cache) for p in paths)
        return results, False
    n_jobs = min(n_jobs, len(paths))
    # Small tasks keep every worker busy and the first crops coming early;
    # a few images per task amortise the cost of sending them.
    per_task = max(1, min(16, math.ceil(len(paths) / (4 * n_jobs))))
    tasks = (
        delayed(_crop_paths)(cropper, paths[i : i + per_task], size, all_faces, cache)
        for i in range(0, len(paths), per_task)
    )
    parallel = Parallel(
        n_jobs=n_jobs,
        backend="loky",
        return_as="generator",
        pre_dispatch=f"{4 * n_jobs}",
    )
    return itertools.chain.from_iterable(parallel(tasks)), True


def _crop_paths(
    cropper: FaceCropper,
    paths: list,
    size: tuple[int, int],
    all_faces: bool,
    cache,
) -> list[PathResult]:
    """Worker task of ``FaceCropper(n_jobs>1)``: crop a few files in order."""
    return [crop_path(cropper, p, size, all_faces, cache) for p in paths]


def crop_path(
    cropper: FaceCropper, path, size: tuple[int, int], all_faces: bool, cache
) -> PathResult:
    """Crop one source, through the cache when there is one, never raising for
    a bad file: its error is in the result."""
    try:
        if cache is None:
            return cropper._crop_one(path, size, all_faces)
        key = _crop_key(cropper, path, cropper._cache_params(size, all_faces), cache)
        if key is None:  # read_source will name the problem
            return cropper._crop_one(path, size, all_faces)
        stored = cache.get(key)
        if stored is not None:
            event = str(stored["event"]) if "event" in stored else ""
            boxes, crops = stored["boxes"].astype(int), stored["crops"]
            return PathResult(boxes, crops, None, event or None, True)
        result = cropper._crop_one(path, size, all_faces)
        cache.put(
            key,
            boxes=np.asarray(result.boxes, dtype=np.int64),
            crops=result.crops,
            event=np.array(result.event or ""),
        )
        return result._replace(hit=False)
    except ImageReadError as exc:
        return PathResult(None, None, exc, _policy_event(exc), None)
    except Exception as exc:  # a bug or a broken library: this file only
        name = source_name(path)
        logger.debug("%s: unexpected error", name, exc_info=True)
        reason = f"could not be read or cropped ({type(exc).__name__}: {exc})"
        return PathResult(None, None, ImageReadError(name, reason), None, None)


def _crop_key(cropper: FaceCropper, source, params: dict, cache) -> str | None:
    """The cache key of a source's crops; None when it cannot be read.

    A file is stat-ed first (never read a huge file whole, never a FIFO); one
    the cache's memo saw unchanged in this process is not read again."""

    def read() -> bytes | None:
        return source_content(source, max_file_size=cropper.max_file_size)

    if isinstance(source, str):
        max_size = cropper.max_file_size
        return cache.file_key("crop", source, params, read, max_size=max_size)
    content = read()
    return None if content is None else cache.key("crop", content, params)


def _policy_event(error: ImageReadError) -> str | None:
    if isinstance(error, NoFaceError):
        return "no_face"
    if isinstance(error, MultipleFacesError):
        return "multiple_faces"
    return None
