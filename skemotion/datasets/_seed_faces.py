"""The original post's 6-class data set: downloaded, verified, cached.

The files come from the post's public repository at a pinned commit. The
package keeps only a manifest (relative path, size and sha256 of every file);
each file is checked against it, so a copy that is already on disk is used
without any network, and a damaged or partial download is never used.

Environment variables
---------------------
``SKEMOTION_DATA``
    Folder holding (or to receive) ``seed/``, used when ``data_home`` is not
    given. Default ``~/skemotion_data``.
``SKEMOTION_SEED_URL``
    Base address to download from, used when ``base_url`` is not given (a
    mirror, or a local server). Default :data:`SEED_FACES_URL`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import http.client
import logging
import os
import socket
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from .._io import file_sha256
from .._progress import progress_enabled
from ..exceptions import ChecksumError, DownloadError

__all__ = ["SEED_FACES_COMMIT", "SEED_FACES_URL", "fetch_seed_faces"]

logger = logging.getLogger(__name__)

#: Commit of ``sethuiyer/mlhub`` the manifest was made from.
SEED_FACES_COMMIT = "6be271c0070a0c0bb90dd92aceb344e7415bb1db"
#: Where the files are downloaded from; ``/<split>/<label>_face/<file>`` is
#: appended (URL-quoted). ``SKEMOTION_SEED_URL`` overrides it.
SEED_FACES_URL = (
    "https://raw.githubusercontent.com/sethuiyer/mlhub/"
    f"{SEED_FACES_COMMIT}/Multi%20Emotion%20Detector/data"
)

_MANIFEST = "manifests/seed_faces.csv"
_SPLITS = ("train", "validation")
_LABEL_SUFFIX = "_face"
_TIMEOUT = 30.0  # seconds without data before a download is given up
_RETRIES = 2  # extra attempts per file after a transient network error
_RETRY_DELAY = 1.0  # seconds before the first retry, doubled each time
_CHUNK = 1 << 16

_DESCR = """\
Emotion faces of "Building Emotional State Predictor using Deep Learning"
--------------------------------------------------------------------------
Web photos of faces in {n_classes} classes ({classes}), from the public
repository sethuiyer/mlhub at commit {commit}, folder
"Multi Emotion Detector/data" (MIT licence). {n_train} training images
({train_counts}) and {n_validation} validation images ({validation_counts});
whole, uncropped photos in JPEG, PNG and GIF, some with several faces or none.

The set is as its author left it, flaws included: {n_dup_groups} groups of
byte-identical files ({n_dup_files} files), {n_leaks} files present in both
train and validation, {n_cross} filed under two different labels. The
original post reports 33% validation accuracy (ImageNet VGG16 features and a
dense network); with 2 validation images per class that figure is very noisy.
"""


class _ShortRead(ConnectionError):
    """The server closed the connection before sending the promised bytes."""

    def __init__(self, received: int, declared: int) -> None:
        super().__init__(f"connection closed after {received} of {declared} bytes")


@functools.lru_cache(maxsize=1)
class _ManifestRow(NamedTuple):
    path: str  # relative: <split>/<label>_face/<file>
    size: int
    sha256: str


def _manifest() -> tuple[_ManifestRow, ...]:
    """Every file's row, sorted by path."""
    text = (
        resources.files("skemotion.datasets")
        .joinpath(_MANIFEST)
        .read_text(encoding="utf-8")
    )
    rows = csv.DictReader(text.splitlines())
    return tuple(_ManifestRow(r["path"], int(r["size"]), r["sha256"]) for r in rows)


def _data_home(data_home: str | os.PathLike | None) -> Path:
    if data_home is None:
        data_home = os.environ.get("SKEMOTION_DATA") or "~/skemotion_data"
    # abspath, not resolve: make it absolute and tidy, keep symbolic links
    return Path(os.path.abspath(Path(os.fspath(data_home)).expanduser()))


def _is_valid(path: Path, size: int, sha256: str) -> bool:
    try:
        if not path.is_file():
            return False
        ok = path.stat().st_size == size and file_sha256(path) == sha256
    except OSError:
        return False
    if not ok:
        logger.warning("%s does not match the manifest; it will be replaced", path)
    return ok


