"""
Quick start: image paths to emotion labels
==========================================

One scikit-learn :class:`~sklearn.pipeline.Pipeline` reads photos, finds the
face, crops it, makes it gray, encodes it with VGG16 and classifies it with the
original post's dense network.

This example uses 8 training images per class at 48x48 and seeded random
VGG16 weights (``encode__weights=None``), because ImageNet weights cannot be
downloaded where the documentation is built. Drop ``encode__weights=None`` to
use ImageNet weights, and ``crop__size=48`` to use the post's 224x224.
"""

# %%
# The data: the original post's six emotions
# ------------------------------------------
# :func:`~skemotion.fetch_seed_faces` finds the data set in ``$SKEMOTION_DATA``
# (or downloads it once, checking every file's sha256).
import numpy as np

from skemotion import fetch_seed_faces, format_topk, make_emotion_pipeline, top_k

data = fetch_seed_faces()
train = data.split == "train"
keep = np.concatenate(
    [np.flatnonzero(train & (data.target == c))[:8] for c in data.target_names]
)
paths, labels = data.filenames[keep], data.target[keep]
print(f"{len(paths)} images, classes: {', '.join(data.target_names)}")

# %%
# The pipeline
# ------------
# Steps are named ``crop``, ``gray``, ``encode`` and ``classify``; every
# parameter is ``<step>__<name>``.
pipe = make_emotion_pipeline(
    crop__size=48,
    encode__weights=None,  # seeded random weights: offline and reproducible
    encode__random_state=0,
    encode__pooling="avg",
    classify__random_state=0,
)
pipe

# %%
# Cross-validation
# ----------------
# The pipeline is a classifier, so ``cv=3`` means stratified folds.
from sklearn.model_selection import cross_val_score

scores = cross_val_score(pipe, paths, labels, cv=3)
print(f"3-fold accuracy: {scores.mean():.1%} (random weights; chance is 17%)")

# %%
# Fit, then print the top-2 emotions of new photos
# ------------------------------------------------
pipe.fit(paths, labels)
validation = data.filenames[data.split == "validation"][:3]
for path, pairs in zip(
    validation, top_k(pipe.predict_proba(validation), pipe.classes_, k=2), strict=True
):
    print(f"{path.rsplit('/', 1)[-1]}: {format_topk(pairs)}")
