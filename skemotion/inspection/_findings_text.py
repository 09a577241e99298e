"""A folder check in words: each file's reason, the problems, the text report.

:func:`file_issue` words a :class:`FileIssue` from its :class:`IssueKind`;
:func:`problem_sentences` is :attr:`FolderReport.problems` (one sentence per
kind of problem, with its count) and :func:`report_text` is
:meth:`FolderReport.format_text`. Only this module holds the words: the
finding goes by kinds and counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..datasets import SPLIT_NAMES
from ._findings import FileIssue, IdenticalGroup, IssueKind

if TYPE_CHECKING:
    from ._folder_report import FolderReport

__all__ = ["IMBALANCE_WARN_RATIO", "file_issue", "problem_sentences", "report_text"]

#: A split whose largest class has at least this many times the images of its
#: smallest class is reported as a problem.
IMBALANCE_WARN_RATIO = 1.5

#: The reason of each kind of issue; ``{detail}`` is what the finder adds.
_REASONS = {
    IssueKind.UNREADABLE: "{detail}",  # read_image's reason
    IssueKind.NOT_IMAGE: "{detail}",  # read_image's reason
    IssueKind.MISNAMED_IMAGE: (
        "a {detail} image, but its name does not end in an image extension"
    ),
    IssueKind.HIDDEN_FILE: "hidden file",
    IssueKind.HIDDEN_FOLDER: "hidden folder",
    IssueKind.OUTSIDE_LABEL_FOLDER: "file outside a label folder",
    IssueKind.NOT_REGULAR_FILE: "not a regular file (broken link, device...)",
    IssueKind.NESTED_FOLDER: "folder inside a label folder (its files are not used)",
    IssueKind.BESIDE_SPLITS: (
        f"folder beside the split folders (splits are named {', '.join(SPLIT_NAMES)})"
    ),
    IssueKind.UNLISTED_FOLDER: "label folder cannot be listed ({detail})",
}


def file_issue(kind: IssueKind, path: str, detail: object = "") -> FileIssue:
    """The issue of ``kind`` at ``path``, its reason worded with ``detail``
    (the reader's reason, the image format, the system's error)."""
    return FileIssue(path, _REASONS[kind].format(detail=detail), kind)


def problem_sentences(report: FolderReport) -> list[str]:
    """One short sentence per kind of problem found, with its count."""
    return [
        *_file_problems(report),
        *_class_problems(report),
        *_identical_problems(report),
        *_face_problems(report),
    ]


def _file_problems(report: FolderReport) -> list[str]:
    found = []
    if report.unreadable:
        found.append(f"{_n(report.unreadable, 'image file')} that cannot be read")
    if report.not_images:
        found.append(f"{_n(report.not_images, 'non-image file')} in label folders")
    if report.misnamed_images:
        found.append(
            f"{_n(report.misnamed_images, 'image')} without an image extension "
            "in the file name (training skips them)"
        )
    if report.stray_folders:
        found.append(
            f"{_n(report.stray_folders, 'folder')} not searched (their files "
            "are not used)"
        )
    return found


def _class_problems(report: FolderReport) -> list[str]:
    found = [
        f"{_n(labels, 'label')} with no image in {split}: {', '.join(labels)}"
        for split, labels in report.missing_labels.items()
    ]
    for split, info in report.imbalance.items():
        if info.ratio >= IMBALANCE_WARN_RATIO:
            found.append(
                f"class imbalance in {split}: {info.largest} has {info.ratio:.1f}x "
                f"the images of {info.smallest} "
                f"({info.largest_count} vs {info.smallest_count})"
            )
    return found


def _identical_problems(report: FolderReport) -> list[str]:
    found = []
    if report.duplicates:
        n_files = sum(len(g.paths) for g in report.duplicates)
        found.append(
            f"{_n(report.duplicates, 'group')} of byte-identical duplicates within "
            f"one split and label ({n_files} files)"
        )
    if report.leaks:
        found.append(f"{_n(report.leaks, 'image')} in more than one split (leak)")
    if report.conflicts:
        found.append(
            f"{_n(report.conflicts, 'image')} filed under more than one label "
            "(conflict)"
        )
    return found


def _face_problems(report: FolderReport) -> list[str]:
    found = []
    if report.no_face:
        found.append(
            f"no face found in {_n(report.no_face, 'image')} "
            f"(detector {report.detector})"
        )
    if report.multiple_faces:
        found.append(
            f"several faces found in {_n(report.multiple_faces, 'image')} "
            f"(detector {report.detector})"
        )
    return found


def report_text(report: FolderReport) -> str:
    """The report as readable text, one section per finding."""
    lines = [
        f"Image folder: {report.root}",
        f"{report.n_files} files in label folders; labels: "
        + (", ".join(report.labels) or "none"),
    ]
    lines += _counts_table(report)
    lines += _balance_lines(report)
    lines += _sizes_lines(report)
    lines += _faces_lines(report)
    lines += _file_sections(report)
    lines.append("")
    problems = report.problems
    if problems:
        lines.append(f"Problems found ({len(problems)}):")
        lines.extend(f"  - {p}" for p in problems)
    else:
        lines.append("No problems found.")
    return "\n".join(lines)


def _counts_table(report: FolderReport) -> list[str]:
    """Images per class (rows) and split (columns), and their totals."""
    lines = ["", "Images per class:"]
    width = max([len("label"), len("total"), *map(len, report.labels)])
    cols = [max(len(s), 6) for s in report.splits]
    lines.append(
        "  "
        + "label".ljust(width)
        + "".join(f"  {s:>{c}}" for s, c in zip(report.splits, cols, strict=True))
    )
    for label in [*report.labels, "total"]:
        row = []
        for split, c in zip(report.splits, cols, strict=True):
            counts = report.counts.get(split, {})
            n = sum(counts.values()) if label == "total" else counts.get(label, 0)
            row.append(f"  {n:>{c}}")
        lines.append("  " + label.ljust(width) + "".join(row))
    return lines


def _balance_lines(report: FolderReport) -> list[str]:
    if not report.imbalance:
        return []
    lines = ["", "Class balance (largest / smallest class):"]
    for split, info in report.imbalance.items():
        lines.append(
            f"  {split}: {info.ratio:.2f} ({info.largest} "
            f"{info.largest_count} / {info.smallest} {info.smallest_count})"
        )
    return lines


def _sizes_lines(report: FolderReport) -> list[str]:
    if not report.sizes:
        return []
    lines = ["", "Image sizes (pixels, upright):"]
    for key in ("width", "height", "shortest_side"):
        s = report.sizes[key]
        lines.append(
            f"  {key.replace('_', ' ')}: {s['min']} to {s['max']} "
            f"(median {s['median']:g})"
        )
    for key in ("smallest", "largest"):
        s = report.sizes[key]
        lines.append(f"  {key}: {s['path']} ({s['width']}x{s['height']})")
    lines.append("Modes: " + _format_counter(report.modes))
    lines.append("Formats: " + _format_counter(report.formats))
    return lines


def _faces_lines(report: FolderReport) -> list[str]:
    if report.detector is None:
        return []
    n_one = report.faces_checked - len(report.no_face) - len(report.multiple_faces)
    lines = [
        "",
        f"Faces (detector {report.detector}): {report.faces_checked} images "
        f"searched; one face in {n_one}, none in {len(report.no_face)}, "
        f"several in {len(report.multiple_faces)}",
    ]
    if len(report.faces_by_detector) > 1:
        lines.append("Faces per detector:")
        for name, c in report.faces_by_detector.items():
            lines.append(
                f"  {name}: no face in {c['no_face']} of {c['faces_checked']}, "
                f"several in {c['multiple_faces']}"
            )
    return lines


def _file_sections(report: FolderReport) -> list[str]:
    """Every problem file by path, one titled section per kind, then the
    ignored entries."""
    lines: list[str] = []

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.extend(["", f"{title} ({len(items)}):"])
            lines.extend(f"  {item}" for item in items)

    section("Image files that cannot be read", _issues(report.unreadable))
    section("Files that are not images", _issues(report.not_images))
    section("Images without an image file name", _issues(report.misnamed_images))
    section(
        "Byte-identical duplicates within one split and label",
        _groups(report.duplicates),
    )
    section("Same image in several splits (leak)", _groups(report.leaks))
    section("Same image under several labels (conflict)", _groups(report.conflicts))
    if report.detector is not None:
        section(f"No face found (detector {report.detector})", report.no_face)
        section(
            f"Several faces found (detector {report.detector})",
            [f"{m.path}: {m.faces} faces" for m in report.multiple_faces],
        )
    section("Ignored", _issues(report.ignored))
    return lines


def _issues(entries: list[FileIssue]) -> list[str]:
    return [f"{e.path}: {e.reason}" for e in entries]


def _groups(entries: list[IdenticalGroup]) -> list[str]:
    return [" = ".join(g.paths) for g in entries]


def _n(items: list | int, noun: str) -> str:
    """``"1 image"``, ``"3 images"``: a count (or a list's length) and a noun."""
    count = items if isinstance(items, int) else len(items)
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _format_counter(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"
