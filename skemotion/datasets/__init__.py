"""Data: image files, labelled image folders and the original post's data set.

The first step of every front end: reading an image file safely
(:func:`read_image`, :func:`probe_image`, :func:`check_image_file`), listing
the images of a ``<label>/<image>`` folder tree (:func:`load_image_folder`)
and fetching the seed data set (:func:`fetch_seed_faces`).
"""

from ._folders import UnreadableImagesWarning, load_image_folder
from ._image_io import check_image_file, probe_image, read_image
from ._seed_faces import fetch_seed_faces

__all__ = [
    "UnreadableImagesWarning",
    "check_image_file",
    "fetch_seed_faces",
    "load_image_folder",
    "probe_image",
    "read_image",
]
