"""Emotion over time in a video: one row per (sampled frame, face), per person."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import clone

from .._io import atomic_path, file_sha256
from .._progress import progress_enabled
from ..datasets._sources import InMemoryImage
from ..exceptions import NoFaceError, VideoError
from ..prediction import _face_columns, _face_values
from ._reader import VideoInfo, open_video, sampled_frames
from ._tracker import BoxTracker

__all__ = ["VideoResult", "predict_video", "video_columns"]

logger = logging.getLogger(__name__)

_FORMAT = 1


def video_columns(classes, top_k: int) -> list[str]:
    """The columns of a video's table, in order."""
    return ["frame", "time", "track", *_face_columns(classes, top_k)]


@dataclass
class VideoResult:
    """What :func:`predict_video` did.

    Attributes
    ----------
    output : pathlib.Path
        The table: a CSV file, or a Parquet folder (one file per batch).
    sidecar : pathlib.Path
        ``OUTPUT.json``: the video's fps, frame count and size, the sampling,
        the model file's sha256 (``ready-...`` for the ready model), the
        columns, and the progress a resume uses.
    info : VideoInfo
    n_frames : int
        Frames sampled and looked at in this call.
    n_rows : int
        Rows in the table (faces), resumed ones included.
    n_tracks : int
        People followed (track ids) in the whole table.
    resumed_after : int or None
        The last frame an interrupted run had written, when resumed.
    seconds : float
    timelines : list of pathlib.Path
        One PNG per track, when asked for.
    annotated : pathlib.Path or None
    """

    output: Path
    sidecar: Path
    info: VideoInfo
    n_frames: int
    n_rows: int
    n_tracks: int
    resumed_after: int | None
    seconds: float
    timelines: list[Path] = field(default_factory=list)
    annotated: Path | None = None

    def read(self):
        """The whole table as a pandas DataFrame.

        Returns
        -------
        table : pandas.DataFrame
        """
        return read_table(self.output)


