"""Data: image files, labelled image folders and the original post's data set.

The first step of every front end: reading an image file safely
(:func:`read_image`, :func:`probe_image`, :func:`check_image_file`), listing
the images of a ``<label>/<image>`` folder tree (:func:`load_image_folder`),
the one definition of a data folder's train/validation/test layout
(:func:`folder_layout`, :data:`SPLIT_NAMES`), the label a folder's name
stands for (:func:`folder_label`), the file names taken as images
(:data:`IMAGE_EXTENSIONS`), and fetching the seed data set
(:func:`fetch_seed_faces`).

Names imported ``as`` themselves below are for the other sub-packages
(``from ..datasets import as_sources``), not part of skemotion's public API:
they are not in ``__all__``.
"""

from ._folders import SPLIT_NAMES as SPLIT_NAMES
from ._folders import (
    FolderLayout,
    UnreadableImagesWarning,
    folder_layout,
    load_image_folder,
)
from ._folders import folder_label as folder_label
from ._image_files import DEFAULT_MAX_FILE_SIZE as DEFAULT_MAX_FILE_SIZE
from ._image_files import DEFAULT_MAX_PIXELS as DEFAULT_MAX_PIXELS
from ._image_files import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from ._image_files import check_image_file
from ._image_files import sniff_format as sniff_format
from ._image_io import (
    decode_image,
    image_from_array,
    probe_image,
    read_image,
)
from ._seed_faces import fetch_seed_faces
from ._sources import InMemoryImage as InMemoryImage
from ._sources import as_sources as as_sources
from ._sources import check_paths as check_paths
from ._sources import probe_source as probe_source
from ._sources import read_source as read_source
from ._sources import source_content as source_content
from ._sources import source_name as source_name

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
