"""Audit a folder of labelled images before training (``skemotion check``).

:func:`check_image_folder` walks ``root/<label>/<file>`` or
``root/{train,validation,test}/<label>/<file>``, looks at every file of every
label folder once (hash, decode, face detection) and returns a
:class:`FolderReport`: counts per class and split, class imbalance, files that
are not usable images, byte-identical duplicates, the same image in two splits
(a leak) or under two labels (a conflict), images with no face or several
faces, and image sizes, Pillow modes and file formats. This module finds; the
words are :mod:`._findings_text`'s.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .._io import file_sha256
from .._progress import progress_iter
from ..datasets import (
    IMAGE_EXTENSIONS,
    SPLIT_NAMES,
    folder_label,
    folder_layout,
    read_image,
)
from ..exceptions import ImageReadError
from ..preprocessing import DETECTORS
from ..preprocessing import detect_faces as _detect_faces
from ._findings import ClassBalance, FaceCount, FileIssue, IdenticalGroup, IssueKind
from ._findings_text import file_issue
from ._folder_report import NO_SPLIT, FolderReport

__all__ = ["check_image_folder"]

logger = logging.getLogger(__name__)


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


@dataclass
class _Tree:
    """What walking a tree found: its splits and labels, the files of its
    label folders, and what was left out."""

    splits: list[str] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    entries: list[_Entry] = field(default_factory=list)
    ignored: list[FileIssue] = field(default_factory=list)


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
    detectors = _check_detectors(detector, detect_faces)
    tree = _walk(root, strip_suffix)
    if not tree.labels:
        raise ValueError(
            f"{root}: no label folders found; expected {root}/<label>/<file> or "
            f"{root}/<split>/<label>/<file> with splits named " + ", ".join(SPLIT_NAMES)
        )
    n_decoded = _inspect_entries(tree.entries, detectors, progress)
    report = _report(root, tree, detectors)
    logger.info(
        "Checked %d files under %s (%d decoded, the rest identical to one already "
        "seen): %s",
        len(tree.entries),
        root,
        n_decoded,
        "; ".join(report.problems) or "no problems",
    )
    return report


def _report(root: Path, tree: _Tree, detectors: list[str]) -> FolderReport:
    """The report of a walked and inspected tree."""
    labels = sorted(tree.labels)
    report = FolderReport(
        root=root,
        splits=tree.splits,
        labels=labels,
        counts={s: dict.fromkeys(labels, 0) for s in tree.splits},
        n_files=len(tree.entries),
        ignored=tree.ignored,
        detector=detectors[0] if detectors else None,
    )
    readable = [e for e in tree.entries if e.result.error is None]
    _fill_files(report, tree.entries)
    _fill_balance(report)
    _fill_identical(report, readable)
    _fill_faces(report, readable, detectors)
    _fill_sizes(report, readable)
    return report


def _check_detectors(detector: str | list[str], detect_faces: bool) -> list[str]:
    """The detectors to count faces with, in order, without repeats."""
    asked = [detector] if isinstance(detector, str) else list(detector)
    for name in asked:
        if name not in DETECTORS:
            raise ValueError(
                f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}"
            )
    if not detect_faces:
        return []
    return [d for d in dict.fromkeys(asked) if d != "none"]


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _walk(root: Path, strip_suffix: str | None) -> _Tree:
    """Find the splits, labels and files of a tree, and what is left out."""
    tree = _Tree()
    top = sorted(root.iterdir())
    split_dirs = folder_layout(root).splits
    if split_dirs:
        splits = [(d.name, d) for d in split_dirs.values()]
        for p in top:
            if p.is_dir() and p not in split_dirs.values():
                kind = (
                    IssueKind.HIDDEN_FOLDER
                    if p.name.startswith(".")
                    else IssueKind.BESIDE_SPLITS
                )
                tree.ignored.append(file_issue(kind, _rel(p, root)))
            elif not p.is_dir():
                tree.ignored.append(_outside_issue(p, root))
    else:
        splits = [(NO_SPLIT, root)]
    for split, split_dir in splits:
        children = top if split_dir == root else sorted(split_dir.iterdir())
        for label_dir in children:
            if not label_dir.is_dir():
                tree.ignored.append(_outside_issue(label_dir, root))
            elif label_dir.name.startswith("."):
                tree.ignored.append(
                    file_issue(IssueKind.HIDDEN_FOLDER, _rel(label_dir, root))
                )
            else:
                _walk_label_folder(tree, root, split, label_dir, strip_suffix)
    tree.splits = [s for s, _ in splits]
    return tree


def _walk_label_folder(
    tree: _Tree, root: Path, split: str, label_dir: Path, strip_suffix: str | None
) -> None:
    """Add the label, and the folder's files or why they are left out."""
    label = folder_label(label_dir.name, strip_suffix=strip_suffix)
    tree.labels.add(label)
    try:
        files = sorted(label_dir.iterdir())
    except OSError as exc:
        tree.ignored.append(
            file_issue(
                IssueKind.UNLISTED_FOLDER,
                _rel(label_dir, root),
                exc.strerror or exc,
            )
        )
        return
    for path in files:
        rel = _rel(path, root)
        if path.name.startswith("."):
            kind = IssueKind.HIDDEN_FOLDER if path.is_dir() else IssueKind.HIDDEN_FILE
            tree.ignored.append(file_issue(kind, rel))
        elif path.is_dir():
            tree.ignored.append(file_issue(IssueKind.NESTED_FOLDER, rel))
        elif not path.is_file():
            tree.ignored.append(file_issue(IssueKind.NOT_REGULAR_FILE, rel))
        else:
            tree.entries.append(_Entry(split, label, path, rel))


def _outside_issue(path: Path, root: Path) -> FileIssue:
    if path.name.startswith("."):
        return file_issue(IssueKind.HIDDEN_FILE, _rel(path, root))
    return file_issue(IssueKind.OUTSIDE_LABEL_FOLDER, _rel(path, root))


def _sha256(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None  # read_image will say why


def _inspect_entries(
    entries: list[_Entry], detectors: list[str], progress: bool | None
) -> int:
    """Hash every file and inspect each content once; how many were decoded."""
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
    return n_decoded


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


def _fill_files(report: FolderReport, entries: list[_Entry]) -> None:
    """Count the usable images; list the unreadable, non-image and misnamed."""
    for entry in entries:
        named_image = entry.path.suffix.lower() in IMAGE_EXTENSIONS
        error = entry.result.error
        if error is not None:
            if named_image:
                report.unreadable.append(
                    file_issue(IssueKind.UNREADABLE, entry.rel, error)
                )
            else:
                report.not_images.append(
                    file_issue(IssueKind.NOT_IMAGE, entry.rel, error)
                )
        elif not named_image:
            report.misnamed_images.append(
                file_issue(IssueKind.MISNAMED_IMAGE, entry.rel, entry.result.format)
            )
        else:
            report.counts[entry.split][entry.label] += 1


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
