"""The commands: each parses nothing and computes little; it calls the library
and prints what the library returns."""

from __future__ import annotations

import ast
import csv
import io
import json
import logging
import sys
import time
from pathlib import Path

from ._output import EXIT_FAILED, EXIT_OK, UsageError, emit

__all__ = ["COMMANDS"]

logger = logging.getLogger(__name__)

#: What the command line calls the model used without --model.
READY_NAME = "the ready model (FER2013's 7 classes)"


# ----------------------------------------------------------------- helpers
def _parse_params(items: list[str] | None) -> dict:
    """Turn ``NAME=VALUE`` strings into a dict (VALUE: a Python literal or a str)."""
    params = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a bare word or a path: keep it as a string
        params[name.strip()] = value
    return params


def _build_pipeline(params: dict, factory):
    """``factory()`` with ``params`` set; unknown names are a usage error listing
    the valid ones."""
    pipeline = factory()
    valid = pipeline.get_params()
    unknown = [name for name in params if name not in valid]
    if unknown:
        names = ", ".join(
            sorted(k for k in valid if "__" in k and not k.startswith("steps"))
        )
        raise UsageError(
            f"unknown pipeline parameter(s) {', '.join(unknown)}; valid names: {names}"
        )
    return pipeline.set_params(**params)


def _set_progress(pipeline, progress: bool | None) -> None:
    """Apply --quiet to every step that draws progress bars."""
    if progress is None or not hasattr(pipeline, "steps"):
        return
    for _, step in pipeline.steps:
        if "progress" in step.get_params():
            step.set_params(progress=progress)


def _layout(data_dir: str):
    """DATA_DIR's layout; a missing folder is a one-line usage error, found
    before TensorFlow is imported."""
    from ..datasets import folder_layout

    try:
        return folder_layout(data_dir)
    except NotADirectoryError as exc:
        raise UsageError(str(exc)) from None


def _load_split(root: Path, strip_suffix: str | None):
    from ..datasets import load_image_folder
    from ..exceptions import SkemotionError

    try:
        return load_image_folder(root, strip_suffix=strip_suffix)
    except SkemotionError:
        raise
    except (OSError, ValueError) as exc:  # no images, not a folder...
        raise UsageError(str(exc)) from None


def _load_model(path: str, *, option: str = ""):
    """Load a model file; its problems are usage errors (exit status 2).

    ``option`` (``"--model"``) names the option the path came with.
    """
    from ..exceptions import ModelFileError
    from ..persistence import load_model

    try:
        model = load_model(path)
    except ModelFileError as exc:
        if not option:
            raise UsageError(str(exc)) from None
        raise UsageError(
            f"{option} {exc} (without {option}, the ready model is used)"
        ) from None
    if not hasattr(model, "named_steps") or "crop" not in model.named_steps:
        raise UsageError(
            f"{path}: holds a {type(model).__name__} without a 'crop' step, not a "
            "skemotion emotion pipeline"
        )
    return model


def _chosen_model(path: str | None):
    """``--model FILE`` loaded, or the ready model without it."""
    if path is None:
        return _ready_model()
    model = _load_model(path, option="--model")
    logger.info("using the model file %s", path)
    return model


def _ready_model():
    """The ready model, packaged with skemotion (no file, no download)."""
    from ..pretrained import load_pretrained

    model = load_pretrained()
    logger.info("using %s", READY_NAME)
    return model


def _model_name(path: str | None) -> str:
    return READY_NAME if path is None else str(path)


def _old_spelling(args, model: str) -> None:
    """Take ``model``, a positional before --model existed, as the model file."""
    emit(
        f"skemotion {args.command}: note: {model} is read as the model file; "
        f"the new spelling is --model {model}",
        sys.stderr,
    )
    args.model = model


def _predict_positionals(args) -> None:
    """``predict MODEL.joblib IMAGE...``, the old spelling, still works."""
    first = args.images[0]
    if args.model is not None or not first.endswith(".joblib"):
        return
    if len(args.images) == 1:
        raise UsageError(
            f"{first} looks like a model file, and no image follows: "
            f"skemotion predict IMAGE... --model {first}"
        )
    _old_spelling(args, args.images.pop(0))


def _video_positionals(args) -> None:
    """``video MODEL.joblib VIDEO``, the old spelling, still works."""
    if args.old_video is None:
        return
    if args.model is not None or not args.video.endswith(".joblib"):
        raise UsageError(
            f"one VIDEO is expected, got {args.video} and {args.old_video}; "
            "a model file is given with --model FILE"
        )
    _old_spelling(args, args.video)
    args.video = args.old_video


