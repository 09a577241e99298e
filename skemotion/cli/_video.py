"""The ``video`` command: every face of a video, tracked and labelled over time."""

from __future__ import annotations

from pathlib import Path

from ._inputs import check_engine, old_spelling
from ._output import EXIT_OK, UsageError

__all__ = ["video"]


def _video_positionals(args) -> None:
    """``video MODEL.joblib VIDEO``, the old spelling, still works."""
    if args.old_video is None:
        return
    if args.model is not None or not args.video.endswith(".joblib"):
        raise UsageError(
            f"one VIDEO is expected, got {args.video} and {args.old_video}; "
            "a model file is given with --model FILE"
        )
    old_spelling(args, args.video)
    args.video = args.old_video


def video(args) -> int:
    from ..preprocessing import fast_detector
    from ..video import predict_video

    _video_positionals(args)
    check_engine(args)
    output = Path(args.output)
    if output.suffix not in (".csv", ".parquet"):
        raise UsageError(f"--output {output}: use a name ending in .csv or .parquet")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise UsageError(f"--end {args.end} is not after --start {args.start}")
    result = predict_video(
        args.model,  # a file (the sidecar records its sha256) or the ready model
        args.video,
        output,
        every=args.every,
        fps=args.fps,
        start=args.start,
        end=args.end,
        max_frames=args.max_frames,
        top_k=args.top_k,
        resume=args.resume,
        timeline_dir=args.timeline,
        smooth=args.smooth,
        annotate=args.annotate,
        progress=args.progress,
        detector=args.detector or fast_detector(),
        detect_every=args.detect_every,
        engine=args.engine,
    )
    info = result.info
    resumed = (
        f" (resumed after frame {result.resumed_after})"
        if result.resumed_after is not None
        else ""
    )
    print(
        f"{args.video}: {info.width}x{info.height}, {info.fps:g} fps, "
        f"{info.frame_count} frames declared; {result.n_frames} frames sampled"
        f"{resumed}, {result.n_rows} faces in {result.n_tracks} tracks, "
        f"{result.seconds:.1f} s"
    )
    if result.n_rows == 0:
        print("No face was found: the table has its columns and no rows.")
    elif result.n_frames_without_face:
        print(
            f"No face found in {result.n_frames_without_face} sampled frames: "
            "they have no row."
        )
    print(f"Table: {result.output}; run description: {result.sidecar}")
    for path in result.timelines:
        print(f"Timeline: {path}")
    if result.annotated is not None:
        print(f"Annotated video: {result.annotated}")
    return EXIT_OK
