"""
Emotion over time in a video
============================

:func:`skemotion.video.predict_video` samples a video's frames, finds every
face, follows each person with a track id and classifies their face frame
after frame, writing one row per (frame, face) as it goes. Here the video is
made on the spot from photos of the post's seed data: one person stays in
view while drifting right and changes expression, the other leaves for a
second and comes back.

The model uses seeded random weights (this page is built offline), so its
probabilities mean little: the page shows the mechanics and the plots.
"""

import tempfile
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np

from skemotion import (
    FaceCropper,
    detect_faces,
    fetch_seed_faces,
    make_emotion_pipeline,
    read_image,
)
from skemotion.video import predict_video

data = fetch_seed_faces()
work = Path(tempfile.mkdtemp())
train = data.split == "train"
keep = np.concatenate([np.flatnonzero(train & (data.target == c))[:4]
                       for c in data.target_names])  # fmt: skip
pipe = make_emotion_pipeline(
    crop__size=48, encode__weights=None, encode__random_state=0,
    encode__pooling="avg", classify__epochs=2, classify__random_state=0,
).fit(data.filenames[keep], data.target[keep])  # fmt: skip


# %%
# A video from three photos
# -------------------------
# Faces cut from seed photos, 150x150, on a gray 640x400 background at 10
# frames a second: four seconds of video. The first person drifts right and
# changes expression half-way (their happy photo, then an angry one); the
# second drifts left and leaves for a second.
def face(label: str):
    """The face of the first photo of ``label`` where HOG finds exactly one."""
    for path in data.filenames[data.target == label]:
        if len(detect_faces(read_image(path), "hog")) == 1:
            crop = FaceCropper(size=150, margin=0.3).transform([path])[0]
            return cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)


happy, angry, sad = face("happy"), face("angry"), face("sad")
video = work / "two_people.avi"
writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 400))
for i in range(40):
    frame = np.full((400, 640, 3), 128, np.uint8)
    x = 20 + 5 * i
    frame[20:170, x : x + 150] = happy if i < 20 else angry
    if not 15 <= i < 25:  # the second person leaves for a second
        x = 470 - 5 * i
        frame[230:380, x : x + 150] = sad
    writer.write(frame)
writer.release()

# %%
# One row per face and frame
# --------------------------
# Every second frame is sampled; the table is written batch by batch (a
# Parquet folder works the same), with a JSON record of the run beside it.
result = predict_video(pipe, video, work / "two_people.csv", every=2, top_k=2,
                       timeline_dir=work / "timelines", smooth=3)  # fmt: skip
table = result.read()
print(f"{result.n_frames} frames sampled, {result.n_rows} faces, "
      f"{result.n_tracks} people")  # fmt: skip
table[["frame", "time", "track", "face_left", "label_1", "probability_1"]].head(8)

# %%
# The person who left keeps their track id when they come back (the tracker
# waits a few sampled frames before it ends a track):
table.groupby("track")["time"].agg(["min", "max", "count"])

# %%
# The timeline of each person
# ---------------------------
# One PNG per track: each emotion's probability against the video's time,
# here with a moving average of 3 samples (the table keeps the raw values).
n = len(result.timelines)
fig, axes = plt.subplots(n, 1, figsize=(8, 3.4 * n))
for ax, png in zip(np.atleast_1d(axes), result.timelines, strict=True):
    ax.imshow(plt.imread(png))
    ax.set_axis_off()
fig.tight_layout()
plt.show()
