"""Emotion over time in a video: one row per (sampled frame, face), per person."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .._io import atomic_path
from .._progress import progress_enabled
from ..exceptions import VideoError
from ..prediction import face_columns
from ._annotated import AnnotatedVideo
from ._faces import FaceFinding, FrameFaces, Labeller, frame_cropper
from ._reader import VideoInfo, open_video, sampled_frames
from ._tracker import BoxTracker

__all__ = ["VideoResult", "predict_video", "video_columns"]

logger = logging.getLogger(__name__)

#: 2: the detector and detect_every recorded; 3: the face_found column, and
#: the frames without a face counted
_FORMAT = 3


def video_columns(classes, top_k: int) -> list[str]:
    """The columns of a video's table, in order."""
    return ["frame", "time", "track", *face_columns(classes, top_k)]


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
    n_frames_without_face : int
        Sampled frames in which no face was found (or followed): they have
        no row. Resumed ones included; the sidecar's ``progress`` holds it
        as ``frames_without_face``.
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
    n_frames_without_face: int = 0

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


def _model_and_digest(model, engine: str | None):
    """The model (None: the ready one, on ``engine``) and its identity, which
    the sidecar records (a resume knows it for the same model)."""
    from ..prediction import resolve_model

    resolved = resolve_model(model, engine=engine)
    return resolved.model, resolved.digest()


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


class _Sampling(NamedTuple):
    """Which frames :func:`predict_video` looks at (:func:`sampled_frames`)."""

    every: int | None
    fps: float | None
    start: float | None
    end: float | None
    max_frames: int | None


def _check_arguments(output, sampling: _Sampling, top_k: int, batch_frames: int,
                     smooth: int, detect_every: int) -> Path:  # fmt: skip
    """The output's path, once the sampling and sizes are known to be valid."""
    every, fps = sampling.every, sampling.fps
    if every is not None and fps is not None:
        raise ValueError("give every or fps, not both")
    if every is not None and every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if min(top_k, batch_frames, smooth, detect_every) < 1:
        raise ValueError(
            "top_k, batch_frames, smooth and detect_every must be at least 1"
        )
    output = Path(os.fspath(output))
    if output.suffix not in (".csv", ".parquet"):
        raise ValueError(f"{output}: the output must end in .csv or .parquet")
    return output


class _Run:
    """One call's table, tracker and sidecar (``OUTPUT.json``: the run's record
    and the progress a resume reads), committed batch by batch."""

    def __init__(self, output: Path, video, info: VideoInfo, record: dict,
                 tracker: BoxTracker, started: float) -> None:  # fmt: skip
        self.video, self.info, self.record, self.tracker = video, info, record, tracker
        self.started = started  # when predict_video was called
        self.resumed_after: int | None = None
        self.sidecar = output.with_name(output.name + ".json")
        self.table = _Table(output, record["columns"])
        self.progress = {
            "last_frame": None,
            "n_parts": 0,
            "n_rows": 0,
            "frames_without_face": 0,
            "tracker": None,
            "complete": False,
        }

    def open(self, resume: bool) -> None:
        """Resume an interrupted run of the same video, model, engine,
        detector, detect_every, sampling and top_k, else start an empty
        table."""
        output, progress = self.table.output, self.progress
        if resume and self.sidecar.exists() and output.exists():
            saved = json.loads(self.sidecar.read_text())
            if {k: saved.get(k) for k in self.record} != self.record:
                raise VideoError(
                    output,
                    "holds another run's table (other video, model, engine, "
                    "detector, detect_every, sampling or top_k); use another "
                    "output, or run without --resume",
                )
            progress.update(saved.get("progress", {}))
            if progress["last_frame"] is not None:
                progress["n_rows"] = self.table.keep_frames_up_to(
                    progress["last_frame"], progress["n_parts"]
                )
                self.tracker.set_state(progress["tracker"])
        else:
            self.table.start()
        self.commit()
        self.resumed_after = progress["last_frame"] if resume else None

    def add(self, batch: list[FrameFaces], rows: list[dict]) -> None:
        """Append a batch's rows, then record it done."""
        self.table.append(rows)
        self.progress["n_rows"] += len(rows)
        with_faces = {row["frame"] for row in rows}
        self.progress["frames_without_face"] += sum(
            int(frame.index) not in with_faces for frame in batch
        )
        self.progress["last_frame"] = int(batch[-1].index)
        self.commit()

    def commit(self) -> None:
        self.progress["tracker"] = self.tracker.get_state()
        self.progress["n_parts"] = self.table.n_parts()
        with atomic_path(self.sidecar, suffix=".json") as tmp:
            record = {**self.record, "progress": self.progress}
            tmp.write_text(json.dumps(record, indent=1))


