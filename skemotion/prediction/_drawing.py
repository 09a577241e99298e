"""Drawing: an image with each face's box and its top-k labels, and a face
crop with its saliency map over it."""

from __future__ import annotations

import numpy as np

from ._topk import format_topk

__all__ = ["annotate_image", "overlay_saliency", "saliency_image"]


def annotate_image(path, records: list[dict], out_path) -> None:
    """Write a copy of an image with each face box and its top-k labels drawn.

    Parameters
    ----------
    path : str or os.PathLike
        The image (read upright, as the model saw it).
    records : list of dict
        Its records from :func:`predict_topk` (error-free). When no face was
        found (``face_found`` False) the whole image's box is drawn, its
        label starting "no face found:".
    out_path : str or os.PathLike
        Where to write the annotated image (format from the suffix).
    """
    from PIL import Image, ImageDraw, ImageFont

    from ..datasets import read_image

    image = Image.fromarray(read_image(path))
    draw = ImageDraw.Draw(image)
    scale = max(image.size) / 640
    width = max(2, round(3 * scale))
    font = ImageFont.load_default(size=max(12, round(18 * scale)))
    faces: dict[int, list[dict]] = {}
    for record in records:
        faces.setdefault(record["face"], []).append(record)
    for face_records in faces.values():
        left, top, right, bottom = face_records[0]["box"]
        draw.rectangle((left, top, right, bottom), outline=(255, 215, 0), width=width)
        text = format_topk(
            [
                (r["label"], r["probability"])
                for r in sorted(face_records, key=lambda r: r["rank"])
            ]
        )
        if face_records[0].get("face_found") is False:
            text = f"no face found: {text}"
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        tw, th = x1 - x0, y1 - y0
        label_h = th + 2 * width  # the label sits just above the box, else below
        ty = top - width - label_h if top - width - label_h >= 0 else bottom + width
        tx = min(max(0, left), max(0, image.width - tw - 2 * width))
        draw.rectangle(
            (tx, ty, tx + tw + 2 * width, ty + th + 2 * width), fill=(0, 0, 0)
        )
        draw.text(
            (tx + width - x0, ty + width - y0), text, fill=(255, 255, 255), font=font
        )
    image.save(out_path)


#: The map's colours, from 0 to 1 (dark blue, blue, cyan, yellow, red): a
#: small colormap of our own, so that drawing needs no matplotlib.
_COLOURS = np.array(
    [[0, 0, 96], [0, 64, 255], [0, 224, 224], [255, 230, 0], [230, 0, 0]],
    dtype=np.float32,
)


def saliency_colours(saliency) -> np.ndarray:
    """A map's values (0-1) as RGB colours (uint8, one more axis of 3)."""
    values = np.clip(np.asarray(saliency, dtype=np.float32), 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(_COLOURS))
    rgb = [np.interp(values, stops, _COLOURS[:, c]) for c in range(3)]
    return np.rint(np.stack(rgb, axis=-1)).astype(np.uint8)


def saliency_image(saliency, *, size=None, alpha: float = 0.5):
    """A map as a see-through RGBA picture, to lay over its face.

    The colour says how much (blue little, red most), the opacity grows
    with the value (``alpha`` times its square root): where the map is 0 the
    face shows as it is. :func:`overlay_saliency` lays it over the crop, the
    server sends it for the page to lay over the photo.

    Parameters
    ----------
    saliency : ndarray of shape (height, width)
        Values in [0, 1].
    size : (width, height) or None, default=None
        Upsampled smoothly (bicubic) to this size; None: the map's own.
    alpha : float, default=0.5
        The opacity where the map is 1.

    Returns
    -------
    image : PIL.Image.Image
        RGBA.
    """
    from PIL import Image

    values = np.asarray(saliency, dtype=np.float32)
    if size is not None and tuple(size) != values.shape[::-1]:
        values = np.asarray(
            Image.fromarray(values, mode="F").resize(
                tuple(size), Image.Resampling.BICUBIC
            )
        )
    values = np.clip(values, 0.0, 1.0)
    opacity = np.rint(255 * alpha * np.sqrt(values)).astype(np.uint8)
    rgba = np.concatenate([saliency_colours(values), opacity[..., None]], axis=-1)
    return Image.fromarray(rgba, mode="RGBA")


def overlay_saliency(crop, saliency, *, label: str | None = None, scale: int = 4,
                     alpha: float = 0.5):  # fmt: skip
    """A face crop with its saliency map laid over it (and its label).

    The one drawing of a map over a face (:func:`saliency_image` over the
    crop): ``skemotion predict --explain``, the evaluation report and the
    server's page all show it so.

    Parameters
    ----------
    crop : ndarray of shape (height, width, 3) or (height, width)
        The face crop (uint8), as the model saw it
        (:attr:`FaceSaliency.crop`).
    saliency : ndarray of shape (height, width)
        Its map, values in [0, 1] (:attr:`FaceSaliency.saliency`).
    label : str or None, default=None
        Written in a band under the face.
    scale : int, default=4
        Each crop pixel drawn as ``scale`` x ``scale`` pixels (a 48x48 crop
        makes a 192x192 picture); the map is upsampled smoothly.
    alpha : float, default=0.5
        The map's opacity where it is 1 (see :func:`saliency_image`).

    Returns
    -------
    image : PIL.Image.Image
        RGB, ``scale`` times the crop's size (and the label's band).
    """
    from PIL import Image, ImageDraw, ImageFont

    face = np.asarray(crop)
    if face.ndim == 2:
        face = np.repeat(face[..., np.newaxis], 3, axis=-1)
    height, width = face.shape[:2]
    size = (width * scale, height * scale)
    base = Image.fromarray(face.astype(np.uint8)).convert("RGBA")
    base = base.resize(size, Image.Resampling.BICUBIC)
    layer = saliency_image(saliency, size=size, alpha=alpha)
    image = Image.alpha_composite(base, layer).convert("RGB")
    if label is None:
        return image
    font = ImageFont.load_default(size=max(10, 4 * scale))
    band = max(14, 5 * scale)
    framed = Image.new("RGB", (size[0], size[1] + band), (0, 0, 0))
    framed.paste(image, (0, 0))
    draw = ImageDraw.Draw(framed)
    draw.text((3, size[1] + 1), label, fill=(255, 255, 255), font=font)
    return framed
