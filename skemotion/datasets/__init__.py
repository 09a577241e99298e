"""Data: image files, labelled image folders and the original post's data set.

The first step of every front end: reading an image file safely
(:func:`read_image`, :func:`probe_image`, :func:`check_image_file`), listing
the images of a ``<label>/<image>`` folder tree (:func:`load_image_folder`),
the one definition of a data folder's train/validation/test layout
(:func:`folder_layout`)
and fetching the seed data set (:func:`fetch_seed_faces`).
"""

from ._folders import (
    FolderLayout,
    UnreadableImagesWarning,
    folder_layout,
    load_image_folder,
)
from ._image_io import (
    check_image_file,
    decode_image,
    image_from_array,
    probe_image,
    read_image,
)
from ._seed_faces import fetch_seed_faces

__all__ = [
    "FolderLayout",
    "UnreadableImagesWarning",
    "check_image_file",
    "decode_image",
    "fetch_seed_faces",
    "folder_layout",
    "image_from_array",
    "load_image_folder",
    "probe_image",
    "read_image",
]