def _serve_positionals(args) -> None:
    """``serve MODEL.joblib``, the old spelling, still works."""
    if args.old_model is None:
        return
    if args.model is not None:
        raise UsageError(
            f"serve takes no positional argument, got {args.old_model} and "
            f"--model {args.model}"
        )
    _old_spelling(args, args.old_model)


def _report_held_out(pipeline, layout, strip_suffix: str | None) -> None:
    """Print the fitted pipeline's accuracy on DATA_DIR's held-out split."""
    held_out = layout.held_out
    if held_out is None:
        return
    name, root = held_out
    paths, labels = _load_split(root, strip_suffix)
    accuracy = pipeline.score(paths, labels)
    print(f"{name.capitalize()} accuracy: {accuracy:.1%} on {len(paths)} images")


def _network_line(step) -> str:
    return f"weights {step.weights_used_}, precision {step.precision_}"


# ---------------------------------------------------------------- commands
def train(args) -> int:
    from ..persistence import save_model
    from ..pipeline import make_emotion_pipeline

    layout = _layout(args.data_dir)
    paths, labels = _load_split(layout.train, args.strip_suffix)
    pipeline = _build_pipeline(_parse_params(args.param), make_emotion_pipeline)
    _set_progress(pipeline, args.progress)
    print(
        f"Training on {len(paths)} images from {layout.train}, "
        f"classes: {', '.join(sorted(set(labels)))}"
    )
    start = time.perf_counter()
    pipeline.fit(paths, labels)
    print(
        f"Trained in {time.perf_counter() - start:.1f} s; encoder "
        f"{_network_line(pipeline.named_steps['encode'])}"
    )
    _report_held_out(pipeline, layout, args.strip_suffix)
    output = save_model(pipeline, args.output)
    print(f"Model saved to {output} (load only model files you trust)")
    return EXIT_OK


def _text_line(records: list[dict], all_faces: bool) -> str:
    from ..prediction import format_topk

    faces: dict[int, list[dict]] = {}
    for record in records:
        faces.setdefault(record["face"], []).append(record)
    path = records[0]["path"]
    if not all_faces:
        pairs = [(r["label"], r["probability"]) for r in faces[0]]
        return f"{path}: {format_topk(pairs)}"
    parts = []
    for face, face_records in faces.items():
        box = ",".join(str(v) for v in face_records[0]["box"])
        pairs = [(r["label"], r["probability"]) for r in face_records]
        parts.append(f"{path} [face {face + 1} at {box}]: {format_topk(pairs)}")
    return "\n".join(parts)


def _annotated_name(path: str, used: set[str]) -> str:
    stem = Path(path).stem or "image"
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.png"
    used.add(name)
    return name


