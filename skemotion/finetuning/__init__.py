"""Adapting the encoder: train VGG16 and a dense head on labelled faces.

:class:`VGG16FineTuner` (``crop -> gray -> finetune``) and its face
augmentation (:func:`augment_faces`). It sits on the floor above
:mod:`skemotion.feature_extraction`: it starts from the encoder's weights
(:func:`~skemotion.feature_extraction.load_vgg16`) and exports adapted ones
for :class:`~skemotion.VGG16Encoder` to load.

Its private modules: the estimator (``_finetuner``), its settings record
(``_settings``), its network (``_network``), one training run (``_fit``)
with its pieces (``_training``), the frozen-activation cache
(``_activation_cache``), checkpoints (``_checkpoints``), augmentation
(``_augment``) and its reports (``_report``).
"""

from ._augment import augment_faces
from ._finetuner import VGG16FineTuner

__all__ = ["VGG16FineTuner", "augment_faces"]
