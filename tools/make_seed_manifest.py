"""Write skemotion/manifests/seed_faces.csv from a local copy of the seed data.

Usage: python tools/make_seed_manifest.py ../shared/data/seed

The manifest holds relative paths, sizes and sha256 sums, never images.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

OUT = (
    Path(__file__).resolve().parent.parent
    / "skemotion"
    / "manifests"
    / "seed_faces.csv"
)


def main(seed_dir: str) -> None:
    root = Path(seed_dir)
    rows = []
    for split in ("train", "validation"):
        for path in sorted((root / split).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                rel = path.relative_to(root).as_posix()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                rows.append((rel, path.stat().st_size, digest))
    rows.sort()
    with open(OUT, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "size", "sha256"])
        writer.writerows(rows)
    print(f"{len(rows)} files -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
