"""Audit a folder of labelled images before training (``skemotion check``).

:func:`check_image_folder` walks ``root/<label>/<file>`` or
``root/{train,validation,test}/<label>/<file>``, looks at every file of every
label folder once (hash, decode, face detection) and returns a
:class:`FolderReport`: counts per class and split, class imbalance, files that
are not usable images, byte-identical duplicates, the same image in two splits
(a leak) or under two labels (a conflict), images with no face or several
faces, and image sizes, Pillow modes and file formats.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .._io import file_sha256
from .._progress import progress_iter
from ..datasets._folders import SPLIT_NAMES, _relabel, folder_layout
from ..datasets._image_io import IMAGE_EXTENSIONS, read_image
from ..exceptions import ImageReadError
from ..preprocessing._face_cropping import detect_faces as _detect_faces

__all__ = [
    "IMBALANCE_WARN_RATIO",
    "SPLIT_NAMES",
    "ClassBalance",
    "FaceCount",
    "FileIssue",
    "FolderReport",
    "IdenticalGroup",
    "check_image_folder",
]

logger = logging.getLogger(__name__)

#: Split name used for a ``root/<label>/<file>`` tree without split folders.
NO_SPLIT = "all"

#: A split whose largest class has at least this many times the images of its
#: smallest class is reported as a problem.
IMBALANCE_WARN_RATIO = 1.5

_DETECTORS = ("hog", "haar", "mtcnn", "none")
# Ignored folders whose images training would silently miss: reported as problems.
_NESTED_FOLDER = "folder inside a label folder (its files are not used)"
_UNLISTED = "label folder cannot be listed"
_BESIDE_SPLITS = (
    f"folder beside the split folders (splits are named {', '.join(SPLIT_NAMES)})"
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
    """

    path: str
    reason: str


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
        return [
            e
            for e in self.ignored
            if e.reason in (_NESTED_FOLDER, _BESIDE_SPLITS)
            or e.reason.startswith(_UNLISTED)
        ]

    @property
    def problems(self) -> list[str]:
        """One short sentence per kind of problem found, with its count.

        Returns
        -------
        problems : list of str
            Empty when nothing worth fixing before training was found.
        """
        found = []
        if self.unreadable:
            found.append(f"{_n(self.unreadable, 'image file')} that cannot be read")
        if self.not_images:
            found.append(f"{_n(self.not_images, 'non-image file')} in label folders")
        if self.misnamed_images:
            found.append(
                f"{_n(self.misnamed_images, 'image')} without an image extension "
                "in the file name (training skips them)"
            )
        if self.stray_folders:
            found.append(
                f"{_n(self.stray_folders, 'folder')} not searched (their files "
                "are not used)"
            )
        for split, labels in self.missing_labels.items():
            found.append(
                f"{_n(labels, 'label')} with no image in {split}: {', '.join(labels)}"
            )
        for split, info in self.imbalance.items():
            if info.ratio >= IMBALANCE_WARN_RATIO:
                found.append(
                    f"class imbalance in {split}: {info.largest} has {info.ratio:.1f}x "
                    f"the images of {info.smallest} "
                    f"({info.largest_count} vs {info.smallest_count})"
                )
        if self.duplicates:
            n_files = sum(len(g.paths) for g in self.duplicates)
            found.append(
                f"{_n(self.duplicates, 'group')} of byte-identical duplicates within "
                f"one split and label ({n_files} files)"
            )
        if self.leaks:
            found.append(f"{_n(self.leaks, 'image')} in more than one split (leak)")
        if self.conflicts:
            found.append(
                f"{_n(self.conflicts, 'image')} filed under more than one label "
                "(conflict)"
            )
        if self.no_face:
            found.append(
                f"no face found in {_n(self.no_face, 'image')} "
                f"(detector {self.detector})"
            )
        if self.multiple_faces:
            found.append(
                f"several faces found in {_n(self.multiple_faces, 'image')} "
                f"(detector {self.detector})"
            )
        return found

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
            ``"problems"`` and ``"has_problems"``.
        """
        data = asdict(self)
        data["root"] = str(self.root)
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
        lines = [
            f"Image folder: {self.root}",
            f"{self.n_files} files in label folders; labels: "
            + (", ".join(self.labels) or "none"),
        ]
        lines += ["", "Images per class:"]
        width = max([len("label"), len("total"), *map(len, self.labels)])
        cols = [max(len(s), 6) for s in self.splits]
        lines.append(
            "  "
            + "label".ljust(width)
            + "".join(f"  {s:>{c}}" for s, c in zip(self.splits, cols, strict=True))
        )
        for label in [*self.labels, "total"]:
            row = []
            for split, c in zip(self.splits, cols, strict=True):
                counts = self.counts.get(split, {})
                n = sum(counts.values()) if label == "total" else counts.get(label, 0)
                row.append(f"  {n:>{c}}")
            lines.append("  " + label.ljust(width) + "".join(row))
        if self.imbalance:
            lines += ["", "Class balance (largest / smallest class):"]
            for split, info in self.imbalance.items():
                lines.append(
                    f"  {split}: {info.ratio:.2f} ({info.largest} "
                    f"{info.largest_count} / {info.smallest} {info.smallest_count})"
                )
        if self.sizes:
            lines += ["", "Image sizes (pixels, upright):"]
            for key in ("width", "height", "shortest_side"):
                s = self.sizes[key]
                lines.append(
                    f"  {key.replace('_', ' ')}: {s['min']} to {s['max']} "
                    f"(median {s['median']:g})"
                )
            for key in ("smallest", "largest"):
                s = self.sizes[key]
                lines.append(f"  {key}: {s['path']} ({s['width']}x{s['height']})")
            lines.append("Modes: " + _format_counter(self.modes))
            lines.append("Formats: " + _format_counter(self.formats))
        if self.detector is not None:
            n_one = self.faces_checked - len(self.no_face) - len(self.multiple_faces)
            lines += [
                "",
                f"Faces (detector {self.detector}): {self.faces_checked} images "
                f"searched; one face in {n_one}, none in {len(self.no_face)}, "
                f"several in {len(self.multiple_faces)}",
            ]
            if len(self.faces_by_detector) > 1:
                lines.append("Faces per detector:")
                for name, c in self.faces_by_detector.items():
                    lines.append(
                        f"  {name}: no face in {c['no_face']} of {c['faces_checked']}, "
                        f"several in {c['multiple_faces']}"
                    )

        def section(title: str, items: list[str]) -> None:
            if items:
                lines.extend(["", f"{title} ({len(items)}):"])
                lines.extend(f"  {item}" for item in items)

        def issues(entries: list[FileIssue]) -> list[str]:
            return [f"{e.path}: {e.reason}" for e in entries]

        def groups(entries: list[IdenticalGroup]) -> list[str]:
            return [" = ".join(g.paths) for g in entries]

        section("Image files that cannot be read", issues(self.unreadable))
        section("Files that are not images", issues(self.not_images))
        section("Images without an image file name", issues(self.misnamed_images))
        section(
            "Byte-identical duplicates within one split and label",
            groups(self.duplicates),
        )
        section("Same image in several splits (leak)", groups(self.leaks))
        section("Same image under several labels (conflict)", groups(self.conflicts))
        if self.detector is not None:
            section(f"No face found (detector {self.detector})", self.no_face)
            section(
                f"Several faces found (detector {self.detector})",
                [f"{m.path}: {m.faces} faces" for m in self.multiple_faces],
            )
        section("Ignored", issues(self.ignored))
        lines.append("")
        problems = self.problems
        if problems:
            lines.append(f"Problems found ({len(problems)}):")
            lines.extend(f"  - {p}" for p in problems)
        else:
            lines.append("No problems found.")
        return "\n".join(lines)


@dataclass
class _Inspection:
    """What reading one file's content gave (shared by identical files)."""

    error: str | None = None
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    faces: dict[str, int] | None = None  # by detector