def _describe(manifest: tuple[tuple[str, int, str], ...]) -> str:
    """DESCR text, with counts and flaws computed from the manifest."""
    counts: dict[str, dict[str, int]] = {s: defaultdict(int) for s in _SPLITS}
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for rel, _, sha256 in manifest:
        split, label = rel.split("/")[:2]
        label = label.removesuffix(_LABEL_SUFFIX)
        counts[split][label] += 1
        groups[sha256].append((split, label))
    dups = [g for g in groups.values() if len(g) > 1]
    classes = sorted(set(counts["train"]) | set(counts["validation"]))

    def per_class(split: str) -> str:
        values = {counts[split][c] for c in classes}
        if len(values) == 1:
            return f"{values.pop()} per class"
        common = max(values, key=lambda v: sum(counts[split][c] == v for c in classes))
        odd = ", ".join(
            f"{c}: {counts[split][c]}" for c in classes if counts[split][c] != common
        )
        return f"{common} per class, {odd}"

    text = _DESCR.format(
        n_classes=len(classes),
        classes=", ".join(classes),
        commit=SEED_FACES_COMMIT,
        n_train=sum(counts["train"].values()),
        train_counts=per_class("train"),
        n_validation=sum(counts["validation"].values()),
        validation_counts=per_class("validation"),
        n_dup_groups=len(dups),
        n_dup_files=sum(len(g) for g in dups),
        n_leaks=sum(len({s for s, _ in g}) > 1 for g in dups),
        n_cross=sum(len({lab for _, lab in g}) > 1 for g in dups),
    )
    title, rule, body = text.split("\n", 2)
    paragraphs = [textwrap.fill(" ".join(p.split()), 79) for p in body.split("\n\n")]
    return "\n".join([title, rule, "\n\n".join(paragraphs)]) + "\n"


def _download(url: str, dest: Path, size: int, sha256: str, rel: str) -> None:
    """Stream ``url`` into ``dest`` through a ``.part`` file, verified before use.

    Network errors propagate (after the ``.part`` file is removed); a
    complete response whose bytes do not match raises :class:`ChecksumError`.
    """
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
            declared = response.headers.get("Content-Length")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "wb") as out:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    received += len(chunk)
                    out.write(chunk)
        # http.client returns b"" rather than raising when a connection with a
        # Content-Length closes early: a short body is a broken connection.
        if declared is not None and declared.isdigit() and received < int(declared):
            raise _ShortRead(received, int(declared))
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    actual = digest.hexdigest()
    if received != size or actual != sha256:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{rel}: downloaded file does not match the manifest: expected "
            f"{size} bytes with sha256 {sha256}, got {received} bytes with "
            f"sha256 {actual} (from {url}); it was not kept"
        )
    os.replace(part, dest)


def _is_unreachable(exc: BaseException) -> bool:
    """True for errors meaning the server cannot be reached at all."""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    if isinstance(exc, urllib.error.URLError):
        return True
    return isinstance(exc, ConnectionRefusedError | socket.gaierror)