def _how_found(crop, detect_every: int, model) -> dict:
    """How the faces were found and classified, for the sidecar."""
    engine = getattr(model, "engine", None)  # a foreign pipeline has none
    return {"detector": crop.detector, "detect_every": detect_every, "engine": engine}


def _run_record(video, info: VideoInfo, sampling: _Sampling, digest: str,
                classes: list[str], top_k: int, how: dict) -> dict:  # fmt: skip
    """What a resume must find the same in the sidecar (``how``: the faces'
    detector, ``detect_every`` and the engine)."""
    return {
        **how,
        "format": _FORMAT,
        "video": str(Path(os.fspath(video)).resolve()),
        "video_fps": info.fps,
        "video_frame_count": info.frame_count,
        "video_width": info.width,
        "video_height": info.height,
        "video_duration": info.duration,
        "sampling": sampling._asdict(),
        "model_sha256": digest,
        "top_k": top_k,
        "columns": video_columns(classes, top_k),
    }


def _label_batches(batches: FaceFinding, labeller: Labeller, run: _Run, capture,
                   progress: bool | None) -> int:  # fmt: skip
    """Classify and commit each batch the threads hand over; frames done. The
    threads, the video, the annotated video and the bar are closed however it
    ends."""
    n_frames = 0
    bar = _frame_bar(progress)
    try:
        while (batch := batches.next_batch()) is not None:
            run.add(batch, labeller.rows(batch))
            n_frames += len(batch)
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix(video=f"{batch[-1].time:.1f}s")
    finally:
        batches.close()  # before the video: a thread reads it
        capture.release()
        if bar is not None:
            bar.close()
        if labeller.writer is not None:
            labeller.writer.close()
    return n_frames


