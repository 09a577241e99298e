"""The ``skemotion`` command line: ``train``, ``predict``, ``check``, ``evaluate``,
``demo`` and ``finetune``."""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import logging
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

logger = logging.getLogger("skemotion")


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


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


def _build_pipeline(params: dict, factory=None):
    """``factory()`` (default: ``make_emotion_pipeline``) with ``params`` set;
    unknown parameter names are a usage error listing the valid ones."""
    if factory is None:
        from .. import make_emotion_pipeline as factory

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


def _load_split(root: Path, strip_suffix: str | None):
    from .. import load_image_folder
    from ..exceptions import SkemotionError

    try:
        return load_image_folder(root, strip_suffix=strip_suffix)
    except SkemotionError:
        raise
    except (OSError, ValueError) as exc:  # no images, not a folder...
        raise UsageError(str(exc)) from None


def _emit(text: str, stream=None) -> None:
    """Print one line; characters the stream cannot encode are escaped.

    A file name that is not valid UTF-8 (or a terminal that is not) must not
    cost the results: such characters are written as backslash escapes.
    """
    stream = sys.stdout if stream is None else stream
    try:
        print(text, file=stream)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        safe = text.encode(encoding, "backslashreplace").decode(encoding)
        print(safe, file=stream)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


def _file_size(text: str) -> int:
    """argparse type: a size in bytes, with an optional K, M or G (binary) unit."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 50M, 1G or 1048576 (bytes), got {text!r}"
        )
    factor = 1024 ** " kmg".index(match[2].lower() or " ")
    size = int(float(match[1]) * factor)
    if size < 1:
        raise argparse.ArgumentTypeError(f"the size must be positive, got {text!r}")
    return size


def _positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _training_data(args):
    """DATA_DIR's training images: ``DATA_DIR/train`` when it exists, else
    DATA_DIR itself. Checked before TensorFlow is imported, so a wrong folder
    is a fast one-line usage error.

    Returns ``(data_dir, has_splits, train_root, paths, labels)``.
    """
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: data folder does not exist")
    has_splits = (data_dir / "train").is_dir()
    train_root = data_dir / "train" if has_splits else data_dir
    paths, labels = _load_split(train_root, args.strip_suffix)
    return data_dir, has_splits, train_root, paths, labels


def _cmd_train(args) -> int:
    from ..persistence import save_model

    data_dir, has_splits, train_root, paths, labels = _training_data(args)
    pipeline = _build_pipeline(_parse_params(args.param))
    _set_progress(pipeline, args.progress)
    print(
        f"Training on {len(paths)} images from {train_root}, "
        f"classes: {', '.join(sorted(set(labels)))}"
    )
    start = time.perf_counter()
    pipeline.fit(paths, labels)
    encoder = pipeline.named_steps["encode"]
    print(
        f"Trained in {time.perf_counter() - start:.1f} s; encoder weights: "
        f"{encoder.weights_used_}, precision {encoder.precision_}"
    )
    val_root = data_dir / "validation"
    if has_splits and val_root.is_dir():
        val_paths, val_labels = _load_split(val_root, args.strip_suffix)
        accuracy = float(np.mean(pipeline.predict(val_paths) == val_labels))
        print(f"Validation accuracy: {accuracy:.1%} on {len(val_paths)} images")
    output = save_model(pipeline, args.output)
    print(f"Model saved to {output} (load only model files you trust)")
    return EXIT_OK


def _load_model(path: str):
    """Load a model file; its problems are usage errors (exit status 2)."""
    from ..exceptions import ModelFileError
    from ..persistence import load_model

    try:
        model = load_model(path)
    except ModelFileError as exc:
        raise UsageError(str(exc)) from None
    if not hasattr(model, "named_steps") or "crop" not in model.named_steps:
        raise UsageError(
            f"{path}: holds a {type(model).__name__} without a 'crop' step, not a "
            "skemotion emotion pipeline"
        )
    return model


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


def _cmd_predict(args) -> int:
    import csv
    import json

    from ..exceptions import SkemotionError
    from ..prediction import RECORD_FIELDS, annotate_image, iter_predict_topk

    if args.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {args.top_k}")
    model = _load_model(args.model)
    _set_progress(model, args.progress)
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
        _emit(row_buffer.getvalue())
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
            _emit(f"{path}: error: {error}", sys.stderr)
        if args.format == "json":
            for record in records:
                _emit(json.dumps(record))
        elif args.format == "csv":
            for record in records:
                row_buffer.seek(0)
                row_buffer.truncate()
                writer.writerow(
                    {**record, "box": " ".join(map(str, record["box"] or []))}
                )
                _emit(row_buffer.getvalue())
        elif error is None:
            _emit(_text_line(records, args.all_faces))
        sys.stdout.flush()
        if annotate_dir is not None and error is None:
            out = annotate_dir / _annotated_name(path, used_names)
            try:
                annotate_image(path, records, out)
            except (SkemotionError, OSError, ValueError) as exc:
                n_failed += 1
                _emit(f"{path}: error: could not write {out} ({exc})", sys.stderr)
    if annotate_dir is not None:
        _emit(f"Annotated images written to {annotate_dir}", sys.stderr)
    return EXIT_FAILED if n_failed else EXIT_OK


def _cmd_check(args) -> int:
    import json

    from ..inspection._checking import check_image_folder

    root = Path(args.data_dir)
    if not root.is_dir():
        raise UsageError(f"{root}: data folder does not exist")
    report = check_image_folder(
        root,
        detector=args.detector,
        detect_faces=not args.no_faces,
        strip_suffix=args.strip_suffix,
        progress=args.progress,
    )
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_text())
    return EXIT_FAILED if report.has_problems else EXIT_OK


def _evaluation_folder(data_dir: Path) -> Path:
    for split in ("test", "validation"):
        if (data_dir / split).is_dir():
            return data_dir / split
    return data_dir


def _cmd_evaluate(args) -> int:
    import json

    from ..inspection._reporting import evaluate_model

    model = _load_model(args.model)
    _set_progress(model, args.progress)
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: data folder does not exist")
    root = _evaluation_folder(data_dir)
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


def _try_imagenet(size: tuple[int, int]) -> str | None:
    """Return None when ImageNet weights load, else the reason they don't."""
    from ..exceptions import WeightsError
    from ..feature_extraction._encoder import VGG16Encoder

    try:
        VGG16Encoder(weights="imagenet", pooling="avg").fit(
            np.zeros((1, *size, 3), dtype=np.uint8)
        )
    except WeightsError as exc:
        return str(exc)
    return None


