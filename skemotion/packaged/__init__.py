"""Models shipped inside the package: their files, records and integrity.

The lowest floor beside :mod:`skemotion.datasets`: it reads the packaged
arrays (``.npz``, never a pickle) and their JSON records, checks every file's
sha256 against its record before use, and expands compact storage (per-channel
int8 or float16) back to float32. The encoder (:class:`VGG16Encoder`
``weights="fer2013"``) and the ready classifier (:func:`skemotion.load_pretrained`)
are built from them by the floors above.
"""

from ._store import (
    PackagedModel,
    dequantize_per_channel,
    load_packaged,
    packaged_folder,
    packaged_names,
    quantize_per_channel,
    write_packaged,
)

__all__ = [
    "PackagedModel",
    "dequantize_per_channel",
    "load_packaged",
    "packaged_folder",
    "packaged_names",
    "quantize_per_channel",
    "write_packaged",
]