def _is_transient(exc: BaseException) -> bool:
    """True for network errors worth another attempt."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429
    if isinstance(exc, urllib.error.URLError):
        # refused or unknown host: retrying will not help; timeouts may
        return isinstance(exc.reason, TimeoutError)
    return not isinstance(exc, ConnectionRefusedError | socket.gaierror)


_NETWORK_ERRORS = (
    urllib.error.URLError,  # includes HTTPError
    http.client.HTTPException,  # includes IncompleteRead, RemoteDisconnected
    ConnectionError,  # includes resets and _ShortRead
    TimeoutError,  # socket.timeout is an alias of it
    socket.gaierror,
)


def _fetch_one(url: str, dest: Path, size: int, sha256: str, rel: str) -> None:
    """Download one file, retrying transient network errors."""
    for attempt in range(_RETRIES + 1):
        try:
            _download(url, dest, size, sha256, rel)
            return
        except _NETWORK_ERRORS as exc:
            if attempt == _RETRIES or not _is_transient(exc):
                raise
            delay = _RETRY_DELAY * 2**attempt
            logger.info(
                "%s: %s: %s; retrying in %.1f s", rel, type(exc).__name__, exc, delay
            )
            time.sleep(delay)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(
        exc, urllib.error.HTTPError
    ):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def _how_to_supply(root: Path, n_missing: int, n_total: int) -> str:
    return (
        f"{n_missing} of {n_total} files of the seed data set are missing or "
        f"damaged in {root}. To use a copy you already have, set SKEMOTION_DATA "
        "(or pass data_home) to the folder that holds "
        "seed/train/<label>_face/... and seed/validation/<label>_face/...; "
        "or download the files from the public repository, "
        f"{SEED_FACES_URL}/<split>/<label>_face/<file>, into {root}."
    )


def fetch_seed_faces(
    data_home: str | os.PathLike | None = None,
    *,
    download_if_missing: bool = True,
    base_url: str | None = None,
    progress: bool | None = None,
) -> Bunch:
    """Load the original post's emotion faces, downloading what is missing.

    Every file is checked against a manifest of sizes and sha256 sums shipped
    with the package. Files on disk that match are used as they are, with no
    network; the others are downloaded, each into a ``.part`` file that is
    verified before it takes the file's place. Files verified before an error
    stay on disk, so calling again resumes.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder holding (or to receive) ``seed/``, laid out as
        ``seed/<split>/<label>_face/<file>``. Defaults to the
        ``SKEMOTION_DATA`` environment variable, else ``~/skemotion_data``.
    download_if_missing : bool, default=True
        Download missing or damaged files. If False, raise instead.
    base_url : str, optional
        Where to download from: each file is fetched from
        ``base_url + "/" + quote("<split>/<label>_face/<file>")``. Defaults to
        the ``SKEMOTION_SEED_URL`` environment variable, else
        :data:`SEED_FACES_URL` (the post's repository at a pinned commit).
    progress : bool or None, default=None
        Show a progress bar over the files being downloaded; ``None`` shows
        one when stderr is a terminal.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the attributes:

        root : pathlib.Path
            The ``seed`` folder.
        filenames : ndarray of str, shape (365,)
            Absolute image paths, sorted by relative path.
        target : ndarray of str, shape (365,)
            Label of each image, the folder name without ``_face``: angry,
            disgust, happy, sad, scared or shocked.
        split : ndarray of str, shape (365,)
            ``"train"`` or ``"validation"`` for each image.
        target_names : list of str
            The sorted labels.
        DESCR : str
            Source, licence, counts and known flaws of the data set.

    Raises
    ------
    DownloadError
        If files are missing and cannot be obtained: offline, the server
        cannot be reached, a connection breaks, or
        ``download_if_missing=False``. The message names the file or says how
        to supply a copy.
    ChecksumError
        If a downloaded file does not match the manifest (a subclass of
        :class:`DownloadError`); the file is not kept.

    Examples
    --------
    >>> from skemotion import fetch_seed_faces
    >>> data = fetch_seed_faces()  # doctest: +SKIP
    >>> data.filenames.shape, data.target_names  # doctest: +SKIP
    ((365,), ['angry', 'disgust', 'happy', 'sad', 'scared', 'shocked'])
    >>> train = data.split == "train"  # doctest: +SKIP
    """
    root = _data_home(data_home) / "seed"
    base_url = base_url or os.environ.get("SKEMOTION_SEED_URL") or SEED_FACES_URL
    manifest = _manifest()
    missing = [r for r in manifest if not _is_valid(root / r.path, r.size, r.sha256)]
    if missing and not download_if_missing:
        raise DownloadError(
            _how_to_supply(root, len(missing), len(manifest))
            + " Or call with download_if_missing=True."
        )
    if missing:
        _download_missing(missing, root, base_url.rstrip("/"), len(manifest), progress)
    return _bunch(root, manifest)


def _download_missing(
    missing, root: Path, base_url: str, n_total: int, progress
) -> None:
    """Fetch and verify the missing files; a clear error naming the file, the
    verified ones kept, when the network fails."""
    logger.info(
        "Downloading %d of %d files of the seed data set from %s into %s",
        len(missing), n_total, base_url, root,
    )  # fmt: skip
    bar = tqdm(
        total=len(missing),
        desc="Downloading seed faces",
        unit="file",
        leave=False,
        disable=not progress_enabled(progress),
    )
    with bar:
        for done, row in enumerate(missing):
            url = f"{base_url}/{urllib.parse.quote(row.path)}"
            try:
                _fetch_one(url, root / row.path, row.size, row.sha256, row.path)
            except _NETWORK_ERRORS as exc:
                cause = _cause(exc)
                if done == 0 and _is_unreachable(exc):
                    raise DownloadError(
                        f"cannot reach {base_url} ({cause}). "
                        + _how_to_supply(root, len(missing), n_total)
                    ) from exc
                raise DownloadError(
                    f"{row.path}: download from {url} failed ({cause}). The {done} "
                    f"files downloaded before it are verified and kept in {root}; "
                    f"run again to fetch the remaining {len(missing) - done}."
                ) from exc
            bar.update()
    logger.info("Downloaded and verified %d files into %s", len(missing), root)


def _bunch(root: Path, manifest) -> Bunch:
    filenames = np.array([str(root / row.path) for row in manifest], dtype=object)
    parts = [row.path.split("/") for row in manifest]
    split = np.array([p[0] for p in parts], dtype=object)
    target = np.array([p[1].removesuffix(_LABEL_SUFFIX) for p in parts], dtype=object)
    return Bunch(
        root=root,
        filenames=filenames,
        target=target,
        split=split,
        target_names=sorted(set(target)),
        DESCR=_describe(manifest),
    )
