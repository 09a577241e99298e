"""One way to take image files through the cropper, chunk by chunk, and one
rule for bad files, for everything that reads files: ``FaceCropper.transform``,
the pipeline's own methods, ``iter_predict_proba`` (so ``predict_topk``, the
command line, the cluster, the evaluation). The server and the video crop
images they already hold (uploads, frames) with ``crop_each`` and answer for a
bad one themselves. Every image is cropped by ``FaceCropper.crop_file``.

The rule:

1. Every file's size and image header are checked first
   (:func:`~skemotion.probe_image`, no decoding: moments for thousands of
   files). Missing, empty, special, oversized and non-image files and
   decompression bombs are found here.
2. The files are then read, decoded and cropped in input order, in the
   cropper's worker processes when it has ``n_jobs``, and handed on
   ``chunk_size`` at a time, so memory holds one chunk of images whatever the
   number of files, and the workers read ahead while the consumer encodes.
3. ``strict=True``: once a bad file is known (from step 1, or from step 2:
   pixel data that turns out truncated, a face policy of the cropper set to
   ``"raise"``), no further chunk is handed on, not even the chunk being
   filled; every remaining file is still read, and one
   :class:`~skemotion.exceptions.BadImagesError` listing every bad file, each
   with its reason, is raised at the end. ``strict=False``: a bad file is an
   item (a :class:`~skemotion.preprocessing.CropResult`) with its error, and
   every good file is handed on.

A file the cropper fails on in an unexpected way is a bad file with that
reason: it never stops the others.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator

from .._progress import progress_iter
from ..datasets import probe_source, source_name
from ..exceptions import BadImagesError, ImageReadError
from ._results import CropResult

__all__ = ["iter_crop_chunks"]

logger = logging.getLogger(__name__)


def iter_crop_chunks(
    crop,
    paths: list[str],
    *,
    chunk_size: int,
    strict: bool,
    all_faces: bool = False,
    progress: bool | None = None,
) -> Iterator[list[CropResult]]:
    """Crop image files chunk by chunk under the bad-file rule (see the module).

    Parameters
    ----------
    crop : FaceCropper
        The cropper, with its detector, policies, limits and workers.
    paths : list of str or InMemoryImage
        Validated sources (``as_sources``): paths or images in memory.
    chunk_size : int
        Items per chunk handed on (strict: good files only).
    strict : bool
        Raise one error for all bad files at the end (True), or hand bad
        files on as items with their error (False).
    all_faces : bool, default=False
        Crop every face, not only the one the ``multiple_faces`` policy picks.
    progress : bool or None
        A bar over the files.

    Yields
    ------
    chunk : list of CropResult
        One per file, in input order, as :meth:`FaceCropper.crop_file` makes
        them (``name``, ``boxes``, ``crops``, ``error``, ``face_found``...);
        ``name`` is the path, or an in-memory image's name; ``boxes`` and
        ``crops`` are None for a bad file, ``error`` None for a good one.

    Raises
    ------
    BadImagesError
        With ``strict=True``, after every file was read, when some are bad.
    """
    errors: list[ImageReadError] = []
    early: dict[int, ImageReadError] = {}
    for i, path in enumerate(paths):
        try:
            probe_source(
                path, max_pixels=crop.max_pixels, max_file_size=crop.max_file_size
            )
        except ImageReadError as exc:
            early[i] = exc
    if early and strict:
        logger.warning(
            "%d of %d files cannot be used; the others are still read, without "
            "encoding, so that one error lists every bad file", len(early), len(paths),
        )  # fmt: skip
    readable = [path for i, path in enumerate(paths) if i not in early]
    quiet = copy.copy(crop).set_params(progress=False)  # the bar is over the files
    results = iter(quiet.crop_each(readable, all_faces=all_faces) if readable else ())
    chunk: list[CropResult] = []
    for i in progress_iter(range(len(paths)), total=len(paths), desc="Images",
                           progress=progress):  # fmt: skip
        if i in early:
            item = CropResult(source_name(paths[i]), None, None, early[i])
        else:
            item = next(results)
        error = item.error
        if error is not None:
            errors.append(error)
            if strict and len(errors) == 1 and not early:
                logger.warning(
                    "%s; encoding stops, the remaining files are still read so "
                    "that one error lists every bad file", error,
                )  # fmt: skip
        if strict and (errors or early):  # a bad file is known: hand on no more
            continue
        chunk.append(item)
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if strict and errors:
        raise BadImagesError(errors, len(paths))
    if chunk:
        yield chunk
