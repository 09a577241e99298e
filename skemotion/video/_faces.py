"""The faces of a video's sampled frames: found by the model's cropper in a
thread, a batch at a time, then classified and followed, batch by batch."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sklearn.base import clone

from ..datasets import InMemoryImage
from ..exceptions import NoFaceError
from ..prediction import classify_crops, face_values
from ._annotated import AnnotatedVideo
from ._tracker import BoxTracker

__all__ = ["FrameFaces", "Labeller", "detecting", "frame_cropper"]

logger = logging.getLogger(__name__)


class _Frame(NamedTuple):
    """A sampled frame (as :func:`sampled_frames` yields it)."""

    index: int
    time: float
    rgb: np.ndarray


class FrameFaces(NamedTuple):
    """A sampled frame and what the cropper found in it."""

    index: int
    time: float
    rgb: np.ndarray
    found: tuple  # the cropper's CropResult: (name, boxes, crops, error)


def _frames_with_faces(frames, crop, batch_frames: int, out: queue.Queue) -> None:
    """Producer thread: decode frames and find every face, a batch at a time."""
    try:
        batch = []
        for index, stamp, rgb in frames:
            batch.append(_Frame(index, stamp, rgb))
            if len(batch) == batch_frames:
                out.put(_detect(batch, crop))
                batch = []
        if batch:
            out.put(_detect(batch, crop))
        out.put(None)
    except BaseException as exc:  # handed to the consumer, raised there
        out.put(exc)


def _detect(batch: list[_Frame], crop) -> list[FrameFaces]:
    sources = [InMemoryImage(f"<frame {f.index}>", f.rgb) for f in batch]
    found = list(crop.crop_each(sources, all_faces=True))
    return [FrameFaces(*f, r) for f, r in zip(batch, found, strict=True)]


def detecting(frames, crop, batch_frames: int) -> queue.Queue:
    """Find the faces of the next batches in a thread while one is classified:
    the queue hands over each batch, then None (or the thread's exception)."""
    batches: queue.Queue = queue.Queue(maxsize=2)
    producer = threading.Thread(
        target=_frames_with_faces,
        args=(frames, crop, batch_frames, batches),
        daemon=True,
    )
    producer.start()
    return batches


def frame_cropper(model):
    """The model's cropper, made to find every face of a frame or none."""
    crop = model.named_steps.get("crop") if hasattr(model, "named_steps") else None
    if crop is None:
        raise ValueError("model must be a fitted skemotion pipeline with a 'crop' step")
    # every face of a frame; a frame without one gives no row (not the whole frame)
    return clone(crop).set_params(no_face="raise")


@dataclass
class Labeller:
    """Classify a batch's faces and follow them frame by frame: its rows."""

    model: object
    classes: list[str]
    top_k: int
    tracker: BoxTracker
    writer: AnnotatedVideo | None

    def rows(self, batch: list[FrameFaces]) -> list[dict]:
        # every face of the batch in one call; a failure of the model stops
        # the run (the rows of the batches committed before stay)
        predictions = classify_crops(
            self.model, [f.found for f in batch], skip_bad=False
        )
        rows = []
        for frame, prediction in zip(batch, predictions, strict=True):
            rows.extend(self._frame_rows(frame, prediction))
        return rows

    def _frame_rows(self, frame: FrameFaces, prediction) -> list[dict]:
        _, _, _, error = frame.found
        if error is not None and not isinstance(error, NoFaceError):
            logger.warning("frame %d: %s", frame.index, error.reason)
        # no face is no row, quietly; the tracker still sees the frame go by
        boxes = [] if prediction.boxes is None else prediction.boxes.tolist()
        proba = [] if prediction.proba is None else prediction.proba
        rows = [
            {
                "frame": int(frame.index),
                "time": round(float(frame.time), 6),
                "track": int(track),
                **face_values(box, p, self.classes, self.top_k),
            }
            for box, track, p in zip(
                boxes, self.tracker.update(boxes), proba, strict=True
            )
        ]
        if self.writer is not None:
            self.writer.write(frame.rgb, rows)
        return rows
