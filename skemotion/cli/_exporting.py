"""The command that compiles a model for sharing: ``export`` (a LiteRT file)."""

from __future__ import annotations

import sys

from ._inputs import load_model_file
from ._output import EXIT_OK, UsageError, emit

__all__ = ["add_export_parser", "export"]


def add_export_parser(subparsers) -> None:
    """The ``export`` command's parser."""
    export_parser = subparsers.add_parser(
        "export",
        help="compile a model into one LiteRT file (.tflite) to share",
        description="Compile MODEL (a .joblib file from `skemotion train`) into "
        "one LiteRT file holding the network, its labels and its crop "
        "settings. `--model FILE.tflite` then predicts without TensorFlow, in "
        "every command that takes --model; loading a .tflite file runs no code "
        "from it, unlike a .joblib file. Only export model files you trust: "
        "loading the .joblib runs code stored in it.",
    )
    export_parser.add_argument("model", metavar="MODEL.joblib")
    export_parser.add_argument(
        "-o", "--output", required=True, metavar="FILE.tflite",
        help="the LiteRT file to write",
    )  # fmt: skip
    export_parser.add_argument(
        "--quantize", choices=("dynamic", "float32"), default="dynamic",
        help="dynamic: int8 weights, a quarter of the size and several times "
        "faster (default); float32: exact",
    )  # fmt: skip


def export(args) -> int:
    from ..engines import export_litert

    model = load_model_file(args.model)
    try:
        path = export_litert(
            model, args.output, quantize=args.quantize, source=str(args.model)
        )
    except ValueError as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    size = path.stat().st_size
    emit(
        f"wrote {path} ({size / 2**20:.1f} MiB, {args.quantize}; classes: "
        f"{', '.join(str(c) for c in model.classes_)})",
        sys.stdout,
    )
    return EXIT_OK
