"""Exceptions raised by skemotion.

Every error skemotion raises about user input belongs to one family,
:class:`SkemotionError`, and also subclasses the built-in type that fits
(:class:`ValueError` for bad images, model files and parameters,
:class:`OSError` for downloads), so ``except ValueError`` keeps working in user
code. Every message names the file at fault and says what is wrong with it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = [
    "BadImagesError",
    "CheckpointError",
    "ChecksumError",
    "DownloadError",
    "ImageReadError",
    "ImageTooLargeError",
    "ModelFileError",
    "ModelVersionWarning",
    "MultipleFacesError",
    "NoFaceError",
    "SkemotionError",
    "VideoError",
    "WeightsError",
    "WeightsWarning",
]


class SkemotionError(Exception):
    """Base class of every error skemotion raises about its input.

    Errors travel between processes (the cropper's worker processes, a
    cluster's workers): each one pickles as the arguments it was made with,
    whatever its constructor's signature.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    """

    def __init__(self, message: str) -> None:
        # BaseException.__new__ keeps the constructor's own arguments in
        # self.args, and pickling rebuilds the error from them: leave them
        # (OSError's __new__ leaves them to __init__ when it is overridden).
        if not self.args:
            self.args = (message,)
        self.message = message

    def __str__(self) -> str:
        return self.message


class _FileError(SkemotionError):
    """An error about one file: ``PATH: reason`` (base of the file errors).

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


class ImageReadError(_FileError, ValueError):
    """One file could not be used as an image.

    Raised for a file that does not exist, is a folder or a special file
    (FIFO, device), cannot be read (permission), is empty, larger than the
    file-size limit, truncated or corrupt, not an image, or declares more
    pixels than the ``max_pixels`` limit (decompression bomb); and by
    :class:`~skemotion.FaceCropper` for a face policy set to ``"raise"``
    (:class:`NoFaceError`, :class:`MultipleFacesError`).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    reason : str
        What is wrong with it, in words.
    """


class ImageTooLargeError(ImageReadError):
    """An image is over a size limit: its bytes (``max_file_size``) or its
    pixels (``max_pixels``, Pillow's decompression-bomb limit).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    reason : str
        Which limit, and by how much.
    """


class NoFaceError(ImageReadError):
    """No face was found in an image and the policy is ``no_face="raise"``.

    Parameters
    ----------
    path : str or os.PathLike
        The image.
    reason : str
        What the detector found, in words.
    """


class MultipleFacesError(ImageReadError):
    """Several faces were found and the policy is ``multiple_faces="raise"``.

    Parameters
    ----------
    path : str or os.PathLike
        The image.
    reason : str
        What the detector found, in words.
    """


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


class WeightsError(SkemotionError, ValueError):
    """Encoder weights could not be obtained or loaded.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    """


class DownloadError(SkemotionError, OSError):
    """A data set could not be downloaded or found locally.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    """


class ChecksumError(DownloadError):
    """A downloaded file does not match its expected sha256 checksum.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    """


class CheckpointError(SkemotionError, ValueError):
    """A fine-tuning checkpoint folder cannot be resumed by this fit.

    Raised by :class:`~skemotion.VGG16FineTuner` when ``checkpoint_dir``
    holds a run with other parameters or other training data, or files that
    are damaged.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    """


class ModelFileError(_FileError, ValueError):
    """A model file could not be loaded.

    Raised by :func:`~skemotion.load_model` for a file that is missing,
    empty, truncated or damaged, written by an incompatible version of
    skemotion or its stack, or holding something that is not a fitted
    emotion pipeline.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    reason : str
        What is wrong with it, in words.
    """


class ModelVersionWarning(UserWarning):
    """A model file was saved by other versions of skemotion or its stack.

    :func:`~skemotion.load_model` warns when the skemotion, scikit-learn,
    scikeras, Keras, TensorFlow or NumPy version recorded in the file differs
    from the installed one (predictions may then differ, or fail), and when
    the file holds no version record at all (saved with plain
    ``joblib.dump``).
    """


class WeightsWarning(UserWarning):
    """A weights file and the way it is used disagree.

    :class:`~skemotion.VGG16Encoder` warns when an adapted weights file was
    trained on another crop size than the images it is given, or with another
    preprocessing than the one asked for: features are still computed, but
    worse than the file can give.
    """


class VideoError(_FileError, ValueError):
    """A video file cannot be read: missing, empty, not a video, truncated
    before its index, or in a codec this OpenCV cannot decode.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    reason : str
        What is wrong with it, in words.
    """
