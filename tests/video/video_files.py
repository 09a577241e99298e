"""Videos the video tests make: real face patches placed on a gray canvas."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H, FPS = 480, 320, 10


def write_video(path: Path, frames: list[list[tuple]], fourcc: str = "MJPG") -> Path:
    """A video whose frame i shows each (patch, x, y) of frames[i] on gray."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (W, H))
    assert writer.isOpened()
    for placed in frames:
        canvas = np.full((H, W, 3), 128, np.uint8)
        for patch, x, y in placed:
            canvas[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
        writer.write(canvas)
    writer.release()
    return path
