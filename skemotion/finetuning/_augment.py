"""Face augmentation: random crops, flips, shifts, rotations, zooms, brightness
and erasing of single images; mixup and CutMix of batches; the crops that
predictions see."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "Augmentation",
    "augment_faces",
    "crop_side",
    "mix_batch",
    "predict_views",
]

#: Aspect ratios (height / width) of an erased rectangle, lowest and highest
#: (Zhong et al. 2020, torchvision's defaults).
_ERASING_RATIO = (0.3, 1 / 0.3)
#: Tries to place an erased rectangle inside the image before giving up.
_ERASING_TRIES = 10


def crop_side(crop: int, shape) -> tuple[int, int]:
    """Height and width of a crop window: ``crop`` on the shorter side, the
    image's aspect kept (``crop x crop`` on square images)."""
    h, w = int(shape[0]), int(shape[1])
    scale = crop / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _window_matrix(top: float, left: float, window, shape) -> np.ndarray:
    """The 3x3 affine map taking the window at (top, left) onto the whole
    image (pixel centres to pixel centres, as ``cv2.resize`` maps them)."""
    h, w = shape
    sy, sx = h / window[0], w / window[1]
    return np.array(
        [[sx, 0.0, (0.5 - left) * sx - 0.5],
         [0.0, sy, (0.5 - top) * sy - 0.5],
         [0.0, 0.0, 1.0]]
    )  # fmt: skip


