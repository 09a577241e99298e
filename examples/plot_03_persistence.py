"""
Saving and loading a fitted pipeline
====================================

A fitted pipeline is saved with :func:`joblib.dump` and loaded with
:func:`joblib.load`; the reloaded model gives identical probabilities. The
encoder keeps its weight values in the file, so a model trained with random,
ImageNet or file weights loads without any download.

.. warning::

   Loading a joblib (pickle) file runs code stored in it. Only load model
   files you trust.
"""

import tempfile
from pathlib import Path

import joblib
import numpy as np

from skemotion import fetch_seed_faces, make_emotion_pipeline

data = fetch_seed_faces()
train = data.split == "train"
keep = np.concatenate(
    [np.flatnonzero(train & (data.target == c))[:4] for c in data.target_names]
)
pipe = make_emotion_pipeline(
    crop__size=32,
    encode__weights=None,
    encode__random_state=0,
    encode__pooling="avg",
    classify__epochs=3,
    classify__random_state=0,
).fit(data.filenames[keep], data.target[keep])

model_file = Path(tempfile.mkdtemp()) / "emotion.joblib"
joblib.dump(pipe, model_file)
print(f"saved {model_file.stat().st_size / 1e6:.1f} MB")

# %%
# Load it back and compare
loaded = joblib.load(model_file)
photos = data.filenames[data.split == "validation"][:4]
same = np.array_equal(loaded.predict_proba(photos), pipe.predict_proba(photos))
print("identical probabilities after reload:", same)
print("encoder weights:", loaded.named_steps["encode"].weights_used_)
