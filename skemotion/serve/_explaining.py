"""``/v1/predict?explain=1``: each face's saliency map, added to its answer."""

from __future__ import annotations

import base64
import io

import numpy as np

from ..prediction import explain_crops, saliency_image
from ..preprocessing import CropResult, pipeline_cropper

__all__ = ["MAX_SALIENCY_SIDE", "add_saliency"]

#: The values sent are at most this many on a side (block means beyond).
MAX_SALIENCY_SIDE = 48


def _downsampled(values: np.ndarray, side: int = MAX_SALIENCY_SIDE) -> np.ndarray:
    """Block means, so that no side is over ``side`` values."""
    factor = int(np.ceil(max(values.shape) / side))
    if factor <= 1:
        return values
    h, w = (values.shape[0] // factor) * factor, (values.shape[1] // factor) * factor
    blocks = values[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3))


def _png_url(saliency: np.ndarray) -> str:
    buffer = io.BytesIO()
    saliency_image(saliency).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _crop_box(box, margin: float, width: int, height: int) -> list[int]:
    """The part of the image a face's crop covers: its box widened by the
    cropper's margin (as the cropper does), clipped to the image."""
    left, top, right, bottom = (int(v) for v in box)
    dx, dy = round((right - left) * margin), round((bottom - top) * margin)
    return [max(0, left - dx), max(0, top - dy), min(width, right + dx),
            min(height, bottom + dy)]  # fmt: skip


def add_saliency(model, images: list, answers: list, method: str = "auto") -> None:
    """Add ``"saliency"`` to every face of the answers, in place.

    The faces are cropped again from their boxes (the detector does not run
    twice: :meth:`FaceCropper.crop_boxes`) and explained in one call
    (:func:`~skemotion.prediction.explain_crops`). Answers that are errors,
    or have no face, are left as they are.

    Each face gets ``{"method", "target", "size": [rows, columns],
    "values": rows of values in [0, 1], "crop_box": [left, top, right,
    bottom] (the part of the image the map covers), "png": a data: URL of
    the map as a see-through PNG}``.
    """
    crop = pipeline_cropper(model)
    results, slots = [], []
    for i, (image, answer) in enumerate(zip(images, answers, strict=True)):
        if not isinstance(answer, dict) or not answer.get("faces"):
            continue
        boxes = np.array([face["box"] for face in answer["faces"]], dtype=np.int64)
        results.append(CropResult(
            name=f"<upload {i}>", boxes=boxes, crops=crop.crop_boxes(image, boxes),
            error=None, face_found=True, faces_found=len(boxes),
        ))  # fmt: skip
        slots.append((image, answer))
    if not results:
        return
    records = iter(explain_crops(model, results, method=method))
    for image, answer in slots:
        height, width = image.shape[:2]
        for face in answer["faces"]:
            record = next(records)
            values = _downsampled(record.saliency)
            face["saliency"] = {
                "method": record.method,
                "target": record.target,
                "size": [int(values.shape[0]), int(values.shape[1])],
                "values": np.round(values, 3).tolist(),
                "crop_box": _crop_box(face["box"], crop.margin, width, height),
                "png": _png_url(record.saliency),
            }
