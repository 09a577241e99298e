"""Pipeline stage 3: face crops to feature vectors with VGG16, and adapting VGG16.

:class:`VGG16Encoder` (``gray -> features``) with its on-disk
:class:`FeatureCache`; :class:`VGG16FineTuner`, which trains VGG16 on faces
and exports the adapted weights (with their :class:`WeightsInfo` record) for
the encoder.
"""

from ..caching import FeatureCache
from ._encoder import VGG16Encoder, preprocess_images
from ._finetuner import VGG16FineTuner, augment_faces
from ._weights_file import WeightsInfo, read_weights_info

__all__ = [
    "FeatureCache",
    "VGG16Encoder",
    "VGG16FineTuner",
    "WeightsInfo",
    "augment_faces",
    "preprocess_images",
    "read_weights_info",
]
