"""An image with each face's box and its top-k labels drawn on it."""

from __future__ import annotations

from ._topk import format_topk

__all__ = ["annotate_image"]


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
