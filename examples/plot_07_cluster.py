"""
Predicting on a Dask cluster
============================

:func:`skemotion.distributed.predict_files` splits image paths into
partitions that a Dask cluster's workers predict, each worker loading the
model once, each partition written to a Parquet file. Here the cluster is a
``LocalCluster`` of 2 worker processes on this machine; on a real cluster only
the line that starts it changes (see "Running on a cluster").

The model uses seeded random weights (this page is built offline), so its
labels are near chance: the page shows the mechanics, not a useful model.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

from skemotion import fetch_seed_faces, make_emotion_pipeline, save_model
from skemotion.distributed import predict_files

data = fetch_seed_faces()
work = Path(tempfile.mkdtemp())
train = data.split == "train"
keep = np.concatenate([np.flatnonzero(train & (data.target == c))[:4]
                       for c in data.target_names])  # fmt: skip
pipe = make_emotion_pipeline(
    crop__size=48, encode__weights=None, encode__random_state=0,
    encode__pooling="avg", classify__epochs=2, classify__random_state=0,
).fit(data.filenames[keep], data.target[keep])  # fmt: skip
model_file = save_model(pipe, work / "model.joblib")

# %%
# Predict every photo on the cluster
# -----------------------------------
cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
client = Client(cluster)
run = predict_files(model_file, data.filenames, work / "results", client=client)
print(f"{run.n_images} images, {run.n_partitions} partitions, {run.seconds:.1f} s")
print("result files:", [f.name for f in run.files][:3], "...")
frame = run.results.compute()
frame[["path", "label_1", "probability_1", "face_left", "error"]].head()

# %%
# A rerun with the same folder resumes: nothing is left to do
again = predict_files(model_file, data.filenames, work / "results", client=client)
print(f"partitions found done: {again.n_skipped} of {again.n_partitions}")
client.close()
cluster.close()

# %%
# The predicted labels
# --------------------
counts = frame["label_1"].value_counts().sort_index()
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(counts.index, counts.values, color="tab:blue")
ax.set_ylabel("photos")
ax.set_title("Most probable emotion per photo (random weights)")
fig.tight_layout()
