"""Packaged arrays and their records: ``files/<name>.npz`` + ``files/<name>.json``.

A record is a JSON object with at least ``format``, ``name``, ``file`` (the
``.npz`` beside it), ``sha256`` (of that file's bytes) and ``storage``
(``"float32"``, ``"float16"`` or ``"int8-per-channel"``). The arrays are read
with ``allow_pickle=False``: loading a packaged model runs no code from a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path, file_sha256, file_state
from ..exceptions import WeightsError

__all__ = [
    "PackagedFile",
    "PackagedModel",
    "dequantize_per_channel",
    "load_packaged",
    "load_packaged_file",
    "packaged_folder",
    "packaged_names",
    "packaged_state",
    "quantize_per_channel",
    "write_packaged",
    "write_packaged_file",
]

#: Layout of a record; bumped when a field changes meaning.
_FORMAT = 1
#: Suffixes of the arrays an int8-per-channel kernel is stored as.
_Q, _SCALE = ".q", ".scale"
STORAGES = ("float32", "float16", "int8-per-channel")


def packaged_folder() -> Path:
    """The folder holding the packaged files (inside the installed package).

    Returns
    -------
    folder : pathlib.Path
    """
    return Path(__file__).resolve().parent / "files"


def packaged_state(name: str, folder: str | os.PathLike | None = None):
    """What tells a packaged model's files as they are now from any other:
    each file's state (``file_state``: path, device, inode, size and times).

    A network built from the files may be used again while this is unchanged.

    Parameters
    ----------
    name : str
        The model's name, e.g. ``"fer2013-vgg16"``.
    folder : str, os.PathLike or None, default=None
        Where its files are; None: :func:`packaged_folder`.

    Returns
    -------
    state : tuple or None
        None when a file is missing (loading it will say so).
    """
    root = Path(folder) if folder is not None else packaged_folder()
    states = tuple(file_state(root / f"{name}{suffix}") for suffix in (".json", ".npz"))
    return None if None in states else states


def packaged_names(folder: str | os.PathLike | None = None) -> list[str]:
    """Names of the packaged models present (their ``.json`` records).

    Parameters
    ----------
    folder : str, os.PathLike or None, default=None
        Where to look; None: :func:`packaged_folder`.

    Returns
    -------
    names : list of str
        Sorted.
    """
    root = Path(folder) if folder is not None else packaged_folder()
    return sorted(p.stem for p in root.glob("*.json"))


@dataclass(frozen=True)
class PackagedModel:
    """A packaged model read back: its record and its float32 arrays.

    Attributes
    ----------
    name : str
        The model's name (its files' stem).
    record : dict
        The JSON record (what the model is, how it was made, its sha256).
    arrays : dict of str to ndarray
        Every stored array, expanded to float32 where it was stored compact.
    path : pathlib.Path
        The ``.npz`` file read.
    """

    name: str
    record: dict[str, Any]
    arrays: dict[str, np.ndarray]
    path: Path

    @property
    def sha256(self) -> str:
        """The sha256 of the ``.npz`` file (checked against the record)."""
        return self.record["sha256"]


def _read_record(name: str, root: Path) -> dict[str, Any]:
    path = root / f"{name}.json"
    if not path.is_file():
        present = ", ".join(packaged_names(root)) or "none"
        raise WeightsError(
            f"no packaged model named {name!r} in {root} (present: {present}); "
            "reinstall skemotion if its files were removed"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != _FORMAT:
            raise ValueError(f"record format {record.get('format')!r}")
        for key in ("file", "sha256", "storage"):
            record[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(
            f"{path}: unreadable packaged-model record ({exc}); the file is "
            "damaged or from another skemotion version: reinstall skemotion"
        ) from None
    return record


def _check_digest(path: Path, digest: str, record: dict, what: str) -> None:
    """A file whose sha256 is not its record's is damaged: never used."""
    if digest != record["sha256"]:
        raise WeightsError(
            f"{path}: damaged {what} (sha256 {digest[:12]}..., its record says "
            f"{record['sha256'][:12]}...); reinstall skemotion"
        )


def load_packaged(name: str, folder: str | os.PathLike | None = None) -> PackagedModel:
    """Read a packaged model, check its sha256 and expand its arrays.

    Parameters
    ----------
    name : str
        The model's name, e.g. ``"fer2013-vgg16"``.
    folder : str, os.PathLike or None, default=None
        Where its files are; None: :func:`packaged_folder`.

    Returns
    -------
    model : PackagedModel

    Raises
    ------
    WeightsError
        If the record or the arrays are missing, or the arrays' sha256 is not
        the record's (a damaged file is never used).
    """
    root = Path(folder) if folder is not None else packaged_folder()
    record = _read_record(name, root)
    path = root / record["file"]
    if not path.is_file():
        raise WeightsError(
            f"{path}: packaged model file is missing; reinstall skemotion"
        )
    _check_digest(path, file_sha256(path), record, "packaged model file")
    try:
        with np.load(path, allow_pickle=False) as stored:
            raw = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable packaged model file ({exc})") from None
    return PackagedModel(name, record, _expand(raw, record["storage"]), path)


@dataclass(frozen=True)
class PackagedFile:
    """A packaged file kept whole (a compiled network), read back and checked.

    Attributes
    ----------
    name : str
        Its record's name.
    record : dict
        The JSON record (``storage`` says what the file is).
    data : bytes
        The file's bytes, whose sha256 is the record's.
    path : pathlib.Path
        The file read.
    """

    name: str
    record: dict[str, Any]
    data: bytes
    path: Path


