"""Following face boxes between detections: optical flow on points inside each box.

On a frame where the detector ran, :meth:`BoxFollower.start` picks points
worth following inside each face box (corners, or a grid where the face has
too few); on each next frame, :meth:`BoxFollower.follow` moves them with
pyramidal Lucas-Kanade optical flow (OpenCV's ``calcOpticalFlowPyrLK``),
keeps those that flow back to where they came from (the forward-backward
check), and moves each box by its points' median shift and scales it by the
median change of the distances between them (median flow). A box whose
points are lost (fewer than ``min_points`` kept), or that leaves the frame,
ends: the face has no box until the next detection.

Limits: the points follow the face's texture, not the face, so a face that
turns far, is hidden, or moves a long way between two sampled frames (a
sparse sampling) loses its box until the next detection; and a followed box
keeps the detected box's shape.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BoxFollower"]


def _gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class BoxFollower:
    """Move the boxes of one frame to the next with optical flow.

    Parameters
    ----------
    n_points : int, default=25
        Points picked in each box (the flow's cost grows with them).
    min_points : int, default=6
        A box with fewer points left ends.
    max_flow_error : float, default=1.0
        Pixels a point may miss its start by when flowed forward then back.
    window : int, default=15
        Side of the Lucas-Kanade search window, in pixels.
    levels : int, default=3
        Pyramid levels above the frame (each halves it: faster motion).
    """

    def __init__(self, n_points: int = 25, min_points: int = 6,
                 max_flow_error: float = 1.0, window: int = 15,
                 levels: int = 3) -> None:  # fmt: skip
        self.n_points, self.min_points = n_points, min_points
        self.max_flow_error, self.window, self.levels = max_flow_error, window, levels
        self._gray: np.ndarray | None = None
        self._boxes: list[np.ndarray] = []  # float (left, top, right, bottom)
        self._points: list[np.ndarray] = []  # (n, 2) float32 per box

    def start(self, rgb: np.ndarray, boxes) -> None:
        """Follow these boxes (from the detector) of this frame from now on."""
        self._gray = _gray(rgb)
        self._boxes, self._points = [], []
        for box in np.asarray(boxes, dtype=float).reshape(-1, 4):
            points = self._seed(self._gray, box)
            if len(points) >= self.min_points:
                self._boxes.append(box)
                self._points.append(points)

    def follow(self, rgb: np.ndarray) -> np.ndarray:
        """The boxes moved to this frame; those lost are left out.

        Returns
        -------
        boxes : ndarray of shape (n_faces, 4), dtype int
            ``(left, top, right, bottom)``, clipped to the frame.
        """
        gray = _gray(rgb)
        previous, self._gray = self._gray, gray
        if previous is None or not self._boxes:
            self._boxes, self._points = [], []
            return np.zeros((0, 4), dtype=int)
        before = np.concatenate(self._points)
        after, kept = self._flow(previous, gray, before)
        ends = np.cumsum([len(p) for p in self._points])
        boxes, points = [], []
        for box, p0, p1, ok in zip(self._boxes, np.split(before, ends[:-1]),
                                   np.split(after, ends[:-1]),
                                   np.split(kept, ends[:-1]), strict=True):  # fmt: skip
            if ok.sum() < self.min_points:
                continue  # lost: until the next detection
            moved = _moved_box(box, p0[ok], p1[ok])
            if _inside_fraction(moved, gray.shape) < 0.5:
                continue  # mostly out of the frame
            boxes.append(moved)
            points.append(p1[ok])
        self._boxes, self._points = boxes, points
        return _clipped(boxes, gray.shape)

    def _flow(self, previous, gray, before):
        """Each point's place in ``gray``, and whether it is to be trusted."""
        import cv2

        flow = {
            "winSize": (self.window, self.window),
            "maxLevel": self.levels,
            "criteria": (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03),
        }
        pts = before.reshape(-1, 1, 2)
        after, found, _ = cv2.calcOpticalFlowPyrLK(previous, gray, pts, None, **flow)
        back, found_back, _ = cv2.calcOpticalFlowPyrLK(
            gray, previous, after, None, **flow
        )
        error = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
        kept = (
            (found.ravel() == 1)
            & (found_back.ravel() == 1)
            & (error <= self.max_flow_error)
        )
        return after.reshape(-1, 2), kept

    def _seed(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Points to follow in the middle of the box: corners, else a grid."""
        import cv2

        left, top, right, bottom = box
        w, h = right - left, bottom - top
        # the inner part: the face, not the background at the box's edges
        x0, x1 = int(max(0, left + 0.15 * w)), int(min(gray.shape[1], right - 0.15 * w))
        y0, y1 = int(max(0, top + 0.1 * h)), int(min(gray.shape[0], bottom - 0.1 * h))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return np.zeros((0, 2), np.float32)
        corners = cv2.goodFeaturesToTrack(
            gray[y0:y1, x0:x1], self.n_points, 0.01, max(2.0, min(w, h) / 15)
        )
        if corners is not None and len(corners) >= 2 * self.min_points:
            return (corners.reshape(-1, 2) + np.array([x0, y0])).astype(np.float32)
        side = int(np.ceil(np.sqrt(self.n_points)))
        xs, ys = np.meshgrid(
            np.linspace(x0, x1 - 1, side), np.linspace(y0, y1 - 1, side)
        )
        return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def _moved_box(box: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The box shifted by the points' median shift, scaled by the median ratio
    of their distances (about the box's centre)."""
    shift = np.median(after - before, axis=0)
    scale = 1.0
    if len(before) >= 2:
        i, j = np.triu_indices(len(before), k=1)
        d0 = np.linalg.norm(before[i] - before[j], axis=1)
        d1 = np.linalg.norm(after[i] - after[j], axis=1)
        far = d0 > 2.0
        if far.any():
            scale = float(np.clip(np.median(d1[far] / d0[far]), 0.8, 1.25))
    centre = (box[:2] + box[2:]) / 2 + shift
    half = (box[2:] - box[:2]) / 2 * scale
    return np.concatenate([centre - half, centre + half])


def _inside_fraction(box: np.ndarray, shape) -> float:
    h, w = shape[:2]
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    inside = max(min(box[2], w) - max(box[0], 0), 0) * max(
        min(box[3], h) - max(box[1], 0), 0
    )
    return inside / area if area > 0 else 0.0


def _clipped(boxes: list[np.ndarray], shape) -> np.ndarray:
    if not boxes:
        return np.zeros((0, 4), dtype=int)
    h, w = shape[:2]
    arr = np.rint(np.asarray(boxes))
    arr[:, [0, 2]] = arr[:, [0, 2]].clip(0, w)
    arr[:, [1, 3]] = arr[:, [1, 3]].clip(0, h)
    return arr.astype(int)
