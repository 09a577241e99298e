"""What :func:`check_image_folder` found: the :class:`FolderReport` record.

Its counts and lists are filled by the check (:mod:`._checking`); its words,
:attr:`FolderReport.problems` and :meth:`FolderReport.format_text`, come from
:mod:`._findings_text`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._findings import (
    STRAY_FOLDER_KINDS,
    ClassBalance,
    FaceCount,
    FileIssue,
    IdenticalGroup,
)
from ._findings_text import problem_sentences, report_text

__all__ = ["NO_SPLIT", "FolderReport"]

#: Split name used for a ``root/<label>/<file>`` tree without split folders.
NO_SPLIT = "all"

#: The lists of :class:`FileIssue` in a report (their kinds stay out of JSON).
_ISSUE_LISTS = ("unreadable", "not_images", "misnamed_images", "ignored")


@dataclass
class FolderReport:
    """What :func:`check_image_folder` found in a folder of labelled images.

    Every path in the report except :attr:`root` is relative to ``root`` and
    written with ``/`` separators.

    Attributes
    ----------
    root : pathlib.Path
        The folder audited.
    splits : list of str
        The split folders found, in the order train, validation, test, or
        ``["all"]`` for a ``root/<label>/<file>`` tree without splits.
    labels : list of str
        Every label (folder name, ``strip_suffix`` removed), sorted.
    counts : dict of {str: dict of {str: int}}
        ``counts[split][label]``: readable images with an image file name
        (those :func:`~skemotion.load_image_folder` and training use);
        every label appears in every split, 0 where it has no image.
    n_files : int
        Regular, non-hidden files looked at in the label folders.
    imbalance : dict of {str: ClassBalance}
        Largest/smallest class ratio and the smallest class of each split
        that has images.
    missing_labels : dict of {str: list of str}
        Per split, the labels that have no usable image in it (every label
        when the split has none at all).
    unreadable : list of FileIssue
        Files named like images (``IMAGE_EXTENSIONS``)
        that :func:`~skemotion.read_image` refuses, with its reason.
    not_images : list of FileIssue
        Other files of label folders (``notes.txt``, ``Thumbs.db`` ...), which
        are not images either.
    misnamed_images : list of FileIssue
        Readable images whose file name does not end in an image extension:
        :func:`~skemotion.load_image_folder` skips them.
    ignored : list of FileIssue
        What was not looked at and why: hidden files and folders, files
        outside label folders, folders inside label folders, folders beside
        the split folders. Only the last two count as a problem
        (:attr:`stray_folders`).
    identical_groups : list of IdenticalGroup
        Every group of two or more readable images with the same bytes,
        wherever they are.
    duplicates : list of IdenticalGroup
        Byte-identical images within one split and one label (the part of an
        identical group that shares a split and a label).
    leaks : list of IdenticalGroup
        Identical groups whose files are in two or more splits (the whole
        group is listed).
    conflicts : list of IdenticalGroup
        Identical groups whose files are under two or more labels.
    detector : str or None
        The face detector used, or None when faces were not counted.
    faces_checked : int
        Readable images searched for faces.
    no_face : list of str
        Images in which the detector found no face.
    multiple_faces : list of FaceCount
        Images in which it found several faces, with their number.
    faces_by_detector : dict
        With several detectors: ``{detector: {"faces_checked", "no_face",
        "multiple_faces"}}`` for each (``no_face`` and ``multiple_faces``
        counts); the fields above are the first detector's.
    sizes : dict
        Over readable images, as the pipeline sees them (EXIF rotation
        applied): ``"width"``, ``"height"`` and ``"shortest_side"``, each
        ``{"min", "median", "max"}``, and ``"smallest"`` and ``"largest"``,
        each ``{"path", "width", "height"}`` (by shortest side). Empty when
        there is no readable image.
    modes : dict of {str: int}
        Readable images per Pillow mode as stored (``RGB``, ``L``, ``P``...).
    formats : dict of {str: int}
        Readable images per file format (``JPEG``, ``PNG``, ``GIF``...).
    """

    root: Path
    splits: list[str]
    labels: list[str]
    counts: dict[str, dict[str, int]]
    n_files: int = 0
    imbalance: dict[str, ClassBalance] = field(default_factory=dict)
    missing_labels: dict[str, list[str]] = field(default_factory=dict)
    unreadable: list[FileIssue] = field(default_factory=list)
    not_images: list[FileIssue] = field(default_factory=list)
    misnamed_images: list[FileIssue] = field(default_factory=list)
    ignored: list[FileIssue] = field(default_factory=list)
    identical_groups: list[IdenticalGroup] = field(default_factory=list)
    duplicates: list[IdenticalGroup] = field(default_factory=list)
    leaks: list[IdenticalGroup] = field(default_factory=list)
    conflicts: list[IdenticalGroup] = field(default_factory=list)
    detector: str | None = None
    faces_checked: int = 0
    no_face: list[str] = field(default_factory=list)
    multiple_faces: list[FaceCount] = field(default_factory=list)
    faces_by_detector: dict[str, dict[str, int]] = field(default_factory=dict)
    sizes: dict[str, Any] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)

    @property
    def stray_folders(self) -> list[FileIssue]:
        """Ignored folders whose files training would miss (a problem).

        Folders inside label folders, folders beside the split folders of a
        split tree, and label folders that cannot be listed. Hidden entries
        and files outside label folders (a ``README``, a ``LICENSE``) are
        ignored without being a problem.
        """
        return [e for e in self.ignored if e.kind in STRAY_FOLDER_KINDS]

    @property
    def problems(self) -> list[str]:
        """One short sentence per kind of problem found, with its count.

        Returns
        -------
        problems : list of str
            Empty when nothing worth fixing before training was found.
        """
        return problem_sentences(self)

    @property
    def has_problems(self) -> bool:
        """Whether anything worth fixing before training was found."""
        return bool(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-serialisable data.

        Returns
        -------
        data : dict
            Every attribute (nested records as dicts, paths as ``str``), plus
            ``"problems"`` and ``"has_problems"``; a file issue is its
            ``path`` and ``reason``.
        """
        data = asdict(self)
        data["root"] = str(self.root)
        for name in _ISSUE_LISTS:
            for issue in data[name]:
                del issue["kind"]
        data["problems"] = self.problems
        data["has_problems"] = self.has_problems
        return data

    def format_text(self) -> str:
        """Return the report as readable text, one section per finding.

        Returns
        -------
        text : str
            Several lines: counts per class and split, balance, sizes, modes
            and formats, then every problem file by path (relative to
            ``root``), then the list of problems.
        """
        return report_text(self)
