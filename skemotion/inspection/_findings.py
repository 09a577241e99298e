"""The records of what a folder check finds, short of the whole report.

One file or folder and what is wrong with it (:class:`FileIssue`, its
:class:`IssueKind` saying which problem it is, in no words), an image's face
count (:class:`FaceCount`), byte-identical files (:class:`IdenticalGroup`)
and a split's class balance (:class:`ClassBalance`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "STRAY_FOLDER_KINDS",
    "ClassBalance",
    "FaceCount",
    "FileIssue",
    "IdenticalGroup",
    "IssueKind",
]


class IssueKind(enum.Enum):
    """Which problem a :class:`FileIssue` is, whatever its words."""

    #: A file named like an image that cannot be read.
    UNREADABLE = "unreadable"
    #: Another file of a label folder that is not an image either.
    NOT_IMAGE = "not_image"
    #: A readable image whose file name has no image extension.
    MISNAMED_IMAGE = "misnamed_image"
    #: A file whose name starts with a dot (not looked at).
    HIDDEN_FILE = "hidden_file"
    #: A folder whose name starts with a dot (not looked at).
    HIDDEN_FOLDER = "hidden_folder"
    #: A file beside the label folders (a README, a LICENSE).
    OUTSIDE_LABEL_FOLDER = "outside_label_folder"
    #: Neither a file nor a folder (a broken link, a device).
    NOT_REGULAR_FILE = "not_regular_file"
    #: A folder inside a label folder: its files are not used.
    NESTED_FOLDER = "nested_folder"
    #: A folder beside the split folders of a split tree.
    BESIDE_SPLITS = "beside_splits"
    #: A label folder whose files cannot be listed.
    UNLISTED_FOLDER = "unlisted_folder"


#: Ignored folders whose images training would silently miss: problems.
STRAY_FOLDER_KINDS = frozenset(
    {IssueKind.NESTED_FOLDER, IssueKind.BESIDE_SPLITS, IssueKind.UNLISTED_FOLDER}
)


@dataclass(frozen=True)
class FileIssue:
    """One file (or folder) and what is wrong with it, or why it was skipped.

    Attributes
    ----------
    path : str
        Path relative to the audited root, with ``/`` separators.
    reason : str
        What is wrong, in words.
    kind : IssueKind
        Which problem it is (what the report's logic goes by; the reason is
        for people).
    """

    path: str
    reason: str
    kind: IssueKind


@dataclass(frozen=True)
class FaceCount:
    """An image and the number of faces the detector found in it.

    Attributes
    ----------
    path : str
        Path relative to the audited root, with ``/`` separators.
    faces : int
        Number of faces found.
    """

    path: str
    faces: int


@dataclass(frozen=True)
class IdenticalGroup:
    """Files with exactly the same bytes.

    Attributes
    ----------
    sha256 : str
        The hex digest shared by the files.
    paths : list of str
        The files, relative to the audited root, sorted.
    splits : list of str
        The distinct splits the files are in, sorted.
    labels : list of str
        The distinct labels the files are filed under, sorted.
    """

    sha256: str
    paths: list[str]
    splits: list[str]
    labels: list[str]


@dataclass(frozen=True)
class ClassBalance:
    """Class balance of one split.

    Attributes
    ----------
    ratio : float
        Images in the largest class divided by images in the smallest one
        (classes with no image are left out; see
        :attr:`FolderReport.missing_labels`).
    smallest : str
        The label with the fewest images (first in sorted order on ties).
    smallest_count : int
        Its number of images.
    largest : str
        The label with the most images (first in sorted order on ties).
    largest_count : int
        Its number of images.
    """

    ratio: float
    smallest: str
    smallest_count: int
    largest: str
    largest_count: int
