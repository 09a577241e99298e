"""
Adapting the encoder to faces: fine-tuning VGG16
================================================

:class:`~skemotion.VGG16FineTuner` trains the top blocks of VGG16 together
with a dense head on labelled face crops, in a pipeline
``crop -> gray -> finetune`` built by
:func:`~skemotion.make_finetune_pipeline`. Its adapted convolutional weights
are then exported to a file that ``VGG16Encoder(weights=FILE)`` loads, so the
standard pipeline, grid searches and persistence work unchanged on adapted
features.

This page is built offline, so training starts from **random weights**
(``finetune__weights=None``, seeded) rather than ImageNet, on 24 photos at
32x32 for a few epochs: the curves show the mechanics, not a useful model.
``benchmarks/accuracy.py`` measures the real thing on FER2013.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skemotion import (
    fetch_seed_faces,
    make_emotion_pipeline,
    make_finetune_pipeline,
    read_weights_info,
)

data = fetch_seed_faces()
train = data.split == "train"
keep = np.concatenate(
    [np.flatnonzero(train & (data.target == c))[:4] for c in data.target_names]
)
paths, labels = data.filenames[keep], data.target[keep]
work = Path(tempfile.mkdtemp())

tuning = make_finetune_pipeline(
    crop__size=32,
    finetune__weights=None,  # offline; users with internet start from "imagenet"
    finetune__random_state=0,
    finetune__trainable_blocks=2,  # blocks 4 and 5 train, blocks 1-3 stay frozen
    finetune__epochs=6,
    finetune__batch_size=8,
    finetune__validation_split=0.25,
    finetune__checkpoint_dir=work / "checkpoint",  # rerun to resume
)
tuning.fit(paths, labels)
tuner = tuning.named_steps["finetune"]
print("started from:", tuner.weights_used_)
print("computed in:", tuner.precision_, "| batch norm:", tuner.batch_norm_,
      "| preprocessing:", tuner.preprocessing_)  # fmt: skip
print(f"frozen activations cached once in {tuner.frozen_cache_seconds_:.1f} s")
print("seconds per epoch:", [round(s, 1) for s in tuner.epoch_seconds_])
print("kept the weights of epoch", tuner.best_epoch_)

# %%
# Training curves
# ---------------
# The loss on the training images (augmented) and on the held-out quarter.
epochs = np.arange(1, len(tuner.history_["loss"]) + 1)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(epochs, tuner.history_["loss"], "o-", label="training loss")
ax.plot(epochs, tuner.history_["val_loss"], "s-", label="validation loss")
ax.axvline(tuner.best_epoch_, color="grey", linestyle=":", label="kept epoch")
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy")
ax.set_title("Fine-tuning VGG16 blocks 4-5 (random start, 24 photos)")
ax.legend()
fig.tight_layout()

# %%
# The adapted weights file and its record
# ---------------------------------------
# The file is plain VGG16 (batch normalisation folded into the convolutions)
# and carries what is needed to use it right.
weights_file = tuner.export_weights(work / "adapted.weights.h5", training_files=paths)
info = read_weights_info(weights_file)
print("input size:", info.input_size, "| preprocessing:", info.preprocessing)
print("trained blocks:", info.trained_blocks, "| classes:", info.classes)
print("epochs:", info.epochs, "| held-out accuracy:", info.heldout_accuracy)

# %%
# The standard pipeline on the adapted weights
# --------------------------------------------
# The encoder applies the file's preprocessing by itself.
pipe = make_emotion_pipeline(
    crop__size=32,
    encode__weights=str(weights_file),
    encode__pooling="avg",
    classify__epochs=3,
    classify__random_state=0,
).fit(paths, labels)
encoder = pipe.named_steps["encode"]
print("encoder weights:", encoder.weights_used_)
print("preprocessing:", encoder.preprocessing_, "| precision:", encoder.precision_)
