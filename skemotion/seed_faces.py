"""The original post's 6-class data set: downloaded, verified, cached.

The files come from the post's public repository at a pinned commit. The
package keeps only a manifest (relative path, size, sha256 of every file);
each file is checked against it, so a copy that is already on disk is used
without any network, and a damaged download is never used.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import logging
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._progress import progress_iter
from .exceptions import ChecksumError, DownloadError

__all__ = ["SEED_FACES_COMMIT", "SEED_FACES_URL", "fetch_seed_faces"]

logger = logging.getLogger(__name__)

#: Commit of ``sethuiyer/mlhub`` the manifest was made from.
SEED_FACES_COMMIT = "6be271c0070a0c0bb90dd92aceb344e7415bb1db"
#: Where the files are downloaded from; ``<split>/<label>_face/<file>`` is appended.
SEED_FACES_URL = (
    "https://raw.githubusercontent.com/sethuiyer/mlhub/"
    f"{SEED_FACES_COMMIT}/Multi%20Emotion%20Detector/data"
)
_TIMEOUT = 30
_NETWORK_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    socket.timeout,
    TimeoutError,
)

DESCR = """\
Emotion faces of "Building Emotional State Predictor using Deep Learning" (2018)
-------------------------------------------------------------------------------
Web photos of faces in six classes (angry, disgust, happy, sad, scared,
shocked), from the public repository sethuiyer/mlhub at commit {commit},
folder "Multi Emotion Detector/data" (MIT licence). 353 training images
(59 per class, scared 58) and 12 validation images (2 per class); whole,
uncropped photos in JPEG, PNG and GIF, some with several faces or none.

The set is as its author left it: byte-identical duplicates, 2 files in both
train and validation, 2 files filed under two labels. The post reports 33%
validation accuracy with ImageNet VGG16 features and a dense network.
"""


def _manifest() -> list[tuple[str, int, str]]:
    text = resources.files("skemotion").joinpath("manifests/seed_faces.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return [(r["path"], int(r["size"]), r["sha256"]) for r in rows]


def _data_home(data_home: str | os.PathLike | None) -> Path:
    if data_home is not None:
        return Path(os.fspath(data_home)).expanduser()
    env = os.environ.get("SKEMOTION_DATA")
    if env:
        return Path(env).expanduser()
    return Path("~/skemotion_data").expanduser()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_valid(path: Path, size: int, sha256: str) -> bool:
    return path.is_file() and path.stat().st_size == size and _sha256(path) == sha256


def _download(url: str, dest: Path, size: int, sha256: str, rel: str) -> None:
    """Stream ``url`` into ``dest`` through a ``.part`` file, verified before use."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    received = 0
    try:
        with (
            urllib.request.urlopen(url, timeout=_TIMEOUT) as response,
            open(part, "wb") as out,
        ):
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                received += len(chunk)
                out.write(chunk)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if received != size or digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{rel}: downloaded file does not match the manifest (expected "
            f"{size} bytes, sha256 {sha256}; got {received} bytes, sha256 "
            f"{digest.hexdigest()}) from {url}; it was not kept"
        )
    os.replace(part, dest)


def _how_to_supply(root: Path, base_url: str, n_missing: int, n_total: int) -> str:
    return (
        f"{n_missing} of {n_total} files of the seed data set are missing from "
        f"{root}. To use a copy you already have, set SKEMOTION_DATA (or pass "
        "data_home) to the folder that holds seed/train/<label>_face/... and "
        "seed/validation/<label>_face/...; or download the files from "
        f"{base_url}/<split>/<label>_face/<file> into {root}."
    )


def fetch_seed_faces(
    data_home: str | os.PathLike | None = None,
    *,
    download_if_missing: bool = True,
    base_url: str | None = None,
    progress: bool | None = None,
) -> Bunch:
    """Load the original post's emotion faces, downloading what is missing.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder holding (or to receive) ``seed/``. Defaults to the
        ``SKEMOTION_DATA`` environment variable, else ``~/skemotion_data``.
    download_if_missing : bool, default=True
        Download missing or damaged files. If False, raise instead.
    base_url : str, optional
        Where to download from; defaults to the ``SKEMOTION_SEED_URL``
        environment variable, else :data:`SEED_FACES_URL` (the post's
        repository at a pinned commit).
    progress : bool or None, default=None
        Show a progress bar while downloading; ``None`` shows one when stderr
        is a terminal.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``root`` (Path of the ``seed`` folder), ``filenames`` (ndarray of str,
        absolute paths), ``target`` (labels: angry, disgust, happy, sad,
        scared, shocked), ``split`` ("train" or "validation" per file),
        ``target_names`` (sorted labels) and ``DESCR``.

    Raises
    ------
    DownloadError
        If files are missing and cannot be downloaded (offline, or
        ``download_if_missing=False``); the message says how to supply a copy.
        Files already verified are kept, so a second call resumes.
    ChecksumError
        If a downloaded file does not match the manifest.

    Examples
    --------
    >>> from skemotion import fetch_seed_faces
    >>> data = fetch_seed_faces()  # doctest: +SKIP
    >>> data.filenames.shape, data.target_names  # doctest: +SKIP
    ((365,), ['angry', 'disgust', 'happy', 'sad', 'scared', 'shocked'])
    """
    root = _data_home(data_home) / "seed"
    base_url = base_url or os.environ.get("SKEMOTION_SEED_URL") or SEED_FACES_URL
    base_url = base_url.rstrip("/")
    manifest = _manifest()
    missing = [row for row in manifest if not _is_valid(root / row[0], row[1], row[2])]
    if missing and not download_if_missing:
        raise DownloadError(_how_to_supply(root, base_url, len(missing), len(manifest)))
    if missing:
        logger.info(
            "Downloading %d files of the seed data set into %s", len(missing), root
        )
    for i, (rel, size, sha256) in enumerate(
        progress_iter(
            missing,
            total=len(missing),
            desc="Downloading seed faces",
            progress=progress,
        )
    ):
        url = f"{base_url}/{urllib.parse.quote(rel)}"
        try:
            _download(url, root / rel, size, sha256, rel)
        except _NETWORK_ERRORS as exc:
            if (
                i == 0
                and isinstance(exc, urllib.error.URLError)
                and not isinstance(exc, urllib.error.HTTPError)
            ):
                # nothing could be reached at all: most likely offline
                raise DownloadError(
                    f"cannot reach {base_url} ({exc.reason}). "
                    + _how_to_supply(root, base_url, len(missing), len(manifest))
                ) from None
            raise DownloadError(
                f"{rel}: download from {url} failed ({type(exc).__name__}: {exc}). "
                f"Files already verified are kept in {root}; run again to fetch "
                "the rest."
            ) from None
    filenames = np.array([str(root / rel) for rel, _, _ in manifest], dtype=object)
    split = np.array([rel.split("/")[0] for rel, _, _ in manifest], dtype=object)
    target = np.array(
        [rel.split("/")[1].removesuffix("_face") for rel, _, _ in manifest],
        dtype=object,
    )
    return Bunch(
        root=root,
        filenames=filenames,
        target=target,
        split=split,
        target_names=sorted(set(target)),
        DESCR=DESCR.format(commit=SEED_FACES_COMMIT),
    )
