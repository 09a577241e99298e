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

from .._exports import exported_names, lazy_attributes
from ._detectors import DETECTORS as DETECTORS  # light: back ends load on use
from ._views import TTA_VIEWS as TTA_VIEWS

#: The modules holding the public names (each lists its own in ``__all__``).
_MODULES = (
    "._chunks",
    "._detectors",
    "._face_cropping",
    "._grayscale",
    "._landmarks",
    "._results",
    "._views",
)
_WHERE = exported_names(__path__[0], _MODULES)

__all__ = sorted(_WHERE, key=str.lower)

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
