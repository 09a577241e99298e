"""The commands that look at labelled images: ``check`` (the data) and
``evaluate`` (a model on the data)."""

from __future__ import annotations

import json
import sys

from ._inputs import data_layout, load_model_file, load_split
from ._output import EXIT_FAILED, EXIT_OK, UsageError
from ._pipelines import set_progress

__all__ = ["check", "evaluate"]


def check(args) -> int:
    from ..inspection import check_image_folder

    report = check_image_folder(
        data_layout(args.data_dir).root,
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

    layout = data_layout(args.data_dir)
    model = load_model_file(args.model)
    set_progress(model, args.progress)
    root = layout.evaluation
    paths, labels = load_split(root, args.strip_suffix)
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
