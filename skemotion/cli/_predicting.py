"""The ``predict`` command: images in, their top-k emotions out, on this machine
or on a Dask cluster."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from ._inputs import check_engine, chosen_model, load_model_file, old_spelling
from ._output import EXIT_FAILED, EXIT_OK, UsageError, emit
from ._pipelines import set_progress

__all__ = ["predict"]


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
    old_spelling(args, args.images.pop(0))


def _text_line(records: list[dict], all_faces: bool) -> str:
    """One image's line (a line per face with ``--all-faces``); faces are
    numbered from 1, as in the records; an image without a face says so."""
    from ..prediction import format_topk

    faces: dict[int, list[dict]] = {}
    for record in records:
        faces.setdefault(record["face"], []).append(record)
    path = records[0]["path"]
    lines = []
    for face, face_records in faces.items():
        box = ",".join(str(v) for v in face_records[0]["box"])
        pairs = [(r["label"], r["probability"]) for r in face_records]
        at = f" at {box}" if all_faces else ""
        if face_records[0]["face_found"] is False:
            where = f" [no face found: whole image{at}]"
        else:
            where = f" [face {face}{at}]" if all_faces else ""
        lines.append(f"{path}{where}: {format_topk(pairs)}")
        if not all_faces:
            break
    return "\n".join(lines)


def _csv_row(record: dict) -> dict:
    """A record as its CSV row: the box as ``left top right bottom``,
    ``face_found`` spelled as in JSON (``true``, ``false``; empty for a bad
    file)."""
    found = record["face_found"]
    return {
        **record,
        "box": " ".join(map(str, record["box"] or [])),
        "face_found": "" if found is None else str(found).lower(),
    }


def _annotated_name(path: str, used: set[str]) -> str:
    stem = Path(path).stem or "image"
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.png"
    used.add(name)
    return name


def _output_folder(value) -> Path | None:
    if not value:
        return None
    folder = Path(value)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the folder ({exc})") from None
    return folder


def _write_explanations(model, paths: list[str], args, folder: Path) -> int:
    """``--explain DIR``: each face's crop with its map and label, one PNG a
    face (``<image>-face<N>.png``); returns how many could not be written."""
    from ..prediction import explain, overlay_saliency

    n_failed = 0
    used: set[str] = set()
    stems: dict[str, str] = {}
    method = args.explain_method
    for record in explain(
        model, paths, method=args.explain_method, all_faces=args.all_faces
    ):
        method = record.method
        if record.path not in stems:
            stems[record.path] = _annotated_name(record.path, used)[: -len(".png")]
        out = folder / f"{stems[record.path]}-face{record.face}.png"
        p = float(record.proba.max())
        label = f"{record.face}: {record.label} {p:.0%}"
        if not record.face_found:
            label = f"no face found: {record.label} {p:.0%}"
        try:
            overlay_saliency(record.crop, record.saliency, label=label).save(out)
        except OSError as exc:
            n_failed += 1
            emit(f"{record.path}: error: could not write {out} ({exc})", sys.stderr)
    emit(f"Saliency maps ({method}) written to {folder}", sys.stderr)
    return n_failed


def _predict_on_cluster(args) -> int:
    """``predict --output DIR``: partitions on a Dask cluster, Parquet files."""
    if args.scheduler is None and args.local_cluster is None:
        raise UsageError("--output needs --scheduler ADDRESS or --local-cluster N")
    unsupported = [
        flag
        for flag, used in (
            ("--all-faces", args.all_faces),
            ("--annotate", args.annotate),
            ("--explain", args.explain),
            ("--format", args.format != "text"),
            ("--max-pixels", args.max_pixels is not None),
            # the cluster's workers are its own: --local-cluster N
            ("--jobs", args.jobs is not None),
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
        load_model_file(args.model, option="--model")
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
            engine=args.engine,
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
    from ..prediction import (
        RECORD_FIELDS,
        annotate_image,
        check_model,
        iter_predict_topk,
    )

    _predict_positionals(args)
    check_engine(args)
    if args.output is not None:
        return _predict_on_cluster(args)
    if args.scheduler is not None or args.local_cluster is not None:
        raise UsageError("--scheduler and --local-cluster need --output DIR")
    # the ready model's maps through gradients (the compiled engine can only
    # occlude, which points less surely): --explain runs it on TensorFlow
    gradients = args.explain is not None and args.explain_method != "occlusion"
    engine = args.engine or ("tensorflow" if gradients else None)
    model = chosen_model(args.model, engine=engine)
    set_progress(model, args.progress)
    crop = check_model(model)
    if args.detector is not None:
        crop.set_params(detector=args.detector)
    if args.max_pixels is not None:
        crop.set_params(max_pixels=args.max_pixels)
    if args.jobs is not None:
        crop.set_params(n_jobs=args.jobs)
    annotate_dir = _output_folder(args.annotate)
    explain_dir = _output_folder(args.explain)
    explained: list[str] = []
    if explain_dir is not None:
        from ..prediction import explain_crops

        try:  # a method the model's engine cannot run, said before any work
            explain_crops(model, [], method=args.explain_method)
        except ValueError as exc:
            raise UsageError(f"--explain: {exc}") from None
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
                writer.writerow(_csv_row(record))
                emit(row_buffer.getvalue())
        elif error is None:
            emit(_text_line(records, args.all_faces))
        sys.stdout.flush()
        if error is None:
            explained.append(path)
        if annotate_dir is not None and error is None:
            out = annotate_dir / _annotated_name(path, used_names)
            try:
                annotate_image(path, records, out)
            except (SkemotionError, OSError, ValueError) as exc:
                n_failed += 1
                emit(f"{path}: error: could not write {out} ({exc})", sys.stderr)
    if annotate_dir is not None:
        emit(f"Annotated images written to {annotate_dir}", sys.stderr)
    if explain_dir is not None and explained:
        n_failed += _write_explanations(model, explained, args, explain_dir)
    return EXIT_FAILED if n_failed else EXIT_OK
