"""Audit a folder of labelled images before training (``skemotion check``)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ._progress import progress_iter
from .exceptions import ImageReadError
from .face_cropping import detect_faces as _detect_faces
from .folders import _relabel
from .image_io import read_image

__all__ = ["FolderReport", "check_image_folder"]

logger = logging.getLogger(__name__)

#: Sub-folder names recognised as splits.
SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class FolderReport:
    """What :func:`check_image_folder` found.

    Paths are relative to ``root``, with ``/`` separators.

    Attributes
    ----------
    root : str
        The folder audited.
    splits : list of str
        Split folders found (``["all"]`` for a ``root/<label>/*`` tree).
    counts : dict
        ``{split: {label: n_files}}``, every file in label folders counted.
    imbalance : dict
        ``{split: {"ratio": max/min, "smallest": label, "largest": label}}``.
    unreadable : list of dict
        ``{"path", "reason"}`` for each file that is not a usable image.
    ignored : list of str
        Hidden files in label folders (left out by training).
    duplicate_groups : list of list of str
        Groups of byte-identical files (2 or more each).
    leaks : list of list of str
        Duplicate groups that span two or more splits.
    conflicts : list of list of str
        Duplicate groups whose files are filed under two or more labels.
    no_face : list of str
        Readable images in which the detector found no face.
    multiple_faces : list of dict
        ``{"path", "faces"}`` for images with several faces.
    detector : str or None
        The face detector used, or None when faces were not counted.
    sizes : dict
        ``width`` and ``height`` min/median/max over readable images, and the
        ``smallest`` image.
    modes : dict
        Number of images per Pillow mode (``RGB``, ``L``, ``P``, ...).
    formats : dict
        Number of images per file format (``JPEG``, ``PNG``, ``GIF``, ...).
    """

    root: str
    splits: list[str]
    counts: dict[str, dict[str, int]]
    imbalance: dict[str, dict]
    unreadable: list[dict] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    duplicate_groups: list[list[str]] = field(default_factory=list)
    leaks: list[list[str]] = field(default_factory=list)
    conflicts: list[list[str]] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    multiple_faces: list[dict] = field(default_factory=list)
    detector: str | None = None
    sizes: dict = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """One short sentence per kind of problem found, with its count."""
        found = []
        if self.unreadable:
            found.append(f"{len(self.unreadable)} files are not readable images")
        if self.duplicate_groups:
            n_files = sum(len(g) for g in self.duplicate_groups)
            found.append(
                f"{len(self.duplicate_groups)} groups of byte-identical duplicates "
                f"({n_files} files)"
            )
        if self.leaks:
            found.append(f"{len(self.leaks)} images appear in more than one split")
        if self.conflicts:
            found.append(f"{len(self.conflicts)} images are filed under two labels")
        for split, info in self.imbalance.items():
            if info["ratio"] >= 2:
                found.append(
                    f"class imbalance in {split}: {info['largest']} has "
                    f"{info['ratio']:.1f}x as many images as {info['smallest']}"
                )
        if self.no_face:
            found.append(f"no face found in {len(self.no_face)} images")
        if self.multiple_faces:
            found.append(f"several faces in {len(self.multiple_faces)} images")
        return found

    @property
    def has_problems(self) -> bool:
        """Whether anything worth fixing before training was found."""
        return bool(self.problems)

    def to_dict(self) -> dict:
        """The report as plain JSON-serialisable data."""
        data = asdict(self)
        data["problems"] = self.problems
        data["has_problems"] = self.has_problems
        return data

    def format_text(self) -> str:
        """The report as readable text, a section per kind of finding."""
        lines = [f"Image folder: {self.root}"]
        labels = sorted({label for c in self.counts.values() for label in c})
        width = max(len(label) for label in labels) if labels else 5
        header = "  " + "label".ljust(width) + "".join(f"{s:>12}" for s in self.splits)
        lines += ["", "Images per class:", header]
        for label in labels:
            row = "".join(f"{self.counts[s].get(label, 0):>12}" for s in self.splits)
            lines.append("  " + label.ljust(width) + row)
        totals = "".join(f"{sum(self.counts[s].values()):>12}" for s in self.splits)
        lines.append("  " + "total".ljust(width) + totals)
        for split, info in self.imbalance.items():
            lines.append(
                f"  {split}: largest/smallest class = {info['ratio']:.2f} "
                f"({info['largest']} / {info['smallest']})"
            )
        if self.sizes:
            w, h = self.sizes["width"], self.sizes["height"]
            lines += [
                "",
                "Image sizes (pixels): "
                f"width {w['min']}-{w['max']} (median {w['median']:g}), "
                f"height {h['min']}-{h['max']} (median {h['median']:g}); "
                f"smallest: {self.sizes['smallest']}",
                "Modes: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.modes.items())),
                "Formats: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.formats.items())),
            ]

        def section(title: str, items: list[str]) -> None:
            lines.extend(["", f"{title} ({len(items)}):"])
            lines.extend(f"  {item}" for item in items)

        if self.unreadable:
            unreadable = [f"{u['path']}: {u['reason']}" for u in self.unreadable]
            section("Not readable images", unreadable)
        if self.ignored:
            section("Hidden files, ignored", self.ignored)
        if self.duplicate_groups:
            section("Byte-identical duplicates",
                    [" = ".join(g) for g in self.duplicate_groups])  # fmt: skip
        if self.leaks:
            section(
                "Same image in two splits (leak)", [" = ".join(g) for g in self.leaks]
            )
        if self.conflicts:
            section("Same image under two labels (conflict)",
                    [" = ".join(g) for g in self.conflicts])  # fmt: skip
        if self.detector is not None:
            section(f"No face found (detector {self.detector})", self.no_face)
            several = [f"{m['path']}: {m['faces']} faces" for m in self.multiple_faces]
            section(f"Several faces (detector {self.detector})", several)
        lines.append("")
        if self.has_problems:
            lines.append("Problems found:")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("No problems found.")
        return "\n".join(lines)


def _label_folders(root: Path) -> tuple[list[str], list[tuple[str, Path]]]:
    """Return the split names and ``(split, label_dir)`` pairs of a tree."""
    split_dirs = [root / s for s in SPLIT_NAMES if (root / s).is_dir()]
    if not split_dirs:
        split_dirs = [root]
    splits = [d.name if d != root else "all" for d in split_dirs]
    pairs = []
    for split, split_dir in zip(splits, split_dirs, strict=True):
        for label_dir in sorted(split_dir.iterdir()):
            if label_dir.is_dir() and not label_dir.name.startswith("."):
                pairs.append((split, label_dir))
    return splits, pairs


def _summary(values: list[int]) -> dict:
    return {"min": int(min(values)), "median": float(np.median(values)),
            "max": int(max(values))}  # fmt: skip


def check_image_folder(
    root: str | os.PathLike,
    *,
    detector: str = "hog",
    detect_faces: bool = True,
    strip_suffix: str | None = None,
    progress: bool | None = None,
) -> FolderReport:
    """Look for problems in a folder of labelled images before training.

    Every file in every label folder is read once (hashed, decoded, and
    searched for faces), so the report covers what training would meet.

    Parameters
    ----------
    root : str or os.PathLike
        ``root/<label>/<file>``, or ``root/{train,validation,test}/<label>/<file>``.
    detector : {"hog", "haar", "none"}, default="hog"
        Face detector used to count faces; ``"none"`` skips face counting.
    detect_faces : bool, default=True
        Count faces (the slow part); False skips it.
    strip_suffix : str, optional
        Suffix removed from folder names to make labels (e.g. ``"_face"``).
    progress : bool or None, default=None
        Progress bar; ``None`` shows one when stderr is a terminal.

    Returns
    -------
    report : FolderReport
        Counts, imbalance, unreadable files, duplicates, leaks, conflicts,
        face counts, sizes, modes and formats; ``report.has_problems`` and
        ``report.format_text()``.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder.
    ValueError
        If ``root`` holds no label folder.
    """
    root = Path(os.fspath(root))
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder does not exist")
    splits, pairs = _label_folders(root)
    if not pairs:
        raise ValueError(f"{root}: no label folders found (expected {root}/<label>/*)")
    use_detector = detect_faces and detector != "none"
    report = FolderReport(root=str(root), splits=splits,
                          counts={s: {} for s in splits}, imbalance={},
                          detector=detector if use_detector else None)  # fmt: skip
    files: list[tuple[str, str, Path]] = []
    for split, label_dir in pairs:
        label = _relabel(label_dir.name, None, strip_suffix)
        for path in sorted(label_dir.iterdir()):
            rel = path.relative_to(root).as_posix()
            if path.name.startswith("."):
                report.ignored.append(rel)
                continue
            files.append((split, label, path))
            counts = report.counts[split]
            counts[label] = counts.get(label, 0) + 1

    by_hash: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    widths, heights, modes, formats = [], [], Counter(), Counter()
    smallest = (float("inf"), "")
    checked = progress_iter(
        files, total=len(files), desc="Checking images", progress=progress
    )
    for split, label, path in checked:
        rel = path.relative_to(root).as_posix()
        try:
            image = read_image(path)
        except ImageReadError as exc:
            report.unreadable.append({"path": rel, "reason": exc.reason})
            continue
        by_hash[hashlib.sha256(path.read_bytes()).hexdigest()].append(
            (rel, split, label)
        )
        with Image.open(path) as img:
            modes[img.mode] += 1
            formats[img.format or "unknown"] += 1
        h, w = image.shape[:2]
        widths.append(w)
        heights.append(h)
        if min(w, h) < smallest[0]:
            smallest = (min(w, h), f"{rel} ({w}x{h})")
        if use_detector:
            n_faces = len(_detect_faces(image, detector))
            if n_faces == 0:
                report.no_face.append(rel)
            elif n_faces > 1:
                report.multiple_faces.append({"path": rel, "faces": n_faces})

    for group in by_hash.values():
        if len(group) < 2:
            continue
        paths = [rel for rel, _, _ in group]
        report.duplicate_groups.append(paths)
        if len({split for _, split, _ in group}) > 1:
            report.leaks.append(paths)
        if len({label for _, _, label in group}) > 1:
            report.conflicts.append(paths)
    for split, counts in report.counts.items():
        if counts:
            largest = max(counts, key=counts.get)
            least = min(counts, key=counts.get)
            report.imbalance[split] = {
                "ratio": counts[largest] / max(1, counts[least]),
                "largest": largest,
                "smallest": least,
            }
    if widths:
        report.sizes = {"width": _summary(widths), "height": _summary(heights),
                        "smallest": smallest[1]}  # fmt: skip
    report.modes = dict(modes)
    report.formats = dict(formats)
    logger.info("Checked %d files under %s: %s", len(files), root,
                "; ".join(report.problems) or "no problems")  # fmt: skip
    return report