def _predict_on_cluster(args) -> int:
    """``predict --output DIR``: partitions on a Dask cluster, Parquet files."""
    if args.scheduler is None and args.local_cluster is None:
        raise UsageError("--output needs --scheduler ADDRESS or --local-cluster N")
    unsupported = [
        flag
        for flag, used in (
            ("--all-faces", args.all_faces),
            ("--annotate", args.annotate),
            ("--format", args.format != "text"),
            ("--max-pixels", args.max_pixels is not None),
        )
        if used
    ]
    if unsupported:
        raise UsageError(f"{', '.join(unsupported)} cannot be used with --output")
    try:
        from distributed import Client, LocalCluster

        from ..distributed import predict_files
    except ImportError:
        raise UsageError("--output needs Dask: pip install 'skemotion[dask]'") from None
    if args.model is not None:  # a clear error here, not on every worker
        _load_model(args.model, option="--model")
    if args.scheduler is not None:
        try:
            context = Client(args.scheduler, timeout=20)
        except (OSError, TimeoutError) as exc:
            raise UsageError(
                f"cannot reach the Dask scheduler at {args.scheduler} ({exc})"
            ) from None
    else:
        cluster = LocalCluster(
            n_workers=args.local_cluster,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        context = Client(cluster)
    with context as client:
        run = predict_files(
            args.model,
            args.images,
            args.output,
            client=client,
            partition_size=args.partition_size,
            top_k=args.top_k,
            progress=args.progress,
        )
        if args.local_cluster is not None:
            cluster.close()
    print(
        f"{run.n_images} images in {run.n_partitions} partitions "
        f"({run.n_skipped} found done) written to {run.output_dir}; "
        f"{run.n_errors} could not be used; {run.seconds:.1f} s"
    )
    return EXIT_FAILED if run.n_errors else EXIT_OK


def predict(args) -> int:
    from ..exceptions import SkemotionError
    from ..prediction import RECORD_FIELDS, annotate_image, iter_predict_topk

    _predict_positionals(args)
    if args.output is not None:
        return _predict_on_cluster(args)
    if args.scheduler is not None or args.local_cluster is not None:
        raise UsageError("--scheduler and --local-cluster need --output DIR")
    model = _chosen_model(args.model)
    _set_progress(model, args.progress)
    if args.detector is not None:
        model.named_steps["crop"].set_params(detector=args.detector)
    if args.max_pixels is not None:
        model.named_steps["crop"].set_params(max_pixels=args.max_pixels)
    annotate_dir = Path(args.annotate) if args.annotate else None
    if annotate_dir is not None:
        try:
            annotate_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"{annotate_dir}: cannot create the folder ({exc})"
            ) from None
    row_buffer = io.StringIO()
    writer = csv.DictWriter(row_buffer, fieldnames=RECORD_FIELDS, lineterminator="")
    if args.format == "csv":
        writer.writeheader()
        emit(row_buffer.getvalue())
    n_failed = 0
    used_names: set[str] = set()
    for records in iter_predict_topk(
        model,
        args.images,
        args.top_k,
        all_faces=args.all_faces,
        skip_bad=True,
        max_file_size=args.max_file_size,
    ):
        path, error = records[0]["path"], records[0]["error"]
        if error is not None:
            n_failed += 1
            emit(f"{path}: error: {error}", sys.stderr)
        if args.format == "json":
            for record in records:
                emit(json.dumps(record))
        elif args.format == "csv":
            for record in records:
                row_buffer.seek(0)
                row_buffer.truncate()
                writer.writerow(
                    {**record, "box": " ".join(map(str, record["box"] or []))}
                )
                emit(row_buffer.getvalue())
        elif error is None:
            emit(_text_line(records, args.all_faces))
        sys.stdout.flush()
        if annotate_dir is not None and error is None:
            out = annotate_dir / _annotated_name(path, used_names)
            try:
                annotate_image(path, records, out)
            except (SkemotionError, OSError, ValueError) as exc:
                n_failed += 1
                emit(f"{path}: error: could not write {out} ({exc})", sys.stderr)
    if annotate_dir is not None:
        emit(f"Annotated images written to {annotate_dir}", sys.stderr)
    return EXIT_FAILED if n_failed else EXIT_OK


def check(args) -> int:
    from ..inspection import check_image_folder

    report = check_image_folder(
        _layout(args.data_dir).root,
        detector=args.detector or ["hog"],
        detect_faces=not args.no_faces,
        strip_suffix=args.strip_suffix,
        progress=args.progress,
    )
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_text())
    return EXIT_FAILED if report.has_problems else EXIT_OK


def evaluate(args) -> int:
    from ..inspection import evaluate_model

    layout = _layout(args.data_dir)
    model = _load_model(args.model)
    _set_progress(model, args.progress)
    root = layout.evaluation
    paths, labels = _load_split(root, args.strip_suffix)
    known = {str(c) for c in model.classes_}
    if not known & set(labels):
        raise UsageError(
            f"none of the labels in {root} ({', '.join(sorted(set(labels)))}) is a "
            f"class of the model ({', '.join(sorted(known))}); map folder names "
            "with --strip-suffix"
        )
    result = evaluate_model(
        model,
        paths,
        labels,
        report_dir=args.report,
        top_k=args.top_k,
        data_description=f"{len(paths)} images from {root}",
        progress=args.progress,
    )
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"Evaluated on {len(paths)} images from {root}")
        print(result.format_text())
    if args.report:
        print(f"Report written to {args.report}/report.html", file=sys.stderr)
    return EXIT_OK


def demo(args) -> int:
    from ..demo import run_demo
    from ..exceptions import WeightsError

    print(
        "skemotion demo: the original post's experiment, 'Building Emotional "
        "State Predictor using Deep Learning' (2018); a few minutes..."
    )
    sys.stdout.flush()
    try:
        result = run_demo(
            args.data_home,
            weights=args.weights,
            size=args.size,
            precision=args.precision,
            folds=args.folds,
            top_k=args.top_k,
            n_examples=args.n_examples,
            random_state=args.random_state,
            progress=args.progress,
        )
    except WeightsError as exc:
        if args.weights not in (None, "imagenet") and not Path(args.weights).is_file():
            raise UsageError(str(exc)) from None
        raise
    print(result.format_text())
    if args.output:
        from ..persistence import save_model

        saved = save_model(result.pipeline, args.output)
        print(f"Fitted pipeline saved to {saved}")
    return EXIT_OK


