"""The faces of a video's sampled frames, found ahead of the classifying.

Two threads work ahead of the main one: one decodes the sampled frames (OpenCV
lets go of the GIL while it decodes), the other gathers them into batches and
finds their faces: the model's cropper's detector on every ``detect_every``-th
frame of a batch (its first included), and between detections each face's
box followed with optical flow (:class:`~._follow.BoxFollower`) and cropped
as the cropper crops (:meth:`FaceCropper.crop_boxes`). The main thread
classifies each batch's faces and follows each person with a track id.
"""

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
from ..prediction import check_model, classify_crops, face_values
from ..preprocessing import DETECTORS, CropResult
from ._annotated import AnnotatedVideo
from ._follow import BoxFollower
from ._tracker import BoxTracker

__all__ = ["FaceFinding", "FrameFaces", "Labeller", "frame_cropper"]

logger = logging.getLogger(__name__)

#: Decoded frames waiting for the detector (a few: a 1080p frame is 6 MB).
_FRAMES_AHEAD = 8
_END = object()  # what a queue hands over once the pipeline is stopped


class _Frame(NamedTuple):
    """A sampled frame (as :func:`sampled_frames` yields it)."""

    index: int
    time: float
    rgb: np.ndarray


class FrameFaces(NamedTuple):
    """A sampled frame and the faces found (or followed) in it."""

    index: int
    time: float
    rgb: np.ndarray
    found: CropResult


class _Finder:
    """One batch's faces: detected on every ``every``-th frame (the first
    included), followed on the frames between."""

    def __init__(self, crop, every: int) -> None:
        self.crop = crop
        self.every = every if DETECTORS[crop.detector].find is not None else 1
        self.follower = BoxFollower()

    def faces(self, batch: list[_Frame]) -> list[FrameFaces]:
        names = [f"<frame {f.index}>" for f in batch]
        detect = range(0, len(batch), self.every)
        sources = [InMemoryImage(names[j], batch[j].rgb) for j in detect]
        # every detection of the batch in one call (the cropper's workers, if any)
        found = dict(
            zip(detect, self.crop.crop_each(sources, all_faces=True), strict=True)
        )
        out = []
        for j, frame in enumerate(batch):
            result = found.get(j)
            if result is None:
                boxes = self.follower.follow(frame.rgb)
                crops = self.crop.crop_boxes(frame.rgb, boxes) if len(boxes) else []
                # followed faces were found by the detector, frames before
                result = CropResult(names[j], boxes, np.asarray(crops), None,
                                    len(boxes) > 0, len(boxes))  # fmt: skip
            elif self.every > 1:
                ok = result.error is None
                self.follower.start(frame.rgb, result.boxes if ok else [])
            out.append(FrameFaces(*frame, result))
        return out


class FaceFinding:
    """The threads that decode the sampled frames and find their faces, ahead
    of the caller, who takes the batches with :meth:`next_batch`.

    Parameters
    ----------
    frames : iterator of (index, time, rgb)
        The sampled frames (:func:`sampled_frames`); read in a thread.
    crop : FaceCropper
        From :func:`frame_cropper`.
    batch_frames, detect_every : int
        A batch is ``batch_frames`` rounded up to a multiple of
        ``detect_every``, so that the detector runs every ``detect_every``
        frames exactly and on each batch's first frame.
    """

    def __init__(self, frames, crop, batch_frames: int, detect_every: int) -> None:
        self.stop = threading.Event()
        self._frames: queue.Queue = queue.Queue(maxsize=_FRAMES_AHEAD)
        self._batches: queue.Queue = queue.Queue(maxsize=2)
        size = -(-batch_frames // detect_every) * detect_every
        finder = _Finder(crop, detect_every)
        self._threads = [
            threading.Thread(target=self._decode, args=(frames,), daemon=True),
            threading.Thread(target=self._find, args=(finder, size), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def next_batch(self) -> list[FrameFaces] | None:
        """The next batch, None after the last; a thread's error is raised."""
        batch = self._get(self._batches)
        if isinstance(batch, BaseException):
            raise batch
        return None if batch is _END else batch

    def close(self) -> None:
        """Stop the threads and wait for them (the video may then be closed)."""
        self.stop.set()
        for thread in self._threads:
            thread.join()

    def _put(self, where: queue.Queue, item) -> bool:
        while not self.stop.is_set():
            try:
                where.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, where: queue.Queue):
        while not self.stop.is_set():
            try:
                return where.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def _decode(self, frames) -> None:
        """Thread: decode the sampled frames, then None (or the error)."""
        try:
            for index, stamp, rgb in frames:
                if not self._put(self._frames, _Frame(index, stamp, rgb)):
                    return
            self._put(self._frames, None)
        except BaseException as exc:  # handed on, raised by the caller
            self._put(self._frames, exc)

    def _find(self, finder: _Finder, size: int) -> None:
        """Thread: the faces of each batch, then _END (or the error)."""
        try:
            batch: list[_Frame] = []
            while (frame := self._get(self._frames)) not in (None, _END):
                if isinstance(frame, BaseException):
                    raise frame
                batch.append(frame)
                if len(batch) == size:
                    self._put(self._batches, finder.faces(batch))
                    batch = []
            if frame is _END:
                return
            if batch:
                self._put(self._batches, finder.faces(batch))
            self._put(self._batches, _END)
        except BaseException as exc:  # handed on, raised by the caller
            self._put(self._batches, exc)


def frame_cropper(model, detector: str | None = None):
    """The model's cropper, made to find every face of a frame or none, with
    ``detector`` instead of its own when given."""
    from joblib import effective_n_jobs

    crop = check_model(model)
    if detector is not None and detector not in DETECTORS:
        raise ValueError(
            f"unknown detector {detector!r}; use one of {', '.join(DETECTORS)}"
        )
    # every face of a frame; a frame without one gives no row (not the whole frame)
    crop = clone(crop).set_params(no_face="raise")
    if detector is not None:
        crop.set_params(detector=detector)
    if effective_n_jobs(crop.n_jobs) == 1:
        # load the detector here: a missing package is one clear error now,
        # not a warning on every frame
        crop.detect([np.zeros((64, 64, 3), np.uint8)])
    return crop


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
        error = frame.found.error
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
                **face_values(
                    box, p, self.classes, self.top_k, face_found=prediction.face_found
                ),
            }
            for box, track, p in zip(
                boxes, self.tracker.update(boxes), proba, strict=True
            )
        ]
        if self.writer is not None:
            self.writer.write(frame.rgb, rows)
        return rows
