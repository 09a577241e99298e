"""Pipeline stages 1 and 2: find and crop faces, make them gray.

``path -> image -> crop`` (:class:`FaceCropper`, with :func:`detect_faces`
and the registry of face detectors, :data:`DETECTORS`; :func:`iter_crop_chunks`
takes files through it chunk by chunk under the one bad-file rule, each file
a :class:`CropResult`) and ``crop -> gray`` (:class:`GrayscaleConverter`).
Neither imports TensorFlow, so the cropper's worker processes stay light.

The public names are imported on first use (PEP 562): listing
:data:`DETECTORS` (the command line's ``--help``) loads no image library.
"""

from __future__ import annotations

import importlib

#: Private module of every public name.
_PUBLIC = {
    "._chunks": ("iter_crop_chunks",),
    "._detectors": ("DETECTORS", "Detector", "detect_faces"),
    "._face_cropping": ("FaceCropper",),
    "._grayscale": ("GrayscaleConverter",),
    "._results": ("CropResult",),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = [
    "DETECTORS",
    "CropResult",
    "Detector",
    "FaceCropper",
    "GrayscaleConverter",
    "detect_faces",
    "iter_crop_chunks",
]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
