"""
Evaluation report: where does the model err?
============================================

:func:`~skemotion.evaluate_model` measures a fitted pipeline on labelled
images: accuracy, per-class precision, recall and F1, the confusion matrix,
and the mistakes it made most confidently. With a report folder it also
writes ``confusion_matrix.png``, ``worst_mistakes.png``, ``reliability.png``
(calibration), ``metrics.json`` and ``report.html``, a self-contained model
card that opens in any browser (the same as ``skemotion evaluate MODEL
DATA_DIR --report DIR``).

Seeded random VGG16 weights (``encode__weights=None``) are used because
ImageNet weights cannot be downloaded where this page is built: the model is
near chance, which makes for a report full of mistakes.
"""

import tempfile
from pathlib import Path

import numpy as np
from matplotlib import pyplot as plt
from PIL import Image

from skemotion import evaluate_model, fetch_seed_faces, make_emotion_pipeline

data = fetch_seed_faces()
train = data.split == "train"
fit = np.concatenate(
    [np.flatnonzero(train & (data.target == c))[:8] for c in data.target_names]
)
held_out = np.concatenate(
    [np.flatnonzero(train & (data.target == c))[30:34] for c in data.target_names]
)
pipe = make_emotion_pipeline(
    crop__size=48,
    encode__weights=None,
    encode__random_state=0,
    encode__pooling="avg",
    classify__random_state=0,
    classify__learning_rate=1e-3,
).fit(data.filenames[fit], data.target[fit])

report = Path(tempfile.mkdtemp()) / "report"
result = evaluate_model(
    pipe,
    data.filenames[held_out],
    data.target[held_out],
    report,
    data_description="24 held-out training photos of the post's data set",
)
print(result.format_text())
print("files:", ", ".join(sorted(result.files)))

# %%
# The confusion matrix (rows: true emotion, columns: predicted)
fig, ax = plt.subplots(figsize=(7, 6))
ax.imshow(Image.open(report / "confusion_matrix.png"))
ax.set_axis_off()

# %%
# The mistakes the model was most sure of
fig, ax = plt.subplots(figsize=(10, 10))
ax.imshow(Image.open(report / "worst_mistakes.png"))
ax.set_axis_off()