def _demo_size(args) -> tuple[int, int]:
    """``--size``, else the crop size an adapted weights file was trained on,
    else the post's 224."""
    if args.size is not None:
        return (args.size, args.size)
    if args.weights not in ("imagenet", "none", "None"):
        from ..exceptions import WeightsError
        from ..feature_extraction._weights_file import read_weights_info

        try:
            info = read_weights_info(args.weights)
        except WeightsError as exc:
            raise UsageError(str(exc)) from None
        if info is not None:
            return tuple(info.input_size)
    return (224, 224)


def _cmd_demo(args) -> int:
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from .. import fetch_seed_faces, make_emotion_pipeline
    from ..prediction import format_topk, top_k

    wall = time.perf_counter()
    size = _demo_size(args)
    print(
        "skemotion demo: the original post's experiment, 'Building Emotional State "
        "Predictor using Deep Learning' (2018)"
    )
    data = fetch_seed_faces(args.data_home, progress=args.progress)
    n_train = int(np.sum(data.split == "train"))
    n_val = int(np.sum(data.split == "validation"))
    print(
        f"Data: {data.root} ({n_train} train + {n_val} validation images, "
        f"classes: {', '.join(data.target_names)})"
    )

    encode_params: dict = {"encode__weights": args.weights}
    if args.weights == "imagenet":
        reason = _try_imagenet(size)
        if reason is not None:
            print(f"ImageNet weights are not available: {reason}")
            print(
                f"Using random VGG16 weights instead (weights=None, random_state="
                f"{args.random_state}); expect accuracy near chance "
                f"({1 / len(data.target_names):.0%}), not the post's figure."
            )
            encode_params = {"encode__weights": None}
    elif args.weights in ("none", "None"):
        encode_params = {"encode__weights": None}
    pipeline = make_emotion_pipeline(
        crop__size=size,
        crop__progress=args.progress,
        encode__precision=args.precision,
        encode__random_state=args.random_state,
        encode__progress=args.progress,
        classify__random_state=args.random_state,
        classify__progress=args.progress,
        **encode_params,
    )
    features_step = pipeline[:-1]
    print(
        f"Detecting, cropping and encoding {len(data.filenames)} images at "
        f"{size[0]}x{size[1]} (once; the first three steps learn nothing from data)..."
    )
    start = time.perf_counter()
    features = features_step.fit_transform(data.filenames)
    encode_time = time.perf_counter() - start
    encoder = pipeline.named_steps["encode"]
    weights_used = f"{encoder.weights_used_}, precision {encoder.precision_}"
    print(
        f"  {len(features)} images in {encode_time:.1f} s "
        f"({len(features) / encode_time:.1f} images/s), {features.shape[1]} features "
        f"each; weights: {weights_used}"
    )

    train, val = data.split == "train", data.split == "validation"
    classifier = clone(pipeline.named_steps["classify"])
    start = time.perf_counter()
    classifier.fit(features[train], data.target[train])
    val_accuracy = float(np.mean(classifier.predict(features[val]) == data.target[val]))
    print(
        f"Validation accuracy (train on train, {n_val} validation images): "
        f"{val_accuracy:.1%}   [original post: 33%, ImageNet weights]"
    )
    cv = StratifiedKFold(
        n_splits=args.folds, shuffle=True, random_state=args.random_state
    )
    scores = cross_val_score(clone(classifier), features, data.target, cv=cv)
    print(
        f"{args.folds}-fold stratified cross-validation accuracy on train+validation: "
        f"{scores.mean():.1%} +/- {scores.std():.1%}"
    )
    print(f"Training and cross-validation took {time.perf_counter() - start:.1f} s")

    pipeline.steps[-1] = ("classify", classifier)
    examples = data.filenames[val][: args.n_examples]
    truths = data.target[val][: args.n_examples]
    print(f"Top-{args.top_k} predictions for {len(examples)} validation images:")
    topk = top_k(pipeline.predict_proba(examples), pipeline.classes_, args.top_k)
    for path, truth, pairs in zip(examples, truths, topk, strict=True):
        print(f"  {Path(path).name} (true: {truth}): {format_topk(pairs)}")
    if args.output:
        from ..persistence import save_model

        save_model(pipeline, args.output)
        print(f"Fitted pipeline saved to {args.output}")
    print(
        f"Weights used for every figure above: {weights_used}. "
        f"Wall time: {time.perf_counter() - wall:.1f} s"
    )
    return EXIT_OK


