"""Saliency maps: what in each face made the model say what it said.

:func:`explain` takes images through the one crop-and-classify path
(:func:`~skemotion.preprocessing.iter_crop_chunks`, then
:func:`classify_crops`) and gives each face a map of its crop, the pixels that
most support the class explained; :func:`explain_crops` does the same for a
cropper's results in hand (the server's, the report's).

Three methods, each checked to mean something (``benchmarks/saliency.py``:
graying the most salient pixels lowers the class's probability more than
graying random ones, and the map of a network with random weights looks
nothing like it):

- ``"gradient"``: the gradient of the class's log-probability times the
  difference between the face and a gray image, smoothed: what graying each
  pixel would change, to first order. The gradient is averaged over 4 copies
  of the face with a random 15% of their pixels grayed (seeded), the regime
  in which pixels are deleted: 4 forward and backward passes a face, in one
  batch.
- ``"gradcam"``: Grad-CAM on a convolution layer of the encoder, upsampled.
- ``"occlusion"``: how much the class's log-probability drops when a part
  of the face is grayed: 40 copies of the face with 15% of its 3x3-pixel
  cells grayed (at 48x48), each cell in exactly 3 of the first 20 (which 3
  drawn at random, seeded) and the other 20 their mirror images; for each
  pixel the mean drop over the copies that gray it less that over the
  copies that keep it, smoothed. With flip averaging (the ready model's
  ``tta="flip"``) each copy is seen in one of the two views (the copies of
  the mirror images mirrored): one forward pass a copy. Forward passes only
  (``model[1:].predict_proba``), so it runs on any engine, a compiled one
  included.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ..preprocessing import CropResult
from ._engine import check_model, classify_crops
from ._gradients import gradient_maps, keras_parts

__all__ = ["EXPLAIN_METHODS", "FaceSaliency", "explain", "explain_crops"]

logger = logging.getLogger(__name__)

#: What :func:`explain` can draw, besides ``"auto"`` (the first the model's
#: engine can do: ``"gradient"`` through Keras networks, else ``"occlusion"``).
EXPLAIN_METHODS = ("gradient", "gradcam", "occlusion")
#: Methods that need the Keras networks (gradients through TensorFlow).
_NEEDS_GRADIENTS = ("gradient", "gradcam")
#: The gray the deletion check and the gradient's baseline use (0-255).
GRAY = 128.0
#: Grad-CAM's default layer (12x12 at 48x48: see benchmarks/README.md).
GRADCAM_LAYER = "block3_conv3"
#: The gradient's grayed copies of each face, and the share of pixels grayed
#: in each (the deletion check's 15%: see benchmarks/README.md).
GRADIENT_COPIES, GRAYED_SHARE = 4, 0.15
#: Occlusion's masks: cells of this fraction of the crop's side (3 pixels at
#: 48x48), each grayed in this many of the drawn masks, in this many masks (half
#: drawn, half their mirror images; see benchmarks/README.md).
OCCLUSION_CELL, OCCLUSION_TIMES, OCCLUSION_MASKS = 1 / 16, 3, 40
#: Added to probabilities before their logarithm (a class at 0 stays finite).
_LOG_FLOOR = 1e-6


class FaceSaliency(NamedTuple):
    """One face's saliency map (:func:`explain`).

    Attributes
    ----------
    path : str
        The image, as given (a name such as ``"<array #0>"`` for one in memory).
    face : int
        The face's number in its image, from 1, the largest first (as in
        :func:`predict_topk`).
    box : tuple of int
        ``(left, top, right, bottom)`` in the upright image (the whole image
        when no face was found).
    label : str
        The class the model predicts for the face.
    proba : ndarray of shape (n_classes,)
        Its class probabilities, in ``model.classes_`` order.
    face_found : bool
        False when no face was found and the whole image was explained.
    saliency : ndarray of shape (height, width), float32
        The crop's map (``crop__size``), 0 (no support for the class) to 1
        (the most).
    target : str
        The class explained: ``label``, or the ``target`` asked for.
    method : str
        The method that drew the map (``"auto"`` resolved).
    crop : ndarray of shape (height, width, 3), uint8
        The cropper's crop of the face (RGB, before the model's gray step),
        for drawing the map over it (:func:`overlay_saliency`).
    """

    path: str
    face: int
    box: tuple
    label: str
    proba: np.ndarray
    face_found: bool
    saliency: np.ndarray
    target: str
    method: str
    crop: np.ndarray


def resolve_method(model, method: str) -> str:
    """The method to use (``"auto"`` resolved), or a clear error.

    Parameters
    ----------
    model : Pipeline
        A fitted skemotion pipeline.
    method : {"auto", "gradient", "gradcam", "occlusion"}

    Returns
    -------
    method : str
        One of :data:`EXPLAIN_METHODS`.

    Raises
    ------
    ValueError
        For an unknown method, or one that needs gradients on a model whose
        engine has no Keras networks (a compiled one).
    """
    if method != "auto" and method not in EXPLAIN_METHODS:
        raise ValueError(
            f"method must be 'auto' or one of {list(EXPLAIN_METHODS)}, got {method!r}"
        )
    parts = keras_parts(model)
    if method == "auto":
        return "occlusion" if isinstance(parts, str) else "gradient"
    if method in _NEEDS_GRADIENTS and isinstance(parts, str):
        raise ValueError(
            f"method={method!r} takes gradients through TensorFlow, but {parts}; "
            "use method='occlusion' (forward passes only) or 'auto'"
        )
    return method


def _check_random_state(random_state) -> int:
    """``random_state`` as the seed of the maps' draws, or a clear error."""
    if (
        isinstance(random_state, bool)
        or not isinstance(random_state, numbers.Integral)
        or random_state < 0
    ):
        raise ValueError(
            f"random_state must be a whole number from 0; got {random_state!r}"
        )
    return int(random_state)