def _frame_bar(progress: bool | None):
    if not progress_enabled(progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(desc="Frames", unit="frame", leave=False)


def _finish(run: _Run, n_frames: int, classes: list[str], timeline_dir, smooth: int,
            annotate) -> VideoResult:  # fmt: skip
    """Record the run complete, draw the timelines; what it did."""
    run.progress["complete"] = True
    run.commit()
    if run.progress["n_rows"] == 0:
        logger.warning(
            "%s: no face found in the %d sampled frames; the table has "
            "its columns and no rows",
            run.video,
            n_frames,
        )
    result_table = read_table(run.table.output)
    timelines = []
    if timeline_dir is not None:
        from ._timeline import plot_timelines

        timelines = plot_timelines(
            result_table,
            classes,
            Path(os.fspath(timeline_dir)),
            smooth=smooth,
            title=Path(os.fspath(run.video)).name,
        )
    return VideoResult(
        output=run.table.output,
        sidecar=run.sidecar,
        info=run.info,
        n_frames=n_frames,
        n_rows=int(run.progress["n_rows"]),
        n_tracks=int(result_table["track"].nunique()) if len(result_table) else 0,
        resumed_after=run.resumed_after,
        seconds=time.perf_counter() - run.started,
        timelines=timelines,
        annotated=Path(os.fspath(annotate)) if annotate else None,
        n_frames_without_face=int(run.progress["frames_without_face"]),
    )


def _finding(capture, info: VideoInfo, sampling: _Sampling, run: _Run, crop,
             batch_frames: int, detect_every: int) -> FaceFinding:  # fmt: skip
    """The sampled frames still to do, decoded and searched for faces in two
    threads while the caller classifies."""
    frames = sampled_frames(
        capture, info, **sampling._asdict(), after=run.progress["last_frame"]
    )
    return FaceFinding(frames, crop, batch_frames, detect_every)


def predict_video(
    model, video, output, *, every: int | None = None, fps: float | None = None,
    start: float | None = None, end: float | None = None, top_k: int = 2,
    max_frames: int | None = None, batch_frames: int = 16, resume: bool = False,
    timeline_dir=None, smooth: int = 1, annotate=None, progress: bool | None = None,
    tracker: BoxTracker | None = None, detector: str | None = None,
    detect_every: int = 1, engine: str | None = None) -> VideoResult:  # fmt: skip
    """Every face of a video's sampled frames, followed over time, labelled.

    Frames are sampled (``every`` N frames, or ``fps`` per second of video,
    between ``start`` and ``end`` seconds, at most ``max_frames``) without
    converting the frames skipped; every face of each sampled frame is found
    (the model's cropper's detector, or ``detector``; with ``detect_every``,
    followed between detections), given a track id (:class:`BoxTracker`)
    and classified by the model, frames in batches. Decoding, finding faces
    and classifying run at once, in three threads. Memory holds a batch or
    two whatever the video's length: rows are appended as each batch is done.

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
        ``track``, ``face_found`` (true: a frame without a face has no row),
        the face box (``face_left``...), ``label_1``... with
        ``probability_1``..., and ``proba_<class>`` for every class.
        ``OUTPUT.json`` beside it describes the run (detector,
        ``detect_every``, the engine, frames without a face).
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
        Frames whose faces are classified (and written) together; rounded up
        to a multiple of ``detect_every``.
    resume : bool, default=False
        Continue an interrupted run from its table and sidecar: the same
        rows, none twice. Without it an existing table is replaced.
    timeline_dir : str or os.PathLike, optional
        Write one PNG per track: each emotion's probability against time.
    smooth : int, default=1
        Moving average over this many samples in the timelines only.
    annotate : str or os.PathLike, optional
        Write the sampled frames as a video (``.mp4`` or ``.avi``) with each
        face's box, track id and top label drawn.
    tracker : BoxTracker, optional
        Its thresholds; default ``BoxTracker()``.
    progress : bool or None, default=None
        A bar in frames and video seconds; None: when stderr is a terminal.
    detector : str or None, default=None
        A name of :data:`~skemotion.preprocessing.DETECTORS` to find faces
        with instead of the model's cropper's own (None: its own);
        :func:`~skemotion.preprocessing.fast_detector` is the fastest here.
    detect_every : int, default=1
        Detect on one sampled frame in ``detect_every`` and follow each
        face's box by optical flow between (a lost box has no row until the
        next detection); 3 is about 2.5 times faster with YuNet, for a
        little accuracy (``benchmarks/README.md``).
    engine : {"litert", "tensorflow"} or None, default=None
        What runs the ready model (:func:`~skemotion.load_pretrained`'s).

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
    sampling = _Sampling(every, fps, start, end, max_frames)
    output = _check_arguments(output, sampling, top_k, batch_frames, smooth,
                              detect_every)  # fmt: skip
    model, digest = _model_and_digest(model, engine)
    crop, classes = frame_cropper(model, detector), [str(c) for c in model.classes_]
    capture, info = open_video(video)
    record = _run_record(video, info, sampling, digest, classes, top_k,
                         _how_found(crop, detect_every, model))  # fmt: skip
    run = _Run(output, video, info, record, tracker or BoxTracker(), started)
    run.open(resume)
    batches = _finding(capture, info, sampling, run, crop, batch_frames, detect_every)
    writer = AnnotatedVideo(annotate, info, every, fps) if annotate else None
    labeller = Labeller(model, classes, top_k, run.tracker, writer)
    n_frames = _label_batches(batches, labeller, run, capture, progress)
    return _finish(run, n_frames, classes, timeline_dir, smooth, annotate)
