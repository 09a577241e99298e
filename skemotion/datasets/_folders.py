"""Image folders in the ``root/<label>/<image>`` layout of the original post."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._progress import progress_iter
from ..exceptions import BadImagesError, ImageReadError
from ._image_files import IMAGE_EXTENSIONS
from ._image_io import read_image

__all__ = [
    "SPLIT_NAMES",
    "FolderLayout",
    "UnreadableImagesWarning",
    "folder_label",
    "folder_layout",
    "load_image_folder",
]

logger = logging.getLogger(__name__)

#: Sub-folders of a data folder taken as splits (in any letter case), in order.
SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class FolderLayout:
    """Where a data folder keeps its images: split folders, or labels directly.

    A data folder is either ``root/<split>/<label>/<image>`` with split
    folders named ``train``, ``validation`` and ``test`` (any letter case; any
    of them may be missing), or ``root/<label>/<image>`` (no split). Every
    command and function that takes a data folder reads it this one way.

    Attributes
    ----------
    root : pathlib.Path
    splits : dict of str to pathlib.Path
        ``{"train": ..., "validation": ..., "test": ...}`` for the split
        folders found, in that order; empty for a folder without splits.
    """

    root: Path
    splits: dict[str, Path] = field(default_factory=dict)

    @property
    def train(self) -> Path:
        """The images to train on: ``train/``, else the whole folder."""
        return self.splits.get("train", self.root) if self.splits else self.root

    @property
    def held_out(self) -> tuple[str, Path] | None:
        """The split to measure a trained model on, and its name.

        ``test`` when there is one, else ``validation``; None without either
        (a folder without splits is all training data).
        """
        for name in ("test", "validation"):
            if name in self.splits:
                return name, self.splits[name]
        return None

    @property
    def evaluation(self) -> Path:
        """The images to evaluate a model on: :attr:`held_out`, else all."""
        held_out = self.held_out
        return held_out[1] if held_out else self.root


def folder_layout(root: str | os.PathLike) -> FolderLayout:
    """How the data folder ``root`` is laid out (see :class:`FolderLayout`).

    Parameters
    ----------
    root : str or os.PathLike
        An existing folder.

    Returns
    -------
    layout : FolderLayout

    Raises
    ------
    NotADirectoryError
        If ``root`` is not a folder.
    """
    root = Path(os.fspath(root))
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: data folder does not exist")
    found = {
        child.name.lower(): child
        for child in sorted(root.iterdir())
        if child.is_dir() and child.name.lower() in SPLIT_NAMES
    }
    return FolderLayout(
        root, {name: found[name] for name in SPLIT_NAMES if name in found}
    )


class UnreadableImagesWarning(UserWarning):
    """Some files of an image folder were left out because they cannot be read."""


def folder_label(
    name: str,
    *,
    strip_suffix: str | None = None,
    label_map: Mapping[str, str] | Callable[[str], str] | None = None,
) -> str:
    """The label a label folder's name stands for, as :func:`load_image_folder`
    reads it.

    Parameters
    ----------
    name : str
        The folder's name, e.g. ``"happy_face"``.
    strip_suffix : str, optional
        Suffix removed from the name (``"_face"`` turns ``happy_face`` into
        ``happy``); a name that is only the suffix is kept whole.
    label_map : mapping or callable, optional
        Renames the label after ``strip_suffix``: a dict (names not in it are
        kept) or a function of the name.

    Returns
    -------
    label : str
    """
    if strip_suffix and name.endswith(strip_suffix) and name != strip_suffix:
        name = name[: -len(strip_suffix)]
    if label_map is None:
        return name
    if callable(label_map):
        return str(label_map(name))
    return str(label_map.get(name, name))


def load_image_folder(
    root: str | os.PathLike,
    *,
    strip_suffix: str | None = None,
    label_map: Mapping[str, str] | Callable[[str], str] | None = None,
    extensions: frozenset[str] | None = None,
    on_unreadable: str = "warn",
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """List the images of a ``root/<label>/<image>`` folder tree.

    Labels always come from the folder names, so any set of classes works
    (the post's six, FER2013's seven, your own).

    Parameters
    ----------
    root : str or os.PathLike
        Folder whose sub-folders are labels and hold images, for example
        ``data/train``.
    strip_suffix : str, optional
        Suffix removed from folder names to make labels, e.g. ``"_face"``
        turns ``happy_face`` into ``happy``.
    label_map : mapping or callable, optional
        Renames labels after ``strip_suffix``: a dict (names not in it are
        kept) or a function of the folder name.
    extensions : set of str, optional
        File name suffixes (lower case, with the dot) counted as images.
        Defaults to ``IMAGE_EXTENSIONS``. Hidden files
        and other files are ignored.
    on_unreadable : {"warn", "raise", "keep"}, default="warn"
        What to do with files that cannot be read as images (truncated,
        empty, not an image, no permission...): ``"warn"`` leaves them out
        with an :class:`UnreadableImagesWarning` naming each file and why, so
        paths and labels stay aligned; ``"raise"`` raises
        :class:`~skemotion.exceptions.BadImagesError` listing them all;
        ``"keep"`` lists them without reading anything (fastest).
    progress : bool or None, default=None
        Progress bar while checking files; ``None``: when stderr is a terminal.

    Returns
    -------
    paths : ndarray of str, shape (n_images,)
        Image paths, sorted by label folder then file name.
    labels : ndarray of str, shape (n_images,)
        The label of each image.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    NotADirectoryError
        If ``root`` is not a folder.
    ValueError
        If ``root`` holds no label folder with images.
    """
    if on_unreadable not in ("warn", "raise", "keep"):
        raise ValueError(
            f"on_unreadable must be 'warn', 'raise' or 'keep', got {on_unreadable!r}"
        )
    root = Path(os.fspath(root))
    exts = IMAGE_EXTENSIONS if extensions is None else frozenset(extensions)
    paths, labels = _list_images(root, exts, strip_suffix, label_map)
    if on_unreadable == "keep":
        return paths, labels
    errors = _unreadable(paths, progress)
    if not errors:
        return paths, labels
    if on_unreadable == "raise":
        raise BadImagesError(errors, len(paths))
    message = (
        f"{len(errors)} of {len(paths)} files under {root} are left out because "
        "they cannot be read as images:\n" + "\n".join(f"  {e}" for e in errors)
    )
    logger.warning(message)
    warnings.warn(message, UnreadableImagesWarning, stacklevel=2)
    bad = {e.path for e in errors}
    keep = np.array([p not in bad for p in paths])
    return paths[keep], labels[keep]


def _list_images(root: Path, exts, strip_suffix, label_map):
    """The image files of ``root/<label>/`` and their labels, sorted."""
    if not root.exists():
        raise FileNotFoundError(f"{root}: image folder does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: is not a folder")
    paths: list[str] = []
    labels: list[str] = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if label_dir.name.startswith("."):
            continue
        label = folder_label(
            label_dir.name, strip_suffix=strip_suffix, label_map=label_map
        )
        for file in sorted(label_dir.iterdir()):
            if file.name.startswith(".") or file.suffix.lower() not in exts:
                continue
            paths.append(str(file))
            labels.append(label)
    if not paths:
        raise ValueError(
            f"{root}: no images found; expected the layout {root}/<label>/<image> "
            f"with image files named {', '.join(sorted(exts))}"
        )
    return np.asarray(paths, dtype=object), np.asarray(labels, dtype=object)


def _unreadable(paths, progress) -> list[ImageReadError]:
    """Why each file that cannot be read as an image cannot be."""
    errors: list[ImageReadError] = []
    for path in progress_iter(
        paths, total=len(paths), desc="Checking images", progress=progress
    ):
        try:
            read_image(path)
        except ImageReadError as exc:
            errors.append(exc)
    return errors
