"""Following each face from one sampled frame to the next: a track id per person.

A simple tracker, with its limits said plainly: each face of a frame is
matched to the track whose last box overlaps it most (intersection over
union at least ``min_iou``), or, failing that, whose last box's centre is
nearest (within ``max_centre_distance`` box widths); pairs are taken greedily,
best first, one face per track. A face that matches no track starts a new
one; a track not seen for ``max_missed`` sampled frames ends.

Limits: it looks at boxes only, not at faces. Two people who cross paths can
swap ids when their boxes overlap more with each other's tracks than with
their own; a person who leaves the frame for longer than ``max_missed``
sampled frames, or whose face the detector misses that long, comes back
with a new id; sampling sparsely (a low ``fps``) makes fast motion look like
a jump.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["BoxTracker"]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    area_a = max(0, a[2] - a[0]) * max(0, a[3] - a[1])
    area_b = max(0, b[2] - b[0]) * max(0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def _centre_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance of the centres, in widths of the larger box."""
    ca = np.array([(a[0] + a[2]) / 2, (a[1] + a[3]) / 2])
    cb = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    width = max(a[2] - a[0], b[2] - b[0], 1)
    return float(np.linalg.norm(ca - cb) / width)


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    missed: int = 0


@dataclass
class BoxTracker:
    """Give each face box of each frame a track id (see the module for limits).

    Parameters
    ----------
    min_iou : float, default=0.3
    max_centre_distance : float, default=1.0
        In widths of the larger of the two boxes.
    max_missed : int, default=5
        Sampled frames a track may go unseen before it ends.
    """

    min_iou: float = 0.3
    max_centre_distance: float = 1.0
    max_missed: int = 5
    _tracks: list[_Track] = field(default_factory=list, init=False, repr=False)
    _next_id: int = field(default=0, init=False, repr=False)

    def get_state(self) -> dict:
        """The live tracks and the next id, as JSON-ready values (for resume).

        Returns
        -------
        state : dict
        """
        return {
            "next_id": self._next_id,
            "tracks": [
                [t.track_id, [float(v) for v in t.box], t.missed] for t in self._tracks
            ],
        }

    def set_state(self, state: dict | None) -> None:
        """Continue from a state returned by :meth:`get_state`.

        Parameters
        ----------
        state : dict or None
            None leaves the tracker as it is.
        """
        if not state:
            return
        self._next_id = int(state["next_id"])
        self._tracks = [
            _Track(int(i), np.asarray(box, float), int(missed))
            for i, box, missed in state["tracks"]
        ]

    def update(self, boxes) -> list[int]:
        """The track id of each box of the next frame, in the boxes' order."""
        boxes = [np.asarray(b, dtype=float) for b in boxes]
        pairs = []
        for t, track in enumerate(self._tracks):
            for b, box in enumerate(boxes):
                iou = _iou(track.box, box)
                if iou >= self.min_iou:
                    pairs.append((0, -iou, t, b))
                else:
                    distance = _centre_distance(track.box, box)
                    if distance <= self.max_centre_distance:
                        pairs.append((1, distance, t, b))
        ids: list[int | None] = [None] * len(boxes)
        used_tracks: set[int] = set()
        for _, _, t, b in sorted(pairs):
            if t in used_tracks or ids[b] is not None:
                continue
            used_tracks.add(t)
            track = self._tracks[t]
            track.box, track.missed = boxes[b], 0
            ids[b] = track.track_id
        for t, track in enumerate(self._tracks):
            if t not in used_tracks:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for b, box in enumerate(boxes):
            if ids[b] is None:
                ids[b] = self._next_id
                self._tracks.append(_Track(self._next_id, box))
                self._next_id += 1
        return [int(i) for i in ids]