def load_packaged_file(
    name: str, folder: str | os.PathLike | None = None
) -> PackagedFile:
    """Read a packaged file kept whole (not arrays) and check its sha256.

    Parameters
    ----------
    name : str
        Its record's name, e.g. ``"fer2013-litert"``.
    folder : str, os.PathLike or None, default=None
        Where its files are; None: :func:`packaged_folder`.

    Returns
    -------
    packaged : PackagedFile

    Raises
    ------
    WeightsError
        If the record or the file is missing, or the file's sha256 is not the
        record's.
    """
    import hashlib

    root = Path(folder) if folder is not None else packaged_folder()
    record = _read_record(name, root)
    path = root / record["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(
            f"{path}: packaged file cannot be read ({exc.strerror}); reinstall "
            "skemotion"
        ) from None
    _check_digest(path, hashlib.sha256(data).hexdigest(), record, "packaged file")
    return PackagedFile(name, record, data, path)


def write_packaged_file(
    name: str,
    data: bytes,
    filename: str,
    record: dict[str, Any],
    folder: str | os.PathLike,
    *,
    storage: str,
) -> Path:
    """Write a file kept whole, ``filename``, and its record ``<name>.json``.

    Parameters
    ----------
    name : str
    data : bytes
        The file's content.
    filename : str
        Its name in ``folder`` (e.g. ``"fer2013.tflite"``).
    record : dict
        JSON-ready fields; ``format``, ``name``, ``file``, ``storage`` and
        ``sha256`` are added.
    folder : str or os.PathLike
    storage : str
        What the file is (e.g. ``"litert-dynamic"``).

    Returns
    -------
    path : pathlib.Path
        The record written.
    """
    import hashlib

    root = Path(folder)
    target = root / filename
    with atomic_path(target, suffix=target.suffix) as tmp:
        tmp.write_bytes(data)
    full = {
        **record, "format": _FORMAT, "name": name, "file": filename,
        "storage": storage, "sha256": hashlib.sha256(data).hexdigest(),
    }  # fmt: skip
    path = root / f"{name}.json"
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(
            json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    for written in (target, path):  # package data: readable by every user
        written.chmod(0o644)
    return path


def _expand(raw: dict[str, np.ndarray], storage: str) -> dict[str, np.ndarray]:
    """Stored arrays to float32 ones (a quantized kernel from its two parts)."""
    arrays = {}
    for key, value in raw.items():
        if key.endswith(_SCALE):
            continue
        if key.endswith(_Q):
            base = key[: -len(_Q)]
            arrays[base] = dequantize_per_channel(value, raw[base + _SCALE])
        else:
            arrays[key] = value.astype(np.float32)
    return arrays


def quantize_per_channel(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization with one scale per output channel (last axis).

    Parameters
    ----------
    kernel : ndarray of float
        A convolution or dense kernel; its last axis is the output channels.

    Returns
    -------
    q : ndarray of int8, same shape
        ``round(kernel / scale)``, in -127..127.
    scale : ndarray of float32, shape (n_channels,)
        Each channel's largest absolute value divided by 127 (1 for a channel
        of zeros).
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    flat = kernel.reshape(-1, kernel.shape[-1])
    peak = np.abs(flat).max(axis=0)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(kernel / scale), -127, 127).astype(np.int8)
    return q, scale


def dequantize_per_channel(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The float32 kernel back from :func:`quantize_per_channel`'s output.

    Parameters
    ----------
    q : ndarray of int8
    scale : ndarray of float32, shape (n_channels,)

    Returns
    -------
    kernel : ndarray of float32, the shape of ``q``
    """
    return q.astype(np.float32) * np.asarray(scale, dtype=np.float32)


def write_packaged(
    name: str,
    arrays: dict[str, np.ndarray],
    record: dict[str, Any],
    folder: str | os.PathLike,
    *,
    storage: str = "float32",
    quantize: tuple[str, ...] = (),
) -> Path:
    """Write ``<name>.npz`` and its record ``<name>.json`` into ``folder``.

    Parameters
    ----------
    name : str
    arrays : dict of str to ndarray
        float32 arrays to store.
    record : dict
        JSON-ready fields describing the model; ``format``, ``name``,
        ``file``, ``storage`` and ``sha256`` are added.
    folder : str or os.PathLike
    storage : {"float32", "float16", "int8-per-channel"}, default="float32"
        How the arrays named in ``quantize`` are stored (every other array
        stays float32): ``"float16"`` halves them, ``"int8-per-channel"``
        quarters them (:func:`quantize_per_channel`).
    quantize : tuple of str, default=()
        Names of the arrays stored compact (kernels; biases stay float32).

    Returns
    -------
    path : pathlib.Path
        The record written.
    """
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
    stored = {}
    for key, value in arrays.items():
        value = np.asarray(value, dtype=np.float32)
        if key in quantize and storage == "int8-per-channel":
            stored[key + _Q], stored[key + _SCALE] = quantize_per_channel(value)
        elif key in quantize and storage == "float16":
            stored[key] = value.astype(np.float16)
        else:
            stored[key] = value
    root = Path(folder)
    npz = root / f"{name}.npz"
    with atomic_path(npz, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **stored)
    full = {
        **record, "format": _FORMAT, "name": name, "file": npz.name,
        "storage": storage, "sha256": file_sha256(npz),
    }  # fmt: skip
    path = root / f"{name}.json"
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(
            json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    for written in (npz, path):  # package data: readable by every user
        written.chmod(0o644)
    return path