def _cmd_finetune(args) -> int:
    output = Path(args.output)
    if not output.name.endswith(".weights.h5"):
        raise UsageError(f"--output {output}: the file name must end in .weights.h5")
    data_dir, has_splits, train_root, paths, labels = _training_data(args)
    from ..persistence import save_model
    from ..pipeline import make_finetune_pipeline

    params = {
        "crop__detector": args.detector,
        "crop__size": args.size,
        "finetune__weights": None if args.weights.lower() == "none" else args.weights,
        "finetune__trainable_blocks": args.trainable_blocks,
        "finetune__epochs": args.epochs,
        "finetune__random_state": args.random_state,
        "finetune__checkpoint_dir": args.checkpoint_dir,
        "finetune__augment": not args.no_augment,
        "finetune__cache_frozen": not args.no_cache_frozen,
        "finetune__precision": args.precision,
    }
    params.update(_parse_params(args.param))
    pipeline = _build_pipeline(params, make_finetune_pipeline)
    _set_progress(pipeline, args.progress)
    tuner = pipeline.named_steps["finetune"]
    print(
        f"Fine-tuning VGG16 (top {tuner.trainable_blocks} of 5 blocks) on "
        f"{len(paths)} images from {train_root}, classes: "
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
    history = tuner.history_
    for epoch in range(len(history["loss"])):
        val = (
            f", val_loss {history['val_loss'][epoch]:.4f}, val_accuracy "
            f"{history['val_accuracy'][epoch]:.3f}"
            if history.get("val_loss")
            else ""
        )
        print(f"  epoch {epoch + 1}: loss {history['loss'][epoch]:.4f}{val}")
    seconds = tuner.epoch_seconds_
    print(
        f"Trained in {time.perf_counter() - start:.1f} s from weights "
        f"{tuner.weights_used_} (precision {tuner.precision_}, preprocessing "
        f"{tuner.preprocessing_}, batch norm {'on' if tuner.batch_norm_ else 'off'}); "
        f"kept epoch {tuner.best_epoch_} of {tuner.n_epochs_}"
        + (f" (resumed after epoch {tuner.resumed_from_epoch_})"
           if tuner.resumed_from_epoch_ else "")
        + (f"; {np.mean(seconds):.1f} s per epoch" if seconds else "")
        + (f", frozen activations cached in {tuner.frozen_cache_seconds_:.1f} s"
           if tuner.frozen_cache_seconds_ else "")
    )  # fmt: skip
    if tuner.heldout_accuracy_ is not None:
        print(
            f"Held-out accuracy: {tuner.heldout_accuracy_:.1%} on "
            f"{tuner.n_heldout_} training images kept aside"
        )
    tuner.export_weights(output, training_files=paths)
    print(
        f"Adapted encoder weights saved to {output}; use them with "
        f"`skemotion train DATA_DIR --param encode__weights='{output}' "
        f"--param crop__size={tuner.input_shape_[0]} ...`"
    )
    for split in ("validation", "test"):
        root = data_dir / split
        if has_splits and root.is_dir():
            eval_paths, eval_labels = _load_split(root, args.strip_suffix)
            accuracy = float(np.mean(pipeline.predict(eval_paths) == eval_labels))
            print(
                f"{split.capitalize()} accuracy: {accuracy:.1%} on "
                f"{len(eval_paths)} images"
            )
            break
    if args.model:
        saved = save_model(pipeline, args.model)
        print(f"Fine-tuned pipeline saved to {saved} (load only model files you trust)")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="skemotion",
        description="Predict a person's emotion from a photo of their face.",
    )
    parser.add_argument(
        "--version", action="version", version=f"skemotion {__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress details"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser(
        "train",
        help="train a model on a folder of labelled images",
        description="Train the emotion pipeline on DATA_DIR/<label>/<image> or on "
        "DATA_DIR/train/<label>/<image> (then DATA_DIR/validation is used to report "
        "accuracy) and save the fitted pipeline with joblib, with the skemotion, "
        "scikit-learn and Keras versions it was made with. Only load model files "
        "you trust: loading runs code stored in the file.",
    )
    train.add_argument("data_dir", metavar="DATA_DIR")
    train.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="MODEL.joblib",
        help="where to save the fitted pipeline",
    )
    train.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a pipeline parameter, e.g. crop__size='(64, 64)' or "
        "encode__weights=None (VALUE is a Python literal, else a "
        "string); repeat for several",
    )
    train.add_argument(
        "--strip-suffix",
        metavar="SUFFIX",
        help="remove SUFFIX from folder names to make labels (e.g. _face)",
    )
    train.set_defaults(func=_cmd_train)

    predict = sub.add_parser(
        "predict",
        help="print the top-k emotions of images",
        description="Print each image's most probable emotions, e.g. "
        "'photo.jpg: 62.1% happy, 20.4% shocked'. Bad files (missing, empty, "
        "truncated, not an image, too large...) never stop the run: each gets one "
        "error line on stderr naming it and the problem, and every good file is "
        "still predicted. Exit status: 0 when every image was predicted, 1 when "
        "some could not be, 2 on usage errors (including a model file that is "
        "missing, damaged or not a model). A model saved with other skemotion, "
        "scikit-learn or Keras versions gives a warning. Only load model files you "
        "trust: loading runs code stored in the file.",
    )
    predict.add_argument("model", metavar="MODEL.joblib")
    predict.add_argument("images", metavar="IMAGE", nargs="+")
    predict.add_argument(
        "-k",
        "--top-k",
        type=int,
        default=2,
        metavar="K",
        help="how many emotions to print per face (default: 2)",
    )
    predict.add_argument(
        "--format",
        choices=("text", "json", "csv"),
        default="text",
        help="text: one line per image; json: one JSON object per face and rank "
        "(JSON Lines); csv: one row per face and rank, with a header. A bad file "
        "gives an error record in json/csv, and an error line on stderr",
    )
    predict.add_argument(
        "--all-faces",
        action="store_true",
        help="label every face found in an image, not only the largest",
    )
    predict.add_argument(
        "--annotate",
        metavar="DIR",
        help="write each image to DIR with its face boxes and top-k labels drawn",
    )
    predict.add_argument(
        "--max-pixels",
        type=_positive_int,
        metavar="N",
        help="refuse images with more than N pixels, read from the file header "
        "before decoding (default: the model's crop__max_pixels, 100000000)",
    )
    predict.add_argument(
        "--max-file-size",
        type=_file_size,
        default=256 * 1024 * 1024,
        metavar="SIZE",
        help="refuse files larger than SIZE, e.g. 50M or 1G (default: 256M)",
    )
    predict.set_defaults(func=_cmd_predict)

    check = sub.add_parser(
        "check",
        help="look for problems in a folder of labelled images before training",
        description="Audit DATA_DIR/<label>/* or DATA_DIR/{train,validation,test}/"
        "<label>/*: counts per class and split, class imbalance, unreadable files, "
        "byte-identical duplicates, the same image in two splits (leak) or under "
        "two labels (conflict), images with no face or several faces, sizes and "
        "modes. Exit status: 0 when no problem was found, 1 when some were, 2 on "
        "usage errors.",
    )
    check.add_argument("data_dir", metavar="DATA_DIR")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--detector",
        choices=("hog", "haar", "none"),
        default="hog",
        help="face detector used to count faces (default: hog)",
    )
    check.add_argument(
        "--no-faces", action="store_true", help="skip face detection (faster)"
    )
    check.add_argument("--strip-suffix", metavar="SUFFIX")
    check.set_defaults(func=_cmd_check)

    evaluate = sub.add_parser(
        "evaluate",
        help="measure a model on labelled images and write a report",
        description="Evaluate MODEL on DATA_DIR/<label>/* (or on DATA_DIR/test, "
        "else DATA_DIR/validation, when present): accuracy and per-class "
        "precision, recall and F1; with --report DIR, also a confusion-matrix PNG, "
        "a PNG of the worst mistakes and a self-contained HTML report (model card).",
    )
    evaluate.add_argument("model", metavar="MODEL.joblib")
    evaluate.add_argument("data_dir", metavar="DATA_DIR")
    evaluate.add_argument("--report", metavar="DIR", help="write the report here")
    evaluate.add_argument("--format", choices=("text", "json"), default="text")
    evaluate.add_argument("-k", "--top-k", type=int, default=2, metavar="K")
    evaluate.add_argument("--strip-suffix", metavar="SUFFIX")
    evaluate.set_defaults(func=_cmd_evaluate)

    demo = sub.add_parser(
        "demo",
        help="reproduce the original post's experiment end to end",
        description="Fetch the original post's 6-class data (or use the copy in "
        "SKEMOTION_DATA), encode it, train, and report validation and 5-fold "
        "cross-validated accuracy and a few top-k predictions. Falls back to "
        "random VGG16 weights, and says so, when ImageNet weights cannot be "
        "downloaded.",
    )
    demo.add_argument(
        "--data-home",
        metavar="DIR",
        help="folder holding (or to receive) seed/; default: "
        "$SKEMOTION_DATA or ~/skemotion_data",
    )
    demo.add_argument(
        "--size",
        type=_positive_int,
        default=None,
        help="face crop side in pixels (default: the size an adapted weights "
        "file was trained on, else 224 as in the post)",
    )
    demo.add_argument(
        "--weights",
        default="imagenet",
        help="'imagenet' (default), 'none' (random), or a weights file (e.g. "
        "adapted by `skemotion finetune`)",
    )
    demo.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="what VGG16 computes in (default: auto, bfloat16 where the hardware "
        "runs it natively)",
    )
    demo.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    demo.add_argument("-k", "--top-k", type=int, default=2, metavar="K")
    demo.add_argument(
        "--n-examples",
        type=int,
        default=4,
        help="validation images whose predictions are printed",
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument(
        "-o",
        "--output",
        metavar="MODEL.joblib",
        help="also save the fitted pipeline here",
    )
    demo.set_defaults(func=_cmd_demo)

    finetune = sub.add_parser(
        "finetune",
        help="adapt VGG16 to faces: fine-tune it on labelled images",
        description="Fine-tune VGG16 (its top --trainable-blocks blocks) together "
        "with a dense head on DATA_DIR/<label>/<image> or DATA_DIR/train/<label>/"
        "<image>, with augmentation suited to faces, balanced class weights and "
        "early stopping, then write the adapted convolutional weights to OUTPUT "
        "for VGG16Encoder(weights=OUTPUT), i.e. `skemotion train --param "
        "encode__weights=OUTPUT`. With --checkpoint-dir, every completed epoch is "
        "saved and running the same command again resumes an interrupted run. "
        "Accuracy on DATA_DIR/validation (else DATA_DIR/test) is reported.",
    )
    finetune.add_argument("data_dir", metavar="DATA_DIR")
    finetune.add_argument(
        "-o", "--output", required=True, metavar="FILE.weights.h5",
        help="where to write the adapted encoder weights",
    )  # fmt: skip
    finetune.add_argument(
        "--weights", default="imagenet",
        help="starting weights: 'imagenet' (default), 'none' (random, seeded by "
        "--random-state) or a weights file",
    )  # fmt: skip
    finetune.add_argument(
        "--trainable-blocks", type=int, default=2, choices=range(0, 6),
        metavar="N", help="train the top N of the 5 blocks (default: 2; 5: all)",
    )  # fmt: skip
    finetune.add_argument("--epochs", type=_positive_int, default=30)
    finetune.add_argument(
        "--size", type=_positive_int, default=224,
        help="face crop side in pixels (default: 224; FER2013: 48)",
    )  # fmt: skip
    finetune.add_argument(
        "--detector", choices=("hog", "haar", "none"), default="hog",
        help="face detector; 'none' for images that are already face crops",
    )  # fmt: skip
    finetune.add_argument(
        "--checkpoint-dir", metavar="DIR",
        help="save every epoch here and resume from it",
    )  # fmt: skip
    finetune.add_argument("--no-augment", action="store_true")
    finetune.add_argument(
        "--precision", choices=("auto", "float32", "bfloat16"), default="auto",
        help="what the network computes in (default: auto, bfloat16 where the "
        "hardware runs it natively)",
    )  # fmt: skip
    finetune.add_argument(
        "--no-cache-frozen", action="store_true",
        help="run the frozen blocks every epoch (fresh augmentation each "
        "batch) instead of caching their activations once",
    )  # fmt: skip
    finetune.add_argument("--random-state", type=int, default=0)
    finetune.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE",
        help="any pipeline parameter, e.g. finetune__learning_rate=1e-3 or "
        "finetune__batch_size=64; repeat for several",
    )  # fmt: skip
    finetune.add_argument(
        "--model", metavar="MODEL.joblib",
        help="also save the fine-tuned pipeline (it predicts by itself)",
    )  # fmt: skip
    finetune.add_argument("--strip-suffix", metavar="SUFFIX")
    finetune.set_defaults(func=_cmd_finetune)

    for command in (train, predict, check, evaluate, demo, finetune):
        command.add_argument(
            "-q", "--quiet", action="store_true", help="no progress bars"
        )
    return parser


