"""The model a server serves: loaded once, described, and its batch work."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._version import __version__
from ..datasets import InMemoryImage
from ..exceptions import NoFaceError
from ..prediction import READY_MODEL_NAME, check_model, classify_crops, resolve_model
from ..prediction import top_k as most_probable

__all__ = ["READY_NAME", "Predictor", "describe_model", "load_served", "with_detector"]

#: What ``/v1/model`` calls the model served without a model file.
READY_NAME = READY_MODEL_NAME


def load_served(model, engine: str | None = None):
    """The model to serve (None: the ready one, on ``engine``), its file (None
    for a pipeline), and its name (:func:`~skemotion.prediction.resolve_model`)."""
    resolved = resolve_model(model, engine=engine)
    return resolved.model, resolved.path, resolved.name


def with_detector(model, detector: str):
    """``model`` with a cropper that finds faces with ``detector``: a shallow
    copy whose other steps are the model's own, so a pipeline handed to the
    server is left as it was."""
    import copy

    from sklearn.base import clone

    crop = check_model(model)
    served = copy.copy(model)
    served.steps = [
        (name, clone(step).set_params(detector=detector) if step is crop else step)
        for name, step in model.steps
    ]
    return served


def describe_model(model, path: str | None, name: str | None = None) -> dict:
    """What ``/v1/model`` says of the model (limits and auth aside)."""
    from ..persistence import dependency_versions

    steps = dict(getattr(model, "steps", []))
    crop = check_model(model)
    encoder = next((s for s in steps.values() if hasattr(s, "weights_used_")), None)
    params = {
        k: _json_value(v)
        for k, v in model.get_params().items()
        if "__" in k and not k.endswith(("__memory", "__progress"))
    }
    return {
        "classes": [str(c) for c in model.classes_],
        "engine": getattr(model, "engine", None),
        "weights": getattr(encoder, "weights_used_", None),
        "precision": getattr(encoder, "precision_", None),
        "crop_size": list(crop.size)
        if isinstance(crop.size, (tuple, list))
        else [crop.size] * 2,
        "file": os.path.basename(path) if path else None,
        "name": name,
        "ready": name == READY_NAME,
        "parameters": params,
        "versions": dependency_versions(),
        "skemotion": __version__,
    }


def _json_value(value):
    """A parameter's value as JSON has it: numbers, strings, booleans, null,
    lists and objects as they are (a tuple as a list, NumPy's scalars as
    numbers); anything else (a callback, a path object) as its ``repr``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()  # a NumPy scalar
    return repr(value)


class Predictor:
    """Every face of each image, classified in one batch, in two stages
    (:attr:`stages`: :meth:`find`, then :meth:`classify`); the faces are
    found by ``threads`` threads, each given a share of the batch's images.

    Each image's result is ``{"face_found": ..., "faces": [...]}`` (False
    and none when it has no face: the whole image is never classified; each
    face numbered from 1, the largest first), or the error of an image the
    cropper could not use. YuNet's native code
    lets go of the GIL, so threads find faces side by side (dlib's HOG holds
    it for most of its work); the network then classifies all the crops
    together.
    """

    def __init__(self, model, top_k: int, threads: int = 1) -> None:
        if top_k < 1:  # refused at start-up, not request by request
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        from sklearn.base import clone

        self.model, self.top_k = model, top_k
        # every face of an upload, and no face is an answer (no whole-image crop)
        self.crop = clone(check_model(model)).set_params(
            no_face="raise", progress=False
        )
        self.classes = [str(c) for c in model.classes_]
        self.threads = threads
        self.pool = (
            ThreadPoolExecutor(threads, thread_name_prefix="skemotion-faces")
            if threads > 1
            else None
        )

    def _faces(self, sources: list) -> list:
        return list(self.crop.crop_each(sources, all_faces=True))

    @property
    def stages(self) -> tuple:
        """The two stages a :class:`~._batcher.Batcher` overlaps."""
        return (self.find, self.classify)

    def find(self, images: list[np.ndarray]) -> list:
        """Each image's faces, found and cropped (``CropResult`` each)."""
        sources = [InMemoryImage(f"<upload {i}>", img) for i, img in enumerate(images)]
        if self.pool is None or len(sources) < 2:
            found = self._faces(sources)
        else:  # a share of the images for each thread, in order
            shares = np.array_split(np.arange(len(sources)), self.threads)
            parts = self.pool.map(
                self._faces,
                [[sources[i] for i in share] for share in shares if len(share)],
            )
            found = [result for part in parts for result in part]
        return found

    def classify(self, found: list) -> list:
        """Each image's answer, its crops classified in one batch."""
        # the model's steps after its cropper classify the clone's crops; a
        # failure of the network fails the batch, as any other server error
        predictions = classify_crops(self.model, found, skip_bad=False)
        return [
            _answer(result, prediction, self.classes, self.top_k)
            for result, prediction in zip(found, predictions, strict=True)
        ]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _answer(result, prediction, classes: list[str], top_k: int):
    """One image's faces (none for ``NoFaceError``), or its cropper's error."""
    error = result.error
    if error is not None and not isinstance(error, NoFaceError):
        return error
    if prediction.proba is None:
        return {"face_found": False, "faces": []}
    return {
        "face_found": bool(prediction.face_found),
        "faces": [
            _face(number, box, p, classes, top_k)
            for number, (box, p) in enumerate(
                zip(prediction.boxes, prediction.proba, strict=True), start=1
            )
        ],
    }


def _face(number: int, box, proba: np.ndarray, classes: list[str], top_k: int) -> dict:
    best = most_probable(proba, classes, top_k)[0]
    return {
        "face": number,
        "box": [int(v) for v in box],
        "label": best[0][0],
        "top_k": [{"label": label, "probability": round(v, 6)} for label, v in best],
        "probabilities": {
            c: round(float(v), 6) for c, v in zip(classes, proba, strict=True)
        },
    }
