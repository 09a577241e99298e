"""Keras pieces shared by skemotion's networks (internal: no public names).

One private module per job: what a network computes in (``_precision``:
float32, or bfloat16 where the hardware runs it natively), VGG16's one
builder (``_vgg16``), batch normalisation (``_batch_norm``: the fused layer,
folding, recalibration), dense heads and optimizers (``_heads``), compiled
prediction (``_predict``) and pickling estimators that hold a network
(``_pickling``). ``__all__`` is what the sub-packages above use.

Nothing here changes Keras' global state, and importing it does not import
TensorFlow: every function imports Keras when it runs. Each network is built
with a dtype policy given to its own layers, and its output is float32
whatever it computes in.
"""

from ._batch_norm import fold_batch_norm, fused_batch_norm_layer, recalibrate_batch_norm
from ._heads import OPTIMIZERS, dense_head, make_optimizer
from ._pickling import KerasNetworkMixin
from ._precision import PRECISIONS, bfloat16_support, dtype_policy, resolve_precision
from ._predict import batch_pieces, compiled_predict, predict_in_batches
from ._vgg16 import (
    MIN_INPUT_SIZE,
    VGG16_BLOCKS,
    block_of,
    build_vgg16,
    conv_layer_names,
    copy_conv_weights,
)

__all__ = [
    "MIN_INPUT_SIZE",
    "OPTIMIZERS",
    "PRECISIONS",
    "VGG16_BLOCKS",
    "KerasNetworkMixin",
    "batch_pieces",
    "bfloat16_support",
    "block_of",
    "build_vgg16",
    "compiled_predict",
    "conv_layer_names",
    "copy_conv_weights",
    "dense_head",
    "dtype_policy",
    "fold_batch_norm",
    "fused_batch_norm_layer",
    "make_optimizer",
    "predict_in_batches",
    "recalibrate_batch_norm",
    "resolve_precision",
]