def augment_faces(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    flip: bool = True,
    shift: float = 0.1,
    rotation: float = 10.0,
    zoom: float = 0.1,
    brightness: float = 0.2,
    crop: int | None = None,
    erasing: float = 0.0,
    erasing_area: tuple[float, float] = (0.02, 0.33),
) -> np.ndarray:
    """Randomly crop, flip, shift, rotate, zoom, brighten and erase face crops.

    The crop and the geometric changes are one affine warp per image (borders
    reflected), so faces stay upright and whole; every draw comes from
    ``rng``, so a seeded generator gives the same batch every time.

    Parameters
    ----------
    images : ndarray of shape (n, height, width, channels)
        Pixel values 0-255 (any numeric dtype).
    rng : numpy.random.Generator
        Source of every random draw.
    flip : bool, default=True
        Mirror half of the images left-right.
    shift : float, default=0.1
        Largest shift, as a fraction of the side, in each direction.
    rotation : float, default=10.0
        Largest rotation in degrees, either way.
    zoom : float, default=0.1
        Largest zoom in or out, as a fraction (0.1: scale 0.9 to 1.1).
    brightness : float, default=0.2
        Largest brightness change, as a fraction of the pixel values.
    crop : int or None, default=None
        Side of a window at a random place (``crop x crop`` pixels on square
        images; on others ``crop`` is the shorter side), resized back to the
        image's size before the other changes. None: the whole image.
    erasing : float, default=0.0
        Probability that an image gets one rectangle of gray noise (uniform
        0-255) in place of its pixels, after every other change (random
        erasing, Zhong et al. 2020).
    erasing_area : (float, float), default=(0.02, 0.33)
        Smallest and largest area of the erased rectangle, as fractions of
        the image; its aspect ratio is drawn from 0.3 to 3.3.

    Returns
    -------
    augmented : ndarray of shape (n, height, width, channels), dtype float32
    """
    import cv2

    x = np.asarray(images, dtype=np.float32)
    n, h, w = x.shape[:3]
    out = np.empty_like(x)
    center = (w / 2.0, h / 2.0)
    window = crop_side(crop, (h, w)) if crop is not None else None
    for i in range(n):
        warp = np.eye(3)
        if window is not None:
            top = rng.integers(0, h - window[0] + 1)
            left = rng.integers(0, w - window[1] + 1)
            warp = _window_matrix(top, left, window, (h, w))
        angle = rng.uniform(-rotation, rotation) if rotation else 0.0
        scale = 1.0 + (rng.uniform(-zoom, zoom) if zoom else 0.0)
        matrix = cv2.getRotationMatrix2D(center, angle, scale)
        if shift:
            matrix[0, 2] += rng.uniform(-shift, shift) * w
            matrix[1, 2] += rng.uniform(-shift, shift) * h
        if flip and rng.random() < 0.5:
            # mirror after the warp: x' = w - 1 - x
            matrix[0] = -matrix[0]
            matrix[0, 2] += w - 1
        matrix = (np.vstack([matrix, [0.0, 0.0, 1.0]]) @ warp)[:2]
        warped = cv2.warpAffine(
            x[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
        if warped.ndim == 2:
            warped = warped[..., np.newaxis]
        if brightness:
            warped = warped * (1.0 + rng.uniform(-brightness, brightness))
        out[i] = np.clip(warped, 0.0, 255.0)
        if erasing and rng.random() < erasing:
            _erase(out[i], rng, erasing_area)
    return out


def _erase(image: np.ndarray, rng: np.random.Generator, area) -> None:
    """Put gray noise in one random rectangle of ``image`` (in place)."""
    h, w = image.shape[:2]
    log_ratio = np.log(_ERASING_RATIO)
    for _ in range(_ERASING_TRIES):
        target = rng.uniform(area[0], area[1]) * h * w
        ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        eh, ew = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < eh <= h and 0 < ew <= w:
            top, left = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
            noise = rng.uniform(0.0, 255.0, size=(eh, ew, 1))
            image[top : top + eh, left : left + ew] = noise
            return


def mix_batch(
    x: np.ndarray,
    targets: np.ndarray,
    sample_weight: np.ndarray,
    rng: np.random.Generator,
    *,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
):
    """Mix a batch with a shuffled copy of itself: mixup or CutMix.

    One mixing weight ``lam ~ Beta(alpha, alpha)`` per batch. Mixup (Zhang et
    al. 2018) blends each input with its partner's, ``lam * x + (1 - lam) *
    x_partner``; CutMix (Yun et al. 2019) pastes a rectangle of the partner,
    of area ``1 - lam`` of the height and width (axes 1 and 2), and ``lam``
    becomes the share left uncovered. Targets and sample weights are blended
    with the same ``lam``. With both alphas above 0 each batch uses one of
    them, chosen with equal odds.

    Parameters
    ----------
    x : ndarray of shape (n, height, width, ...)
        Network inputs (images, or the frozen blocks' activations).
    targets : ndarray of shape (n, n_classes)
    sample_weight : ndarray of shape (n,)
    rng : numpy.random.Generator
    mixup_alpha, cutmix_alpha : float, default=0.0
        Beta distribution parameter of each kind (0: not used).

    Returns
    -------
    x, targets, sample_weight : ndarray
        New arrays, float32 (the batch as it is when both alphas are 0).
    """
    kinds = [k for k, a in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if a]
    if not kinds or len(x) < 2:
        return x, targets, sample_weight
    kind = kinds[0] if len(kinds) == 1 else kinds[int(rng.random() < 0.5)]
    alpha = mixup_alpha if kind == "mixup" else cutmix_alpha
    lam = float(rng.beta(alpha, alpha))
    partner = rng.permutation(len(x))
    x = np.asarray(x, dtype=np.float32)
    if kind == "mixup":
        mixed = lam * x + (1.0 - lam) * x[partner]
    else:
        h, w = x.shape[1:3]
        cut = math.sqrt(1.0 - lam)
        ch, cw = round(h * cut), round(w * cut)
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        top, bottom = max(cy - ch // 2, 0), min(cy - ch // 2 + ch, h)
        left, right = max(cx - cw // 2, 0), min(cx - cw // 2 + cw, w)
        mixed = x.copy()
        mixed[:, top:bottom, left:right] = x[partner, top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / (h * w)
    blend = lam * targets + (1.0 - lam) * targets[partner]
    weight = lam * sample_weight + (1.0 - lam) * sample_weight[partner]
    return mixed, blend.astype(np.float32), weight.astype(np.float32)


def predict_views(images: np.ndarray, crop: int | None, *, crops: bool) -> list:
    """The views of face crops a network trained on ``crop`` windows sees.

    Without ``crop``: the images. With it: the centre window, or with
    ``crops`` the centre and the four corner windows, each resized back to
    the image's size as training resized its random windows.

    Returns
    -------
    views : list of ndarray of shape images.shape, float32
    """
    if crop is None:
        return [images]
    import cv2

    h, w = images.shape[1:3]
    wh, ww = crop_side(crop, (h, w))
    places = [((h - wh) / 2, (w - ww) / 2)]
    if crops:
        places += [(0, 0), (0, w - ww), (h - wh, 0), (h - wh, w - ww)]
    views = []
    for top, left in places:
        matrix = _window_matrix(top, left, (wh, ww), (h, w))[:2]
        view = np.empty(images.shape, np.float32)
        for i, image in enumerate(np.asarray(images, np.float32)):
            warped = cv2.warpAffine(
                image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT_101,
            )  # fmt: skip
            view[i] = warped.reshape(view.shape[1:])
        views.append(view)
    return views


class Augmentation(NamedTuple):
    """The ranges of :func:`augment_faces`; calling it augments a batch."""

    flip: bool
    shift: float
    rotation: float
    zoom: float
    brightness: float
    crop: int | None = None
    erasing: float = 0.0
    erasing_area: tuple[float, float] = (0.02, 0.33)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment_faces(images, rng, **self._asdict())
