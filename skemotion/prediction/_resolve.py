"""The one model resolver of every front end: no model means the ready one, a
path means a file (joblib or ``.tflite``), a pipeline is taken as it is."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from ..exceptions import ModelFileError
from ..preprocessing import pipeline_cropper
from ._engine import check_model

__all__ = ["READY_MODEL_NAME", "ResolvedModel", "check_engine_choice", "resolve_model"]

#: How messages and ``/v1/model`` name the model used when none is given.
READY_MODEL_NAME = "the ready model (FER2013's 7 classes)"


class ResolvedModel(NamedTuple):
    """A model to predict with, and where it came from (:func:`resolve_model`).

    Attributes
    ----------
    model : EmotionPipeline
        Fitted; its first step is a :class:`~skemotion.FaceCropper`.
    path : str or None
        The file it was loaded from; None for the ready model or a pipeline.
    name : str
        How messages name it: :data:`READY_MODEL_NAME`, the file's name, or
        ``"a fitted pipeline"``.
    source : str
        ``"ready"``, ``"file"`` or ``"pipeline"``.
    """

    model: Any
    path: str | None
    name: str
    source: str

    def digest(self) -> str:
        """The model's identity, for resuming work with the same model (a
        video's table, a cluster's workers): the ready model's records'
        digest and the engine that runs it (the two engines' probabilities
        differ a little), the file's sha256, or a hash of the pipeline's
        pickle.

        Returns
        -------
        digest : str
            ``"ready-...-litert"`` (or ``-tensorflow``), the file's sha256 in
            hex, or ``"pickle:..."``.
        """
        if self.source == "ready":
            from ..pretrained import pretrained_digest

            return pretrained_digest(self.model.engine)
        if self.source == "file":
            from .._io import file_sha256

            return file_sha256(self.path)
        import joblib

        return "pickle:" + joblib.hash(self.model)


def check_engine_choice(model, engine: str | None) -> None:
    """Refuse an engine given with a model: it chooses what runs the ready
    model (``model=None``); a file or a pipeline runs on its own.

    Raises
    ------
    ValueError
        If both are given.
    """
    if engine is not None and model is not None:
        raise ValueError(
            f"engine={engine!r} chooses what runs the ready model; a model file "
            "or a pipeline runs on its own engine (a .tflite file on LiteRT, a "
            "joblib file on TensorFlow)"
        )


def resolve_model(model=None, *, engine: str | None = None) -> ResolvedModel:
    """The model a front end predicts with.

    Parameters
    ----------
    model : None, str, os.PathLike or Pipeline, default=None
        None: the ready model (:func:`~skemotion.load_pretrained`, on its
        default engine); a path: a file of :func:`~skemotion.save_model` or
        :func:`~skemotion.export_litert`, read by
        :func:`~skemotion.load_model`; a fitted pipeline: itself.
    engine : {"litert", "tensorflow"} or None, default=None
        For the ready model: the engine that runs it (see
        :func:`~skemotion.load_pretrained`); None: its default. A file or
        a pipeline runs on its own: giving one an engine is an error.

    Returns
    -------
    resolved : ResolvedModel

    Raises
    ------
    ModelFileError
        If the file is missing or damaged, or holds something that is not a
        skemotion emotion pipeline (no :class:`~skemotion.FaceCropper` first).
    ValueError
        If a pipeline given does not start with a FaceCropper, or an engine
        is given with a model.
    """
    check_engine_choice(model, engine)
    if model is None:
        from ..pretrained import load_pretrained

        ready = load_pretrained(engine=engine)
        return ResolvedModel(ready, None, READY_MODEL_NAME, "ready")
    if isinstance(model, (str, os.PathLike)):
        from ..persistence import load_model

        path = os.fspath(model)
        loaded = load_model(path)
        if pipeline_cropper(loaded) is None:
            raise ModelFileError(
                path,
                f"holds a {type(loaded).__name__} that does not start with a "
                "FaceCropper, not a skemotion emotion pipeline",
            )
        return ResolvedModel(loaded, path, os.path.basename(path), "file")
    check_model(model)
    return ResolvedModel(model, None, "a fitted pipeline", "pipeline")