@contextlib.contextmanager
def _plain_warnings(command: str):
    """Show warnings as one ``skemotion COMMAND: warning: ...`` line each."""

    def show(message, category, filename, lineno, file=None, line=None):
        _emit(f"skemotion {command}: warning: {message}", sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _stdout_to_devnull() -> None:
    """After a broken pipe (``skemotion predict ... | head``), exit quietly."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Run the ``skemotion`` command line; returns the exit status.

    Exit status: 0 on success, 1 when some input could not be used (bad
    image files, problems found by ``check``), 2 on usage errors (a wrong
    option, a missing folder, a model file that is missing or damaged),
    130 when interrupted. Errors are one line each, never a traceback
    (``--verbose`` adds it for unexpected errors).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    args.progress = False if args.quiet else None
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        # Pillow logs its own view of a broken file; skemotion's error says it.
        logging.getLogger("PIL").setLevel(logging.CRITICAL)
    from ..exceptions import SkemotionError

    prefix = f"skemotion {args.command}: error:"
    try:
        with _plain_warnings(args.command):
            return args.func(args)
    except UsageError as exc:
        _emit(f"{prefix} {exc}", sys.stderr)
        return EXIT_USAGE
    except SkemotionError as exc:
        _emit(f"{prefix} {exc}", sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_FAILED
    except Exception as exc:  # a bug or a broken installation: one line, not a trace
        if args.verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        hint = "" if args.verbose else " (run with --verbose for the traceback)"
        _emit(
            f"{prefix} unexpected {type(exc).__name__}: {exc}{hint}",
            sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