def _target_indices(model, proba: np.ndarray, target) -> np.ndarray:
    if target is None:
        return proba.argmax(axis=1)
    classes = [str(c) for c in model.classes_]
    if str(target) not in classes:
        raise ValueError(
            f"target {target!r} is not one of the model's classes {classes}"
        )
    return np.full(len(proba), classes.index(str(target)), dtype=np.int64)


def _normalise(maps: np.ndarray, quantile: float = 1.0) -> np.ndarray:
    """The positive part of each map, divided by its ``quantile`` (the
    maximum by default) and clipped to 1; an all-zero map stays 0."""
    maps = np.maximum(np.asarray(maps, dtype=np.float32), 0.0)
    flat = maps.reshape(len(maps), -1)
    top = np.quantile(flat, quantile, axis=1) if quantile < 1 else flat.max(axis=1)
    top = np.where(top > 0, top, flat.max(axis=1)).reshape(-1, 1, 1)
    out = np.divide(maps, top, out=np.zeros_like(maps), where=top > 0)
    return np.minimum(out, 1.0).astype(np.float32)


def _smooth(maps: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return np.stack([gaussian_filter(m, sigma) for m in maps]) if sigma else maps


def _upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Each coarse map to ``size`` (height, width), bicubic (smooth)."""
    from PIL import Image

    height, width = size
    out = [
        np.asarray(
            Image.fromarray(m.astype(np.float32), mode="F").resize(
                (width, height), Image.Resampling.BICUBIC
            )
        )
        for m in maps
    ]
    return np.stack(out)


def _occlusion_masks(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Occlusion's masks, one 0/1 array each (1 where grayed): square cells of
    :data:`OCCLUSION_CELL` of the crop's side. Half of the masks are drawn:
    each cell grayed in exactly :data:`OCCLUSION_TIMES` of them, which ones
    drawn at random (seeded, the same for every face); every cell is then
    seen grayed as often, and the maps are less noisy than with cells grayed
    independently (measured in benchmarks/README.md). The other half are
    their mirror images."""
    cell = max(1, round(min(height, width) * OCCLUSION_CELL))
    rows, cols = -(-height // cell), -(-width // cell)
    drawn = OCCLUSION_MASKS // 2
    rng = np.random.default_rng(seed)
    chosen = rng.random((rows * cols, drawn)).argsort(axis=1)[:, :OCCLUSION_TIMES]
    grayed = np.zeros((rows * cols, drawn), dtype=bool)
    np.put_along_axis(grayed, chosen, True, axis=1)
    grayed = grayed.T.reshape(drawn, rows, cols)
    cells = np.kron(grayed, np.ones((cell, cell), dtype=bool))[:, :height, :width]
    return np.concatenate([cells, cells[:, :, ::-1]]).astype(np.float32)


def _occlusion(
    model, crops: np.ndarray, targets: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Each pixel's mean drop of the target's log-probability over the masks
    that gray it, less its mean drop over the masks that keep it; several
    faces' masked copies in one ``predict_proba`` call.

    A model that averages a face and its mirror image (``tta="flip"``) sees
    each masked copy once, in one of the two views: the drawn masks on the
    face, their mirror images mirrored (the mirror view of that copy), each
    drop measured from the target's log-probability of the same view. Every
    cell's drops then come from both views, at one forward pass a mask
    instead of two, and the map of a mirrored face is the mirrored map.
    """
    rest = model[1:]
    n, height, width = crops.shape[:3]
    masks = _occlusion_masks(height, width, seed)
    covered = masks.sum(axis=0)  # the masks that gray each pixel
    grayed, kept = np.maximum(covered, 1.0), np.maximum(len(masks) - covered, 1.0)
    m = masks[..., np.newaxis]
    group = max(1, 2_000_000 // (len(masks) * height * width))
    one_view = getattr(rest, "tta", None) == "flip"
    if one_view:  # the slice is this call's own: the model keeps its tta
        rest.set_params(tta=None)
    # the target's log-probability of each face in each view a copy is seen
    # in, repeated for the masks of that view (the drawn half, then the mirror
    # images' half)
    views = [crops, crops[:, :, ::-1]] if one_view else [crops]
    proba = rest.predict_proba(np.concatenate(views)).reshape(len(views), n, -1)
    base = np.log(proba[:, np.arange(n), targets].T + _LOG_FLOOR)
    base = np.repeat(base, len(masks) // len(views), axis=1)  # (faces, masks)
    half = len(masks) // 2
    out = np.empty((n, height, width), dtype=np.float32)
    for start in range(0, n, group):
        faces = crops[start : start + group].astype(np.float32)
        copies = faces[:, np.newaxis] * (1 - m) + GRAY * m
        if one_view:
            copies[:, half:] = copies[:, half:, :, ::-1]
        shape = (-1, *crops.shape[1:])
        proba = rest.predict_proba(np.rint(copies).astype(crops.dtype).reshape(shape))
        proba = proba.reshape(len(faces), len(masks), -1)
        here = slice(start, start + len(faces))
        target = np.take_along_axis(proba, targets[here, None, None], axis=2)[..., 0]
        drop = base[here] - np.log(target + _LOG_FLOOR)  # (faces, masks)
        where_grayed = np.tensordot(drop, masks, axes=1)  # summed per pixel
        where_kept = drop.sum(axis=1)[:, None, None] - where_grayed
        out[here] = where_grayed / grayed - where_kept / kept
    return out


def saliency_maps(
    model, crops, targets, method: str, random_state: int = 0
) -> np.ndarray:
    """Maps of crops the model's cropper made, for given class indices.

    Parameters
    ----------
    model : Pipeline
        The fitted pipeline the crops are for.
    crops : ndarray of shape (n, height, width, 3)
        The cropper's crops (uint8 RGB).
    targets : array-like of int
        Each crop's class to explain, an index into ``model.classes_``.
    method : str
        Resolved (see :func:`resolve_method`).
    random_state : int, default=0
        The draw of the gradient's grayed copies or occlusion's masks.

    Returns
    -------
    maps : ndarray of shape (n, height, width), float32 in [0, 1]
    """
    crops = np.asarray(crops)
    targets = np.asarray(targets, dtype=np.int64)
    if len(crops) == 0:
        return np.zeros((0, *crops.shape[1:3]), dtype=np.float32)
    size = crops.shape[1:3]
    if method == "occlusion":  # smoothed as the gradient: one pixel at 48x48
        occluded = _occlusion(model, crops, targets, random_state)
        return _normalise(_smooth(occluded, min(size) / 48))
    parts = keras_parts(model)
    if method == "gradcam":
        coarse = gradient_maps(parts, crops, targets, layer=GRADCAM_LAYER)
        return _normalise(_upsample(np.maximum(coarse, 0), size))
    raw = gradient_maps(
        parts, crops, targets, layer=None, baseline=GRAY, copies=GRADIENT_COPIES,
        share=GRAYED_SHARE, seed=random_state,
    )  # fmt: skip
    # a few pixels stand out: scaled by the 99th percentile, so that the
    # rest of the map shows when drawn (the order of the pixels is kept)
    return _normalise(_smooth(raw, sigma=min(size) / 48), quantile=0.99)


def explain_crops(
    model, results, *, method: str = "auto", target=None, random_state: int = 0
) -> list[FaceSaliency]:
    """Saliency maps of the faces a cropper found (its results in hand).

    :func:`explain` on :class:`~skemotion.preprocessing.CropResult` items, as
    :func:`classify_crops` takes them (the server's, a report's); items with
    an error or no crop give no record.

    Parameters
    ----------
    model : Pipeline
        A fitted skemotion pipeline.
    results : sequence of CropResult
        One per image.
    method, target, random_state
        As for :func:`explain`.

    Returns
    -------
    maps : list of FaceSaliency
        One per face, image by image, faces numbered from 1.
    """
    check_model(model)
    method = resolve_method(model, method)
    random_state = _check_random_state(random_state)
    results = [r if isinstance(r, CropResult) else CropResult(*r) for r in results]
    predictions = classify_crops(model, results, skip_bad=False)
    done = [
        (r, p) for r, p in zip(results, predictions, strict=True) if p.error is None
    ]
    if not done:
        return []
    crops = np.concatenate([r.crops for r, _ in done])
    proba = np.concatenate([p.proba for _, p in done])
    targets = _target_indices(model, proba, target)
    maps = saliency_maps(model, crops, targets, method, random_state)
    classes = [str(c) for c in model.classes_]
    out, row = [], 0
    for _, prediction in done:
        for face, box in enumerate(prediction.boxes, start=1):
            out.append(FaceSaliency(
                path=prediction.path, face=face, box=tuple(int(v) for v in box),
                label=classes[int(proba[row].argmax())], proba=proba[row],
                face_found=bool(prediction.face_found), saliency=maps[row],
                target=classes[int(targets[row])], method=method, crop=crops[row],
            ))  # fmt: skip
            row += 1
    return out


def iter_explain(
    model, X, *, method="auto", target=None, all_faces=False, chunk_size=64,
    random_state=0,
) -> Iterator[list[FaceSaliency]]:  # fmt: skip
    """:func:`explain`, chunk by chunk of images (each chunk's records)."""
    from ..datasets import as_sources
    from ..preprocessing import iter_crop_chunks

    crop = check_model(model)
    method = resolve_method(model, method)
    random_state = _check_random_state(random_state)
    if target is not None:
        _target_indices(model, np.zeros((0, len(model.classes_))), target)
    chunks = iter_crop_chunks(
        crop, as_sources(X), chunk_size=chunk_size, strict=True,
        all_faces=all_faces, progress=crop.progress,
    )  # fmt: skip
    for chunk in chunks:
        records = explain_crops(
            model, chunk, method=method, target=target, random_state=random_state
        )
        logger.debug("explained %d faces (%s)", len(records), method)
        yield records


def explain(
    model, X, method: str = "auto", target=None, *, all_faces: bool = False,
    chunk_size: int = 64, random_state: int = 0,
) -> list[FaceSaliency]:  # fmt: skip
    """A saliency map for each face: what made the model say what it said.

    Images go through the model's cropper and classifier as for
    :func:`predict_topk` (the same faces, boxes and probabilities); each
    face's map covers its crop, as the model saw it.

    Parameters
    ----------
    model : Pipeline
        A fitted skemotion pipeline (:func:`~skemotion.load_pretrained`, or
        one of your own).
    X : array-like of str or os.PathLike, or images in memory
        Image files, arrays, PIL images or encoded bytes (as for
        :meth:`FaceCropper.crop_each`).
    method : {"auto", "gradient", "gradcam", "occlusion"}, default="auto"
        ``"gradient"``: gradient of the class's log-probability times (face
        - gray), smoothed (what graying each pixel would change, to first
        order), the gradient averaged over 4 copies of the face with a random
        15% of their pixels grayed; ``"gradcam"``: Grad-CAM on
        ``block3_conv3``, upsampled;
        ``"occlusion"``: the drop of the class's log-probability when
        15% of the face's cells are grayed, per pixel, over 40 such copies
        (forward passes only, so any engine can run it).
        ``"auto"``: ``"gradient"`` where the model's encoder and classifier
        are Keras networks, else ``"occlusion"`` (a compiled engine).
    target : str or None, default=None
        The class to explain for every face ("why not neutral?"); None: each
        face's predicted class.
    all_faces : bool, default=False
        Every face found in an image, not only the one the cropper's
        ``multiple_faces`` policy picks.
    chunk_size : int, default=64
        Images cropped and explained together.
    random_state : int, default=0
        The draw of the gradient's grayed copies and of occlusion's masks:
        the same number gives the same maps. Maps drawn with two numbers
        show how much of a map is the draw rather than the face (Grad-CAM
        draws nothing); ``benchmarks/saliency.py`` measures it per method.

    Returns
    -------
    maps : list of FaceSaliency
        One per face, image by image in input order, faces numbered from 1.

    Raises
    ------
    ValueError
        For an unknown method, a target not in ``model.classes_``, a
        gradient method on a model without Keras networks, or a
        ``random_state`` that is not a whole number from 0.
    BadImagesError
        When some files cannot be used (every one listed, before any work).

    Examples
    --------
    >>> from skemotion import explain, load_pretrained
    >>> model = load_pretrained()  # doctest: +SKIP
    >>> [m] = explain(model, ["face.jpg"])  # doctest: +SKIP
    >>> m.label, m.saliency.shape  # doctest: +SKIP
    ('happy', (48, 48))
    """
    chunks = iter_explain(
        model, X, method=method, target=target, all_faces=all_faces,
        chunk_size=chunk_size, random_state=random_state,
    )  # fmt: skip
    return [record for records in chunks for record in records]
