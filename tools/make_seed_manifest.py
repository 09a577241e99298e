"""Write skemotion/datasets/manifests/seed_faces.csv from a local copy of the seed data.

Usage::

    python tools/make_seed_manifest.py ../shared/data/seed [--output FILE]

One row per image file at ``<split>/<label>/<file>`` for the splits ``train``
and ``validation``, with columns ``path,size,sha256`` (``path`` relative to the
seed folder, POSIX separators), sorted by path. Anything else (``LICENSE.md``,
hidden files, files outside a split's label folders) is left out. The manifest
holds relative paths, sizes and sha256 sums, never images.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

SPLITS = ("train", "validation")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"})
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "skemotion"
    / "datasets"
    / "manifests"
    / "seed_faces.csv"
)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_rows(seed_dir: Path) -> tuple[list[tuple[str, int, str]], list[str]]:
    """``(path, size, sha256)`` rows sorted by path, and the files left out."""
    rows: list[tuple[str, int, str]] = []
    skipped: list[str] = []
    for split in SPLITS:
        split_dir = seed_dir / split
        if not split_dir.is_dir():
            raise SystemExit(f"{split_dir}: not a folder; expected {seed_dir}/{split}/")
        for path in sorted(split_dir.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(seed_dir)
            if (
                len(rel.parts) != 3
                or any(part.startswith(".") for part in rel.parts)
                or path.suffix.lower() not in IMAGE_SUFFIXES
            ):
                skipped.append(rel.as_posix())
                continue
            rows.append((rel.as_posix(), path.stat().st_size, sha256_of(path)))
    rows.sort()
    return rows, skipped


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "seed_dir", type=Path, help="folder holding train/, validation/"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"CSV to write (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    rows, skipped = manifest_rows(args.seed_dir)
    if not rows:
        parser.error(f"no image files under {args.seed_dir}/{{train,validation}}/")
    for rel in skipped:
        print(f"left out: {rel}", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "size", "sha256"])
        writer.writerows(rows)
    print(f"{len(rows)} files -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
