"""Exceptions raised by skemotion.

Every error skemotion raises about user input belongs to one family,
:class:`SkemotionError`, and also subclasses the built-in type that fits
(:class:`ValueError` for bad images and parameters, :class:`OSError` for
downloads), so ``except ValueError`` keeps working in user code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = [
    "BadImagesError",
    "ChecksumError",
    "DownloadError",
    "ImageReadError",
    "MultipleFacesError",
    "NoFaceError",
    "SkemotionError",
    "WeightsError",
]


class SkemotionError(Exception):
    """Base class of every error skemotion raises about its input."""


class ImageReadError(SkemotionError, ValueError):
    """One file could not be used as an image.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    reason : str
        What is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class NoFaceError(ImageReadError):
    """No face was found in an image and the policy is ``no_face="raise"``."""


class MultipleFacesError(ImageReadError):
    """Several faces were found and the policy is ``multiple_faces="raise"``."""


class BadImagesError(SkemotionError, ValueError):
    """Several files of one batch could not be used; lists every one of them.

    Parameters
    ----------
    errors : sequence of ImageReadError
        One error per bad file, in input order.
    n_total : int
        Number of files in the batch.
    """

    def __init__(self, errors: Sequence[ImageReadError], n_total: int) -> None:
        self.errors = list(errors)
        self.n_total = n_total
        lines = [f"  {e}" for e in self.errors]
        super().__init__(
            f"{len(self.errors)} of {n_total} images could not be used:\n"
            + "\n".join(lines)
        )

    def __reduce__(self):
        return (type(self), (self.errors, self.n_total))


class WeightsError(SkemotionError, ValueError):
    """Encoder weights could not be obtained or loaded."""


class DownloadError(SkemotionError, OSError):
    """A data set could not be downloaded or found locally."""


class ChecksumError(DownloadError):
    """A downloaded file does not match its expected sha256 checksum."""
