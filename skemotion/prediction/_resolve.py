"""The one model resolver of every front end: no model means the ready one, a
path means a file (joblib or ``.tflite``), a pipeline is taken as it is."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from ..exceptions import ModelFileError
from ..preprocessing import pipeline_cropper
from ._engine import check_model

__all__ = ["READY_MODEL_NAME", "ResolvedModel", "resolve_model"]

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
        digest, the file's sha256, or a hash of the pipeline's pickle.

        Returns
        -------
        digest : str
            ``"ready-..."``, the file's sha256 in hex, or ``"pickle:..."``.
        """
        if self.source == "ready":
            from ..pretrained import pretrained_digest

            return pretrained_digest()
        if self.source == "file":
            from .._io import file_sha256

            return file_sha256(self.path)
        import joblib

        return "pickle:" + joblib.hash(self.model)


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
        a pipeline runs on its own.

    Returns
    -------
    resolved : ResolvedModel

    Raises
    ------
    ModelFileError
        If the file is missing or damaged, or holds something that is not a
        skemotion emotion pipeline (no :class:`~skemotion.FaceCropper` first).
    ValueError
        If a pipeline given does not start with a FaceCropper.
    """
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
