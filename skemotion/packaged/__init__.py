"""Models shipped inside the package: their files, records and integrity.

The lowest floor beside :mod:`skemotion.datasets`: it reads the packaged
arrays (``.npz``, never a pickle) and their JSON records, checks every file's
sha256 against its record before use, and expands compact storage (per-channel
int8 or float16) back to float32. The encoder (:class:`VGG16Encoder`
``weights="fer2013"``) and the ready classifier (:func:`skemotion.load_pretrained`)
are built from them by the floors above.
"""

# For building and listing the packaged files (tools/build_pretrained.py, the
# ready model): importable from here, not part of skemotion's public API.
from ._store import PackagedFile as PackagedFile
from ._store import PackagedModel, load_packaged
from ._store import dequantize_per_channel as dequantize_per_channel
from ._store import load_packaged_file as load_packaged_file
from ._store import packaged_folder as packaged_folder
from ._store import packaged_names as packaged_names
from ._store import packaged_state as packaged_state
from ._store import quantize_per_channel as quantize_per_channel
from ._store import write_packaged as write_packaged
from ._store import write_packaged_file as write_packaged_file

__all__ = ["PackagedModel", "load_packaged"]