@dataclass
class _Entry:
    split: str
    label: str
    path: Path
    rel: str
    sha256: str | None = None
    result: _Inspection = field(default_factory=_Inspection)


def _n(items: list | int, noun: str) -> str:
    """``"1 image"``, ``"3 images"``: a count (or a list's length) and a noun."""
    count = items if isinstance(items, int) else len(items)
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _format_counter(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _sha256(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None  # read_image will say why


def _walk(
    root: Path, strip_suffix: str | None
) -> tuple[list[str], list[str], list[_Entry], list[FileIssue]]:
    """Find the splits, labels and files of a tree, and what is left out."""
    ignored: list[FileIssue] = []
    top = sorted(root.iterdir())
    split_dirs = folder_layout(root).splits
    if split_dirs:
        splits = [(d.name, d) for d in split_dirs.values()]
        for p in top:
            if p.is_dir() and p not in split_dirs.values():
                reason = "hidden folder" if p.name.startswith(".") else _BESIDE_SPLITS
                ignored.append(FileIssue(_rel(p, root), reason))
            elif not p.is_dir():
                ignored.append(_outside_issue(p, root))
    else:
        splits = [(NO_SPLIT, root)]
    labels: set[str] = set()
    entries: list[_Entry] = []
    for split, split_dir in splits:
        children = top if split_dir == root else sorted(split_dir.iterdir())
        for label_dir in children:
            if not label_dir.is_dir():
                ignored.append(_outside_issue(label_dir, root))
                continue
            if label_dir.name.startswith("."):
                ignored.append(FileIssue(_rel(label_dir, root), "hidden folder"))
                continue
            label = _relabel(label_dir.name, None, strip_suffix)
            labels.add(label)
            try:
                files = sorted(label_dir.iterdir())
            except OSError as exc:
                reason = f"{_UNLISTED} ({exc.strerror or exc})"
                ignored.append(FileIssue(_rel(label_dir, root), reason))
                continue
            for path in files:
                rel = _rel(path, root)
                if path.name.startswith("."):
                    kind = "folder" if path.is_dir() else "file"
                    ignored.append(FileIssue(rel, f"hidden {kind}"))
                elif path.is_dir():
                    ignored.append(FileIssue(rel, _NESTED_FOLDER))
                elif not path.is_file():
                    ignored.append(
                        FileIssue(rel, "not a regular file (broken link, device...)")
                    )
                else:
                    entries.append(_Entry(split, label, path, rel))
    return [s for s, _ in splits], sorted(labels), entries, ignored


def _outside_issue(path: Path, root: Path) -> FileIssue:
    if path.name.startswith("."):
        return FileIssue(_rel(path, root), "hidden file")
    return FileIssue(_rel(path, root), "file outside a label folder")


def _inspect(path: Path, detectors: list[str]) -> _Inspection:
    """Decode one file, read its mode and format, and count its faces."""
    try:
        image = read_image(path)
    except ImageReadError as exc:
        return _Inspection(error=exc.reason)
    height, width = image.shape[:2]
    try:
        with Image.open(path) as img:  # header only: the stored mode and format
            mode, fmt = img.mode, img.format or "unknown"
    except Exception:  # read by OpenCV only
        mode, fmt = "unknown", "unknown (read by OpenCV)"
    faces = None
    if detectors:
        try:
            faces = {d: len(_detect_faces(image, d)) for d in detectors}
        except cv2.error as exc:  # pragma: no cover - defensive
            return _Inspection(error=f"face detection failed ({exc})")
    return _Inspection(width=width, height=height, mode=mode, format=fmt, faces=faces)


def _summary(values: list[int]) -> dict[str, Any]:
    return {"min": int(min(values)), "median": float(np.median(values)),
            "max": int(max(values))}  # fmt: skip


def _group(sha: str, members: list[_Entry]) -> IdenticalGroup:
    return IdenticalGroup(
        sha256=sha,
        paths=sorted(e.rel for e in members),
        splits=sorted({e.split for e in members}),
        labels=sorted({e.label for e in members}),
    )


def check_image_folder(
    root: str | os.PathLike,
    *,
    detector: str | list[str] = "hog",
    detect_faces: bool = True,
    strip_suffix: str | None = None,
    progress: bool | None = None,
) -> FolderReport:
    """Look for problems in a folder of labelled images before training.

    Every regular file of every label folder is hashed once and, when its
    content was not met before, decoded once with
    :func:`~skemotion.read_image` and searched for faces once
    (byte-identical files share the result), so the report covers what
    training would meet.

    Parameters
    ----------
    root : str or os.PathLike
        ``root/<label>/<file>``, or ``root/<split>/<label>/<file>`` where the
        split folders are named ``train``, ``validation`` or ``test`` (any
        case). Labels come from the folder names.
    detector : {"hog", "haar", "mtcnn", "none"} or list of them, default="hog"
        Face detector used to count faces (see
        :func:`~skemotion.detect_faces`, run with its
        defaults, as :class:`~skemotion.FaceCropper` does); ``"none"`` skips
        face counting. Several: each counts faces, and the report says how
        many images each finds no face or several in
        (``faces_by_detector``).
    detect_faces : bool, default=True
        Count faces (the slow part); False skips it.
    strip_suffix : str, optional
        Suffix removed from folder names to make labels (e.g. ``"_face"``).
    progress : bool or None, default=None
        Progress bar over the files; ``None`` shows one when stderr is a
        terminal.

    Returns
    -------
    report : FolderReport
        Counts, imbalance, unreadable and non-image files, duplicates, leaks,
        conflicts, face counts, sizes, modes and formats; see
        :attr:`FolderReport.problems`, :attr:`FolderReport.has_problems`,
        :meth:`FolderReport.format_text` and :meth:`FolderReport.to_dict`.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    NotADirectoryError
        If ``root`` is not a folder.
    ValueError
        If ``detector`` is unknown, or ``root`` holds no label folder.

    Notes
    -----
    Duplicates are found among readable images only (two empty files are not
    reported as duplicates of each other). :attr:`FolderReport.identical_groups`
    holds every group of identical images; each of them shows up in
    :attr:`~FolderReport.duplicates` (its files sharing a split and a label),
    :attr:`~FolderReport.leaks` (it spans splits),
    :attr:`~FolderReport.conflicts` (it spans labels), or several of these.

    Examples
    --------
    >>> from skemotion import check_image_folder
    >>> report = check_image_folder("data/", strip_suffix="_face")  # doctest: +SKIP
    >>> print(report.format_text())  # doctest: +SKIP
    >>> report.has_problems  # doctest: +SKIP
    True
    """
    root = Path(os.fspath(root))
    if not root.exists():
        raise FileNotFoundError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: is not a folder")
    asked = [detector] if isinstance(detector, str) else list(detector)
    for name in asked:
        if name not in _DETECTORS:
            raise ValueError(
                f"unknown detector {name!r}; use one of {', '.join(_DETECTORS)}"
            )
    detectors = [d for d in dict.fromkeys(asked) if d != "none"] if detect_faces else []
    use_detector = detectors[0] if detectors else None
    splits, labels, entries, ignored = _walk(root, strip_suffix)
    if not labels:
        raise ValueError(
            f"{root}: no label folders found; expected {root}/<label>/<file> or "
            f"{root}/<split>/<label>/<file> with splits named " + ", ".join(SPLIT_NAMES)
        )

    seen: dict[str, _Inspection] = {}
    n_decoded = 0
    for entry in progress_iter(
        entries, total=len(entries), desc="Checking images", progress=progress
    ):
        entry.sha256 = _sha256(entry.path)
        cached = seen.get(entry.sha256) if entry.sha256 is not None else None
        if cached is None:
            cached = _inspect(entry.path, detectors)
            n_decoded += 1
            if entry.sha256 is not None:
                seen[entry.sha256] = cached
        entry.result = cached

    report = FolderReport(
        root=root,
        splits=splits,
        labels=labels,
        counts={s: dict.fromkeys(labels, 0) for s in splits},
        n_files=len(entries),
        ignored=ignored,
        detector=use_detector,
    )
    readable = [e for e in entries if e.result.error is None]
    for entry in entries:
        named_image = entry.path.suffix.lower() in IMAGE_EXTENSIONS
        error = entry.result.error
        if error is not None:
            target = report.unreadable if named_image else report.not_images
            target.append(FileIssue(entry.rel, error))
        elif not named_image:
            report.misnamed_images.append(
                FileIssue(
                    entry.rel,
                    f"a {entry.result.format} image, but its name does not end "
                    "in an image extension",
                )
            )
        else:
            report.counts[entry.split][entry.label] += 1
    _fill_balance(report)
    _fill_identical(report, readable)
    _fill_faces(report, readable, detectors)
    _fill_sizes(report, readable)
    logger.info(
        "Checked %d files under %s (%d decoded, the rest identical to one already "
        "seen): %s",
        len(entries),
        root,
        n_decoded,
        "; ".join(report.problems) or "no problems",
    )
    return report


def _fill_balance(report: FolderReport) -> None:
    for split, counts in report.counts.items():
        present = {label: n for label, n in counts.items() if n > 0}
        missing = [label for label, n in counts.items() if n == 0]
        if missing:
            report.missing_labels[split] = missing
        if not present:
            continue
        smallest = min(sorted(present), key=present.__getitem__)
        largest = max(sorted(present), key=present.__getitem__)
        report.imbalance[split] = ClassBalance(
            ratio=present[largest] / present[smallest],
            smallest=smallest,
            smallest_count=present[smallest],
            largest=largest,
            largest_count=present[largest],
        )


def _fill_identical(report: FolderReport, readable: list[_Entry]) -> None:
    by_hash: dict[str, list[_Entry]] = defaultdict(list)
    for entry in readable:
        if entry.sha256 is not None:
            by_hash[entry.sha256].append(entry)
    for sha in sorted(by_hash, key=lambda h: min(e.rel for e in by_hash[h])):
        members = by_hash[sha]
        if len(members) < 2:
            continue
        group = _group(sha, members)
        report.identical_groups.append(group)
        if len(group.splits) > 1:
            report.leaks.append(group)
        if len(group.labels) > 1:
            report.conflicts.append(group)
        by_place: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        for entry in members:
            by_place[entry.split, entry.label].append(entry)
        for place in sorted(by_place):
            if len(by_place[place]) > 1:
                report.duplicates.append(_group(sha, by_place[place]))
    report.duplicates.sort(key=lambda g: g.paths[0])


def _fill_faces(report: FolderReport, readable: list[_Entry], detectors) -> None:
    if report.detector is None:
        return
    for name in detectors:
        report.faces_by_detector[name] = dict.fromkeys(
            ("faces_checked", "no_face", "multiple_faces"), 0
        )
    for entry in readable:
        found = entry.result.faces
        if found is None:  # pragma: no cover - detector always ran
            continue
        for name, n in found.items():
            counts = report.faces_by_detector[name]
            counts["faces_checked"] += 1
            counts["no_face"] += n == 0
            counts["multiple_faces"] += n > 1
        faces = found[report.detector]
        report.faces_checked += 1
        if faces == 0:
            report.no_face.append(entry.rel)
        elif faces > 1:
            report.multiple_faces.append(FaceCount(entry.rel, faces))


def _fill_sizes(report: FolderReport, readable: list[_Entry]) -> None:
    if not readable:
        return
    widths = [e.result.width for e in readable]
    heights = [e.result.height for e in readable]
    shortest = [min(w, h) for w, h in zip(widths, heights, strict=True)]
    order = sorted(range(len(readable)), key=lambda i: (shortest[i], readable[i].rel))

    def describe(i: int) -> dict[str, Any]:
        return {"path": readable[i].rel, "width": widths[i], "height": heights[i]}

    report.sizes = {
        "width": _summary(widths),
        "height": _summary(heights),
        "shortest_side": _summary(shortest),
        "smallest": describe(order[0]),
        "largest": describe(order[-1]),
    }
    report.modes = dict(sorted(Counter(e.result.mode for e in readable).items()))
    report.formats = dict(sorted(Counter(e.result.format for e in readable).items()))
