"""Pipeline stage 3: face crops to feature vectors with VGG16.

:class:`VGG16Encoder` (``gray -> features``) with its on-disk
:class:`FeatureCache`, and the adapted weights files it loads (with their
:class:`WeightsInfo` record), which :class:`~skemotion.VGG16FineTuner`
(:mod:`skemotion.finetuning`, the floor above) writes.

Names imported ``as`` themselves below are for the fine-tuner
(``from ..feature_extraction import load_vgg16``), not part of skemotion's
public API: they are not in ``__all__``. :func:`load_vgg16` builds VGG16 and
puts the start weights in (:class:`LoadedVGG16` says which);
``PREPROCESSING`` names the input preprocessings; :func:`write_weights_file`
writes an adapted weights file with its record.
"""

from ..caching import FeatureCache
from ._encoder import VGG16Encoder
from ._preprocess import graph_preprocessing as graph_preprocessing
from ._preprocess import preprocess_images
from ._weights import LoadedVGG16 as LoadedVGG16
from ._weights import load_vgg16 as load_vgg16
from ._weights_file import PREPROCESSING as PREPROCESSING
from ._weights_file import WeightsInfo, read_weights_info
from ._weights_file import write_weights_file as write_weights_file

__all__ = [
    "FeatureCache",
    "VGG16Encoder",
    "WeightsInfo",
    "preprocess_images",
    "read_weights_info",
]
