"""Emotion over time in videos: every face, per person, frame by frame.

:func:`predict_video` samples a video's frames, finds every face, follows
each person with a track id, classifies the faces in batches with a fitted
pipeline and writes one row per (frame, face) to a CSV file or a Parquet
folder, with a JSON sidecar; memory stays flat whatever the video's length,
and an interrupted run resumes. With ``detect_every=k`` the detector runs on
one sampled frame in k and each face's box is followed between with optical
flow. ``skemotion video`` is its command (YuNet, k=3 by default).
"""

from ._reader import VideoInfo
from ._tracker import BoxTracker
from ._video import VideoResult, predict_video

__all__ = ["BoxTracker", "VideoInfo", "VideoResult", "predict_video"]
