"""Errors of one family, each a built-in type too, pickling whole (they cross
process boundaries: the cropper's workers, a cluster's workers)."""

from __future__ import annotations

import pickle

import pytest

import skemotion
from skemotion.exceptions import (
    BadImagesError,
    CheckpointError,
    ChecksumError,
    DownloadError,
    ImageReadError,
    ImageTooLargeError,
    ModelFileError,
    MultipleFacesError,
    NoFaceError,
    SkemotionError,
    WeightsError,
)

ERRORS = [
    ImageReadError("a.jpg", "file is empty (0 bytes)"),
    ImageTooLargeError("d.jpg", "file is 2.0 MiB, more than the limit of 1.0 MiB"),
    NoFaceError("b.jpg", "no face found (detector='hog')"),
    MultipleFacesError("c.jpg", "8 faces found"),
    BadImagesError([ImageReadError("a.jpg", "file is empty (0 bytes)")], 3),
    ModelFileError("m.joblib", "not a skemotion model"),
    WeightsError("x.weights.h5: weights file does not exist"),
    CheckpointError("ckpt holds a checkpoint of another run"),
    DownloadError("offline: the seed data cannot be downloaded"),
    ChecksumError("train/a.jpg: downloaded file does not match the manifest"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_pickle_whole(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error) or isinstance(error, BadImagesError)
    assert isinstance(again, SkemotionError)
    assert isinstance(
        again, OSError if isinstance(error, DownloadError) else ValueError
    )


def test_bad_images_error_lists_every_file_and_keeps_them():
    error = BadImagesError(
        [ImageReadError("a.jpg", "truncated"), NoFaceError("b.jpg", "no face")], 5
    )
    again = pickle.loads(pickle.dumps(error))
    assert str(again).splitlines() == [
        "2 of 5 images could not be used:",
        "  a.jpg: truncated",
        "  b.jpg: no face",
    ]
    assert [(e.path, type(e)) for e in again.errors] == [
        ("a.jpg", ImageReadError),
        ("b.jpg", NoFaceError),
    ]


def test_every_public_error_is_exported():
    for name in skemotion.exceptions.__all__:
        assert getattr(skemotion, name) is getattr(skemotion.exceptions, name)
