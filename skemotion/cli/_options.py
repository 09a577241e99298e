"""The options several commands share, each defined once, and the texts their
help repeats."""

from __future__ import annotations

from ..networks import PRECISIONS
from ..preprocessing import DETECTORS
from ._types import positive_int, weights_value

__all__ = [
    "DETECTORS",
    "PRECISIONS",
    "READY",
    "READY_SENTENCE",
    "TRUST",
    "data_dir",
    "detector",
    "engine",
    "model",
    "output",
    "output_format",
    "params",
    "precision",
    "random_state",
    "size",
    "strip_suffix",
    "top_k",
    "weights",
]

TRUST = (
    "Only load model files you trust: loading a joblib file runs code stored "
    "in it (a .tflite file from 'skemotion export' runs none)."
)
READY = (
    "without --model, the ready model is used: FER2013's seven classes (angry, "
    "disgust, fear, happy, neutral, sad, surprise)"
)
#: READY as a sentence of a command's description.
READY_SENTENCE = f"{READY[0].upper()}{READY[1:]}; --model FILE loads your own."


def data_dir(parser, what: str) -> None:
    parser.add_argument("data_dir", metavar="DATA_DIR", help=what)


def output(parser, metavar: str, what: str, *, required: bool = False) -> None:
    parser.add_argument("-o", "--output", required=required, metavar=metavar, help=what)


def strip_suffix(parser) -> None:
    parser.add_argument(
        "--strip-suffix",
        metavar="SUFFIX",
        help="remove SUFFIX from folder names to make labels (e.g. _face)",
    )


def params(parser, example: str) -> None:
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help=f"a pipeline parameter, e.g. {example} (VALUE is a Python literal, "
        "else a string); repeat for several",
    )


def weights(parser, default: str, what: str) -> None:
    parser.add_argument(
        "--weights",
        type=weights_value,
        default=default,
        metavar="WEIGHTS",
        help=f"{what}: 'fer2013' (the face encoder shipped with skemotion, "
        "48x48 crops), 'imagenet' (the post's choice, downloaded once), 'none' "
        f"(random, seeded by --random-state) or a weights file (default: {default})",
    )


def size(parser, default: int | None, what: str) -> None:
    parser.add_argument("--size", type=positive_int, default=default, help=what)


def precision(parser) -> None:
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="what the network computes in (default: auto, bfloat16 where the "
        "hardware runs it natively)",
    )


def top_k(parser, what: str = "emotions listed per face") -> None:
    parser.add_argument(
        "-k",
        "--top-k",
        type=positive_int,
        default=2,
        metavar="K",
        help=f"{what} (default: 2)",
    )


def random_state(parser) -> None:
    parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed of random weights, training and folds (default: 0)",
    )


def output_format(parser, choices: tuple[str, ...], what: str) -> None:
    parser.add_argument("--format", choices=choices, default="text", help=what)


def model(parser) -> None:
    parser.add_argument(
        "--model",
        metavar="FILE",
        help="load your own model: a .tflite file from 'skemotion export' "
        "(loading it runs no code from it) or a joblib file from 'skemotion "
        "train' (loading it runs code stored in it: only files you trust); "
        f"{READY}",
    )


def engine(parser) -> None:
    """``--engine``: what runs the ready model."""
    from ..pretrained import ENGINES

    parser.add_argument(
        "--engine",
        choices=ENGINES,
        help="what runs the ready model: litert, its compiled int8 network, "
        "without TensorFlow (the default where ai-edge-litert is installed), or "
        "tensorflow, its Keras network (exact, slower to start); a --model file "
        "runs on its own engine",
    )


def detector(parser, what: str, **kwargs) -> None:
    """``--detector``, one of DETECTORS; ``kwargs`` (default, action...) as
    for ``add_argument``."""
    parser.add_argument("--detector", choices=DETECTORS, help=what, **kwargs)


def model_detector(parser) -> None:
    """``--detector`` replacing the face detector of the model used."""
    detector(parser, "use this face detector instead of the model's own")
