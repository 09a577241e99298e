"""Reading frames from a video file, sampled, without converting those skipped."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import VideoError

__all__ = ["VideoInfo", "open_video", "sampled_frames"]

# FFmpeg's own log lines ("moov atom not found") are noise on a user's terminal;
# the error skemotion raises says what is wrong. AV_LOG_QUIET is -8.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself.

    Attributes
    ----------
    path : str
    fps : float
        Frames per second the file declares (0 when it declares none; the
        frames' own timestamps are used either way).
    frame_count : int
        Frames the file declares (0 when unknown; a truncated file may hold
        fewer).
    width, height : int
    duration : float
        ``frame_count / fps`` in seconds (0 when unknown).
    """

    path: str
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def open_video(path: str | os.PathLike):
    """Open a video with OpenCV; ``(capture, info)`` or a VideoError saying why."""
    import cv2

    path = Path(os.fspath(path))
    if not path.exists():
        raise VideoError(path, "file does not exist")
    if path.is_dir():
        raise VideoError(path, "is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise VideoError(
            path,
            "not a video OpenCV can read: not a video file, a truncated one whose "
            "index is missing, or a codec this OpenCV lacks",
        )
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    if not math.isfinite(fps) or fps < 0:
        fps = 0.0
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
    count = int(count) if math.isfinite(count) and count > 0 else 0
    info = VideoInfo(
        path=str(path), fps=fps, frame_count=count,
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
    )  # fmt: skip
    return capture, info


def sampled_frames(
    capture,
    info: VideoInfo,
    *,
    every: int | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    max_frames: int | None = None,
    after: int | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """The sampled frames: ``(frame index, timestamp in seconds, RGB frame)``.

    A frame is sampled every ``every`` frames, or once per ``1 / fps``
    seconds of video time (the first frame of each slot, by the frames' own
    timestamps, so a variable frame rate is followed), between ``start`` and
    ``end`` seconds, at most ``max_frames`` in all. Frames in between are only
    grabbed, never converted to RGB or copied. ``start`` seeks first.

    Which frames are sampled depends on the frames alone, so a run resumed
    ``after`` the index of its last written frame samples what an
    uninterrupted run samples (the frames before it are grabbed again, not
    converted, and count towards ``max_frames``).
    """
    import cv2

    origin = float(start or 0.0)
    if start:
        capture.set(cv2.CAP_PROP_POS_MSEC, origin * 1000.0)
    last_slot = -1
    n_sampled = 0
    last_time = -math.inf
    while True:
        if not capture.grab():
            return  # the end, or where a truncated file stops
        index = int(capture.get(cv2.CAP_PROP_POS_FRAMES)) - 1
        stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if not math.isfinite(stamp) or stamp < 0 or (index > 0 and stamp == 0):
            stamp = index / info.fps if info.fps > 0 else float(index)
        stamp = max(stamp, last_time)  # never backwards, whatever the container says
        last_time = stamp
        if start is not None and stamp < start:
            continue
        if end is not None and stamp > end:
            return
        if every is not None and index % every:
            continue
        if fps is not None:
            slot = math.floor((stamp - origin) * fps + 1e-6)
            if slot <= last_slot:
                continue
            last_slot = slot
        if max_frames is not None and n_sampled >= max_frames:
            return
        n_sampled += 1
        if after is not None and index <= after:
            continue  # written by the interrupted run
        ok, bgr = capture.retrieve()
        if not ok or bgr is None:
            return
        yield index, stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
