"""What commands read: data folders and model files (a given one or the ready
one); their problems become usage errors."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..prediction import READY_MODEL_NAME
from ._output import UsageError, emit

__all__ = [
    "READY_NAME",
    "chosen_model",
    "data_layout",
    "load_model_file",
    "load_split",
    "model_name",
    "old_spelling",
]

logger = logging.getLogger(__name__)

#: What the command line calls the model used without --model.
READY_NAME = READY_MODEL_NAME


def data_layout(data_dir: str):
    """DATA_DIR's layout; a missing folder is a one-line usage error, found
    before TensorFlow is imported."""
    from ..datasets import folder_layout

    try:
        return folder_layout(data_dir)
    except NotADirectoryError as exc:
        raise UsageError(str(exc)) from None


def load_split(root: Path, strip_suffix: str | None):
    """The image paths and labels of ``root``, a folder of labelled images; a
    folder without images is a usage error."""
    from ..datasets import load_image_folder
    from ..exceptions import SkemotionError

    try:
        return load_image_folder(root, strip_suffix=strip_suffix)
    except SkemotionError:
        raise
    except (OSError, ValueError) as exc:  # no images, not a folder...
        raise UsageError(str(exc)) from None


def check_engine(args) -> None:
    """``--engine`` chooses what runs the ready model: with ``--model FILE``
    it is a usage error (:func:`~skemotion.prediction.check_engine_choice`)."""
    from ..prediction import check_engine_choice

    try:
        check_engine_choice(args.model, args.engine)
    except ValueError as exc:
        raise UsageError(f"--engine with --model {args.model}: {exc}") from None


def load_model_file(path: str, *, option: str = ""):
    """Load a model file; its problems are usage errors (exit status 2).

    ``option`` (``"--model"``) names the option the path came with.
    """
    from ..exceptions import ModelFileError
    from ..prediction import resolve_model

    try:
        return resolve_model(path).model
    except ModelFileError as exc:
        if not option:
            raise UsageError(str(exc)) from None
        raise UsageError(
            f"{option} {exc} (without {option}, the ready model is used)"
        ) from None


def chosen_model(path: str | None, *, engine: str | None = None):
    """``--model FILE`` loaded, or the ready model without it (on ``engine``,
    else its default)."""
    if path is None:
        return _ready_model(engine)
    model = load_model_file(path, option="--model")
    logger.info("using the model file %s", path)
    return model


def _ready_model(engine: str | None = None):
    """The ready model, packaged with skemotion (no file, no download)."""
    from ..prediction import resolve_model

    model = resolve_model(None, engine=engine).model
    logger.info("using %s (engine: %s)", READY_NAME, model.engine)
    return model


def model_name(path: str | None) -> str:
    """How messages name the model of ``--model path``."""
    return READY_NAME if path is None else str(path)


def old_spelling(args, model: str) -> None:
    """Take ``model``, a positional before --model existed, as the model file."""
    emit(
        f"skemotion {args.command}: note: {model} is read as the model file; "
        f"the new spelling is --model {model}",
        sys.stderr,
    )
    args.model = model