def read_table(output: Path):
    import pandas as pd

    if output.suffix == ".csv":
        return pd.read_csv(output)
    parts = sorted(output.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def _model_and_digest(model):
    """The model (None: the ready one) and what the sidecar records of it."""
    from ..persistence import load_model

    if model is None:
        return _ready_model_and_digest()
    if isinstance(model, (str, os.PathLike)):
        return load_model(model), file_sha256(model)
    import joblib

    return model, "pickle:" + joblib.hash(model)


def _ready_model_and_digest():
    """The ready model and its identity (a resume knows it for the same model)."""
    from ..pretrained import load_pretrained, pretrained_digest

    return load_pretrained(), pretrained_digest()


class _Table:
    """Rows appended batch by batch to a CSV file or a Parquet folder, whole
    batches only: an interrupted run leaves complete batches behind."""

    def __init__(self, output: Path, columns: list[str]) -> None:
        self.output, self.columns = output, columns
        self.parquet = output.suffix == ".parquet"
        if self.parquet:
            output.mkdir(parents=True, exist_ok=True)

    def n_parts(self) -> int:
        return len(list(self.output.glob("part-*.parquet"))) if self.parquet else 0

    def start(self) -> None:
        """A new, empty table with its columns."""
        import pandas as pd

        empty = pd.DataFrame({c: [] for c in self.columns})
        if self.parquet:
            for part in self.output.glob("part-*.parquet"):
                part.unlink()
            self._write_part(empty, 0)
        else:
            with atomic_path(self.output, suffix=".csv") as tmp:
                empty.to_csv(tmp, index=False)

    def keep_frames_up_to(self, last_frame: int, n_parts: int) -> int:
        """Drop what an interrupted run wrote after its last commit; rows kept."""
        import pandas as pd

        if self.parquet:
            for part in self.output.glob("part-*.parquet"):
                if int(part.stem.split("-")[1]) >= n_parts:
                    part.unlink()
            return len(read_table(self.output))
        table = pd.read_csv(self.output)
        kept = table[table["frame"] <= last_frame]
        if len(kept) != len(table):
            with atomic_path(self.output, suffix=".csv") as tmp:
                kept.to_csv(tmp, index=False)
        return len(kept)

    def append(self, rows: list[dict]) -> None:
        import pandas as pd

        if not rows:
            return
        frame = pd.DataFrame(rows, columns=self.columns)
        if self.parquet:
            self._write_part(frame, self.n_parts())
        else:
            with open(self.output, "a", newline="") as fh:
                frame.to_csv(fh, index=False, header=False)
                fh.flush()
                os.fsync(fh.fileno())

    def _write_part(self, frame, number: int) -> None:
        with atomic_path(
            self.output / f"part-{number:06d}.parquet", suffix=".parquet"
        ) as tmp:
            frame.to_parquet(tmp, index=False)


def _frames_with_faces(frames, crop, batch_frames: int, out: queue.Queue) -> None:
    """Producer thread: decode frames and find every face, a batch at a time."""
    try:
        batch = []
        for index, stamp, rgb in frames:
            batch.append((index, stamp, rgb))
            if len(batch) == batch_frames:
                out.put(_detect(batch, crop))
                batch = []
        if batch:
            out.put(_detect(batch, crop))
        out.put(None)
    except BaseException as exc:  # handed to the consumer, raised there
        out.put(exc)


def _detect(batch, crop) -> list[tuple]:
    sources = [InMemoryImage(f"<frame {i}>", rgb) for i, _, rgb in batch]
    found = list(crop.crop_each(sources, all_faces=True))
    return [
        (i, t, rgb, boxes, crops, error)
        for (i, t, rgb), (_, boxes, crops, error) in zip(batch, found, strict=True)
    ]


def predict_video(
    model,
    video,
    output,
    *,
    every: int | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    max_frames: int | None = None,
    top_k: int = 2,
    batch_frames: int = 16,
    resume: bool = False,
    timeline_dir=None,
    smooth: int = 1,
    annotate=None,
    tracker: BoxTracker | None = None,
    progress: bool | None = None,
) -> VideoResult:
    """Every face of a video's sampled frames, followed over time, labelled.

    Frames are sampled (``every`` N frames, or ``fps`` per second of video,
    between ``start`` and ``end`` seconds, at most ``max_frames``) without
    converting the frames skipped; every face of each sampled frame is found
    by the model's own cropper, given a track id (:class:`BoxTracker`: one id
    per person while they stay in view) and classified by the model, frames
    in batches. Memory holds one batch whatever the video's length: rows are
    appended to the table as each batch is done.

    Parameters
    ----------
    model : str, os.PathLike, fitted pipeline or None
        A model file (from :func:`~skemotion.save_model`), a fitted pipeline
        from :func:`~skemotion.make_emotion_pipeline`, or None: the ready
        model (:func:`~skemotion.load_pretrained`, FER2013's seven classes).
    video : str or os.PathLike
        Any video OpenCV reads (MP4, AVI, MKV, MOV, WebM...).
    output : str or os.PathLike
        ``*.csv`` (one file) or ``*.parquet`` (a folder of files, one per
        batch). One row per (frame, face): ``frame``, ``time`` (seconds),
        ``track``, the face box (``face_left``, ``face_top``, ``face_right``,
        ``face_bottom``), ``label_1``... with ``probability_1``..., and
        ``proba_<class>`` for every class. ``OUTPUT.json`` beside it
        describes the run.
    every : int, optional
        Sample one frame in ``every``.
    fps : float, optional
        Sample this many frames per second of video (not with ``every``).
        Neither: every frame.
    start, end : float, optional
        Seconds of video to look at.
    max_frames : int, optional
        Sampled frames at most.
    top_k : int, default=2
    batch_frames : int, default=16
        Frames whose faces are classified together (and written together).
    resume : bool, default=False
        Continue an interrupted run from its table and sidecar: the same
        rows, none twice. Without it an existing table is replaced.
    timeline_dir : str or os.PathLike, optional
        Write one PNG per track: each emotion's probability against time.
    smooth : int, default=1
        Moving average over this many samples in the timelines only; the
        table keeps the raw probabilities.
    annotate : str or os.PathLike, optional
        Write the sampled frames as a video (``.mp4`` or ``.avi``) with each
        face's box, track id and top label drawn.
    tracker : BoxTracker, optional
        Its thresholds; default ``BoxTracker()``.
    progress : bool or None, default=None
        A bar in frames and video seconds; None: when stderr is a terminal.

    Returns
    -------
    result : VideoResult

    Raises
    ------
    VideoError
        If the video cannot be read (missing, empty, not a video, truncated
        before its index, a codec OpenCV lacks), or ``resume`` finds another
        run's table.
    """
    started = time.perf_counter()
    if every is not None and fps is not None:
        raise ValueError("give every or fps, not both")
    if every is not None and every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if top_k < 1 or batch_frames < 1 or smooth < 1:
        raise ValueError("top_k, batch_frames and smooth must be at least 1")
    output = Path(os.fspath(output))
    if output.suffix not in (".csv", ".parquet"):
        raise ValueError(f"{output}: the output must end in .csv or .parquet")
    model, digest = _model_and_digest(model)
    crop = model.named_steps.get("crop") if hasattr(model, "named_steps") else None
    if crop is None:
        raise ValueError("model must be a fitted skemotion pipeline with a 'crop' step")
    # every face of a frame; a frame without one gives no row (not the whole frame)
    crop = clone(crop).set_params(no_face="raise")
    classes = [str(c) for c in model.classes_]
    columns = video_columns(classes, top_k)
    capture, info = open_video(video)
    sidecar = output.with_name(output.name + ".json")
    sampling = {
        "every": every,
        "fps": fps,
        "start": start,
        "end": end,
        "max_frames": max_frames,
    }
    record = {
        "format": _FORMAT,
        "video": str(Path(os.fspath(video)).resolve()),
        "video_fps": info.fps,
        "video_frame_count": info.frame_count,
        "video_width": info.width,
        "video_height": info.height,
        "video_duration": info.duration,
        "sampling": sampling,
        "model_sha256": digest,
        "top_k": top_k,
        "columns": columns,
    }
    tracker = tracker or BoxTracker()
    table = _Table(output, columns)
    progress_state = {
        "last_frame": None,
        "n_parts": 0,
        "n_rows": 0,
        "tracker": None,
        "complete": False,
    }
    if resume and sidecar.exists() and output.exists():
        saved = json.loads(sidecar.read_text())
        if {k: saved.get(k) for k in record} != record:
            raise VideoError(
                output,
                "holds another run's table (other video, model, sampling "
                "or top_k); use another output, or run without --resume",
            )
        progress_state.update(saved.get("progress", {}))
        if progress_state["last_frame"] is not None:
            progress_state["n_rows"] = table.keep_frames_up_to(
                progress_state["last_frame"], progress_state["n_parts"]
            )
            tracker.set_state(progress_state["tracker"])
    else:
        table.start()
    resumed_after = progress_state["last_frame"] if resume else None

    def commit() -> None:
        progress_state["tracker"] = tracker.get_state()
        progress_state["n_parts"] = table.n_parts()
        with atomic_path(sidecar, suffix=".json") as tmp:
            tmp.write_text(json.dumps({**record, "progress": progress_state}, indent=1))

    commit()
    frames = sampled_frames(
        capture,
        info,
        every=every,
        fps=fps,
        start=start,
        end=end,
        max_frames=max_frames,
        after=progress_state["last_frame"],
    )
    batches: queue.Queue = queue.Queue(maxsize=2)
    producer = threading.Thread(
        target=_frames_with_faces,
        args=(frames, crop, batch_frames, batches),
        daemon=True,
    )
    producer.start()
    writer = _AnnotatedVideo(annotate, info, every, fps) if annotate else None
    bar = None
    if progress_enabled(progress):
        from tqdm.auto import tqdm

        bar = tqdm(desc="Frames", unit="frame", leave=False)
    n_frames = 0
    rest = model[1:]
    try:
        while True:
            batch = batches.get()
            if batch is None:
                break
            if isinstance(batch, BaseException):
                raise batch
            rows = _classify(batch, rest, classes, top_k, tracker, writer)
            table.append(rows)
            n_frames += len(batch)
            progress_state["n_rows"] += len(rows)
            progress_state["last_frame"] = int(batch[-1][0])
            commit()
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix(video=f"{batch[-1][1]:.1f}s")
    finally:
        capture.release()
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    progress_state["complete"] = True
    commit()
    if progress_state["n_rows"] == 0:
        logger.warning(
            "%s: no face found in the %d sampled frames; the table has "
            "its columns and no rows",
            video,
            n_frames,
        )
    result_table = read_table(output)
    timelines = []
    if timeline_dir is not None:
        from ._timeline import plot_timelines

        timelines = plot_timelines(
            result_table,
            classes,
            Path(os.fspath(timeline_dir)),
            smooth=smooth,
            title=Path(os.fspath(video)).name,
        )
    return VideoResult(
        output=output,
        sidecar=sidecar,
        info=info,
        n_frames=n_frames,
        n_rows=int(progress_state["n_rows"]),
        n_tracks=int(result_table["track"].nunique()) if len(result_table) else 0,
        resumed_after=resumed_after,
        seconds=time.perf_counter() - started,
        timelines=timelines,
        annotated=Path(os.fspath(annotate)) if annotate else None,
    )


def _classify(batch, rest, classes, top_k, tracker, writer) -> list[dict]:
    """Classify a batch's faces, track them frame by frame; its rows."""
    crops = [c for (*_, crops, error) in batch if error is None for c in crops]
    proba = rest.predict_proba(np.stack(crops)) if crops else None
    rows, start = [], 0
    for index, stamp, rgb, boxes, face_crops, error in batch:
        if error is not None:
            if not isinstance(error, NoFaceError):  # no face is no row, quietly
                logger.warning("frame %d: %s", index, error.reason)
            boxes, face_crops = np.empty((0, 4), dtype=int), []
        face_proba = proba[start : start + len(face_crops)] if len(face_crops) else []
        start += len(face_crops)
        found = np.asarray(boxes).reshape(-1, 4).tolist()
        frame_rows = []
        for box, track, p in zip(found, tracker.update(found), face_proba, strict=True):
            row = {
                "frame": int(index),
                "time": round(float(stamp), 6),
                "track": int(track),
                **_face_values(box, p, classes, top_k),
            }
            frame_rows.append(row)
        if writer is not None:
            writer.write(rgb, frame_rows)
        rows.extend(frame_rows)
    return rows


class _AnnotatedVideo:
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
