"""
The command line
================

``skemotion train`` fits a pipeline on a folder of labelled images and saves
it; ``skemotion predict`` prints the top-k emotions of photos, as text, JSON
Lines or CSV, and can draw them on the photos. Here the commands run through
:func:`skemotion.cli.main`, exactly as in a shell.
"""

import shutil
import tempfile
from pathlib import Path

from skemotion import fetch_seed_faces
from skemotion.cli import main

# A small folder in the post's layout: data/train/<label>/*, data/validation/...
data = fetch_seed_faces()
root = Path(tempfile.mkdtemp())
for path, label, split in zip(data.filenames, data.target, data.split, strict=True):
    folder = root / "data" / split / label
    if split == "train" and folder.exists() and len(list(folder.iterdir())) >= 4:
        continue
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder)

# %%
# ``skemotion train data --output model.joblib --param ...``
model = root / "model.joblib"
main([
    "train", str(root / "data"), "--output", str(model), "--quiet",
    "--param", "crop__size=(48, 48)", "--param", "encode__weights=None",
    "--param", "encode__random_state=0", "--param", "encode__pooling='avg'",
    "--param", "classify__epochs=3", "--param", "classify__random_state=0",
])  # fmt: skip

# %%
# ``skemotion predict IMAGE... --model model.joblib --top-k 2``
photos = sorted(str(p) for p in (root / "data" / "validation").rglob("*.jpg"))[:3]
main(["predict", *photos, "--model", str(model), "--top-k", "2"])

# %%
# ``--format csv`` gives one row per face and rank
main(["predict", photos[0], "--model", str(model), "--format", "csv", "-k", "3"])
