"""The sampled frames written back as a video, each face boxed and labelled."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..exceptions import VideoError
from ._reader import VideoInfo

__all__ = ["AnnotatedVideo"]


class AnnotatedVideo:
    """The sampled frames, each face boxed with its track id and top label."""

    def __init__(self, path, info: VideoInfo, every, fps) -> None:
        import cv2

        self.path = Path(os.fspath(path))
        rate = fps or (info.fps / every if every else info.fps) or 10.0
        fourcc = cv2.VideoWriter_fourcc(
            *("mp4v" if self.path.suffix == ".mp4" else "MJPG")
        )
        self.size = (info.width, info.height)
        self.writer = cv2.VideoWriter(str(self.path), fourcc, float(rate), self.size)
        if not self.writer.isOpened():
            raise VideoError(
                self.path, "cannot write this video file (use .mp4 or .avi)"
            )

    def write(self, rgb: np.ndarray, rows: list[dict]) -> None:
        import cv2

        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        scale = max(bgr.shape[:2]) / 640
        for r in rows:
            left, top = r["face_left"], r["face_top"]
            cv2.rectangle(
                bgr,
                (left, top),
                (r["face_right"], r["face_bottom"]),
                (0, 215, 255),
                max(2, round(2 * scale)),
            )
            text = f"#{r['track']} {r['label_1']} {100 * r['probability_1']:.0f}%"
            cv2.putText(
                bgr,
                text,
                (left, max(12, top - 6)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5 * max(scale, 1),
                (255, 255, 255),
                max(1, round(scale)),
                cv2.LINE_AA,
            )
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size)
        self.writer.write(bgr)

    def close(self) -> None:
        self.writer.release()