def finetune(args) -> int:
    output = Path(args.output)
    if not output.name.endswith(".weights.h5"):
        raise UsageError(f"--output {output}: the file name must end in .weights.h5")
    layout = _layout(args.data_dir)
    paths, labels = _load_split(layout.train, args.strip_suffix)
    from ..persistence import save_model
    from ..pipeline import make_finetune_pipeline

    params = {
        "crop__detector": args.detector,
        "crop__size": args.size,
        "finetune__weights": args.weights,
        "finetune__trainable_blocks": args.trainable_blocks,
        "finetune__epochs": args.epochs,
        "finetune__random_state": args.random_state,
        "finetune__checkpoint_dir": args.checkpoint_dir,
        "finetune__augment": not args.no_augment,
        "finetune__cache_frozen": not args.no_cache_frozen,
        "finetune__precision": args.precision,
        **_parse_params(args.param),
    }
    pipeline = _build_pipeline(params, make_finetune_pipeline)
    _set_progress(pipeline, args.progress)
    tuner = pipeline.named_steps["finetune"]
    print(
        f"Fine-tuning VGG16 (top {tuner.trainable_blocks} of 5 blocks) on "
        f"{len(paths)} images from {layout.train}, classes: "
        f"{', '.join(sorted(set(labels)))}"
    )
    start = time.perf_counter()
    try:
        pipeline.fit(paths, labels)
    except KeyboardInterrupt:
        if tuner.checkpoint_dir is not None:
            print(
                f"Interrupted: completed epochs are saved in {tuner.checkpoint_dir}; "
                "run the same command again to resume",
                file=sys.stderr,
            )
        raise
    print(tuner.format_history())
    print(f"Trained in {time.perf_counter() - start:.1f} s from {_network_line(tuner)}")
    tuner.export_weights(output, training_files=paths)
    print(
        f"Adapted encoder weights saved to {output}; use them with `skemotion "
        f"train DATA_DIR --param encode__weights='{output}' --param "
        f"crop__size={tuner.input_shape_[0]} ...`"
    )
    _report_held_out(pipeline, layout, args.strip_suffix)
    if args.model:
        saved = save_model(pipeline, args.model)
        print(f"Fine-tuned pipeline saved to {saved} (load only model files you trust)")
    return EXIT_OK


def video(args) -> int:
    from ..video import predict_video

    _video_positionals(args)
    output = Path(args.output)
    if output.suffix not in (".csv", ".parquet"):
        raise UsageError(f"--output {output}: use a name ending in .csv or .parquet")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise UsageError(f"--end {args.end} is not after --start {args.start}")
    model = None  # predict_video loads args.model, or the ready model
    if args.model is not None or args.detector is not None:
        model = _chosen_model(args.model)  # a clear error before the video opens
    if args.detector is not None:
        model.named_steps["crop"].set_params(detector=args.detector)
    result = predict_video(
        model if args.detector is not None else args.model,
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
    print(f"Table: {result.output}; run description: {result.sidecar}")
    for path in result.timelines:
        print(f"Timeline: {path}")
    if result.annotated is not None:
        print(f"Annotated video: {result.annotated}")
    return EXIT_OK


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(args) -> int:
    import os

    _serve_positionals(args)
    token = os.environ.get("SKEMOTION_TOKEN")
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"--token-file {args.token_file}: {exc}") from None
        if not token:
            raise UsageError(f"--token-file {args.token_file}: the file is empty")
    if args.host not in _LOOPBACK:
        if not args.allow_remote:
            raise UsageError(
                f"--host {args.host} lets other machines in: add --allow-remote, "
                "and a token (SKEMOTION_TOKEN or --token-file)"
            )
        if not token:
            raise UsageError(
                "--allow-remote needs a token: SKEMOTION_TOKEN or --token-file"
            )
    try:
        import uvicorn

        from ..serve import ServeSettings, create_app
    except ImportError:
        raise UsageError(
            "serve needs Starlette and uvicorn: pip install 'skemotion[serve]'"
        ) from None
    if args.model is not None:  # a clear error before the server starts
        _load_model(args.model, option="--model")
    settings = ServeSettings(
        max_request_bytes=args.max_request_size,
        max_files=args.max_files,
        max_queue=args.queue,
        token=token,
        cors_origins=args.cors_origin or (),
    )
    app = create_app(args.model, settings=settings)
    print(
        f"Serving {_model_name(args.model)} on http://{args.host}:{args.port}/ "
        f"({'token required' if token else 'no token'}); Ctrl-C stops"
    )
    sys.stdout.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


COMMANDS = {
    "train": train,
    "predict": predict,
    "check": check,
    "evaluate": evaluate,
    "demo": demo,
    "finetune": finetune,
    "video": video,
    "serve": serve,
}
