"""Adapted VGG16 weights files and what they carry about their training.

:meth:`VGG16FineTuner.export_weights` writes VGG16's convolutional weights in
Keras' ``.weights.h5`` format (loadable by ``keras.applications.VGG16(
include_top=False)``) and stores a :class:`WeightsInfo` record inside the same
HDF5 file, as a JSON attribute of its root group: the record cannot be
separated from the weights it describes. :class:`VGG16Encoder` reads it to
preprocess images as in training and to warn when the crop size differs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import atomic_path
from ..exceptions import WeightsError

__all__ = ["WeightsInfo", "read_weights_info"]

#: Root attribute of the HDF5 file holding the JSON record.
_ATTRIBUTE = "skemotion_weights_info"
#: Layout of the record; bumped when a field changes meaning.
_FORMAT = 1
#: Input preprocessing names: Keras' VGG16 ("caffe": BGR minus the ImageNet
#: channel means) or each image standardised to mean 0 and variance 1.
PREPROCESSING = ("caffe", "standardize")


@dataclass(frozen=True)
class WeightsInfo:
    """What an adapted weights file says about how to use it and how it was made.

    Attributes
    ----------
    input_size : tuple of (int, int)
        ``(height, width)`` of the face crops it was trained on; use the same
        ``crop__size``.
    preprocessing : {"caffe", "standardize"}
        How images become network input: ``"caffe"`` is Keras' VGG16
        preprocessing (ImageNet channel means subtracted); ``"standardize"``
        scales each image to mean 0 and variance 1 (per-image contrast
        normalisation). :class:`VGG16Encoder` applies it by itself.
    trained_blocks : int
        VGG16 blocks (from the top) that were trained; the others kept their
        start weights.
    precision : str
        The precision training computed in (``"bfloat16"`` or ``"float32"``).
    classes : list of str
        The labels the network was trained to tell apart.
    start_weights : str
        Where training started, in words ("imagenet", "random He (seed 0)").
    n_training_images : int
        Images trained on (hold-out excluded).
    training_files_sha256 : str or None
        sha256 of the sorted training file list (``label/file name`` lines),
        when training started from files.
    training_data_sha256 : str
        sha256 of the training crops and labels as the network saw them.
    epochs : int
        Epochs trained.
    best_epoch : int
        The epoch whose weights were kept.
    heldout_accuracy : float or None
        Accuracy on the held-out part of the training data (``None`` without
        one).
    heldout_images : int
        Images held out.
    batch_norm_folded : bool
        Whether batch normalisation, used in training, was folded into the
        convolutions (the file is plain VGG16 either way).
    training_seconds : float
        Wall time of the training epochs.
    params : dict
        The fine-tuner's parameters (``repr`` of each value).
    skemotion_version : str
    created : str
        When the file was written (ISO 8601, UTC).
    """

    input_size: tuple[int, int]
    preprocessing: str
    trained_blocks: int
    precision: str
    classes: list[str]
    start_weights: str
    n_training_images: int
    training_data_sha256: str
    epochs: int
    best_epoch: int
    heldout_accuracy: float | None = None
    heldout_images: int = 0
    training_files_sha256: str | None = None
    batch_norm_folded: bool = False
    training_seconds: float = 0.0
    params: dict[str, str] = field(default_factory=dict)
    skemotion_version: str = ""
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready values.

        Returns
        -------
        record : dict
            Every field, ``input_size`` as a list.
        """
        record = asdict(self)
        record["input_size"] = list(self.input_size)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> WeightsInfo:
        """The record read back; fields added by later versions are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["input_size"] = tuple(int(s) for s in values["input_size"])
        return cls(**values)


def read_weights_info(path: str | os.PathLike) -> WeightsInfo | None:
    """The :class:`WeightsInfo` stored in a weights file, or None.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.weights.h5`` file.

    Returns
    -------
    info : WeightsInfo or None
        None for a weights file without a record (ImageNet's, or written by
        Keras itself).

    Raises
    ------
    WeightsError
        If the file does not exist, or holds a record that cannot be read.
    """
    import h5py

    path = Path(os.fspath(path))
    if not path.is_file():
        raise WeightsError(f"{path}: weights file does not exist")
    try:
        with h5py.File(path, "r") as fh:
            raw = fh.attrs.get(_ATTRIBUTE)
    except OSError:
        return None  # not HDF5: whatever reads the weights reports it
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        if record.get("format") != _FORMAT:
            raise ValueError(f"record format {record.get('format')!r}")
        return WeightsInfo.from_dict(record["info"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(
            f"{path}: unreadable skemotion record in the weights file ({exc}); "
            "a newer skemotion may have written it"
        ) from None


def write_weights_file(model, path: str | os.PathLike, info: WeightsInfo) -> Path:
    """Write ``model``'s weights and ``info`` into ``path``, atomically."""
    import h5py

    path = Path(os.fspath(path))
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as fh:
            fh.attrs[_ATTRIBUTE] = json.dumps(
                {"format": _FORMAT, "info": info.to_dict()}, sort_keys=True
            )
    return path
