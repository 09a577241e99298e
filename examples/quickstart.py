"""Quick start: image paths to emotion labels with one scikit-learn Pipeline.

Runs in about a minute on 2 CPU cores: a few images per class, 48x48 crops,
and random VGG16 weights (``encode__weights=None``), because ImageNet weights
cannot be downloaded everywhere. With internet, drop ``encode__weights=None``
to use ImageNet weights, and ``crop__size=48`` to use the post's 224x224.

Usage::

    SKEMOTION_DATA=../shared/data python examples/quickstart.py
"""

from __future__ import annotations

import sys

import joblib
import numpy as np
from sklearn.model_selection import cross_val_score

from skemotion import fetch_seed_faces, format_topk, make_emotion_pipeline, top_k

PER_CLASS = int(sys.argv[1]) if len(sys.argv) > 1 else 8

data = fetch_seed_faces()  # SKEMOTION_DATA, ~/skemotion_data, or a download
train = data.split == "train"
keep = np.concatenate(
    [np.flatnonzero(train & (data.target == c))[:PER_CLASS] for c in data.target_names]
)
paths, labels = data.filenames[keep], data.target[keep]

pipe = make_emotion_pipeline(
    crop__size=48,  # the post used 224: slower, same code
    encode__weights=None,  # random weights, seeded: works offline
    encode__random_state=0,
    encode__pooling="avg",
    classify__random_state=0,
)
scores = cross_val_score(pipe, paths, labels, cv=3)  # stratified: a classifier
print(f"3-fold accuracy: {scores.mean():.1%} (random weights; chance is 17%)")

pipe.fit(paths, labels)
joblib.dump(pipe, "emotion_model.joblib")
reloaded = joblib.load("emotion_model.joblib")

validation = data.filenames[data.split == "validation"][:3]
for path, pairs in zip(
    validation,
    top_k(reloaded.predict_proba(validation), reloaded.classes_, k=2),
    strict=True,
):
    print(f"{path}: {format_topk(pairs)}")
