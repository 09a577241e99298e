"""
Grid search over any step's parameters
======================================

:class:`~sklearn.model_selection.GridSearchCV` tunes parameters of every step
of the pipeline at once: here the crop size (``crop__size``) and the dense
network's learning rate (``classify__learning_rate``).

Small data and seeded random VGG16 weights keep this fast and offline; the
scores are near chance for that reason.
"""

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV

from skemotion import fetch_seed_faces, make_emotion_pipeline

data = fetch_seed_faces()
train = data.split == "train"
keep = np.concatenate(
    [np.flatnonzero(train & (data.target == c))[:6] for c in data.target_names]
)
paths, labels = data.filenames[keep], data.target[keep]

pipe = make_emotion_pipeline(
    encode__weights=None,
    encode__random_state=0,
    encode__pooling="avg",
    classify__epochs=5,
    classify__random_state=0,
)
search = GridSearchCV(
    pipe,
    {"crop__size": [32, 48], "classify__learning_rate": [1e-4, 1e-3]},
    cv=2,
)
search.fit(paths, labels)

# %%
# Every candidate, with its cross-validated accuracy
results = pd.DataFrame(search.cv_results_)
print(
    results[["param_crop__size", "param_classify__learning_rate", "mean_test_score"]]
    .sort_values("mean_test_score", ascending=False)
    .to_string(index=False)
)
print("best:", search.best_params_)
