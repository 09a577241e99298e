"""Pipeline stages 1 and 2: find and crop faces, make them gray.

``path -> image -> crop`` (:class:`FaceCropper`, with :func:`detect_faces`)
and ``crop -> gray`` (:class:`GrayscaleConverter`). Neither imports
TensorFlow, so the cropper's worker processes stay light.
"""

from ._face_cropping import FaceCropper, detect_faces
from ._grayscale import GrayscaleConverter

__all__ = ["FaceCropper", "GrayscaleConverter", "detect_faces"]
