"""What runs a fitted network for prediction: the compiled LiteRT engine.

:func:`export_litert` compiles a fitted pipeline's network part (gray crops
to temperature-scaled probabilities: encoder, dense head, temperature,
softmax) into one LiteRT (``.tflite``) file, int8 (dynamic range) or float32,
with skemotion's record in the file's metadata; :class:`CompiledNetwork` runs
such a file with ``ai-edge-litert``'s interpreter. Importing this package, and
predicting with a compiled network, never imports TensorFlow: only compiling
does. TensorFlow (the pipeline's own :class:`~skemotion.VGG16Encoder` and
:class:`~skemotion.EmotionClassifier`) stays the engine for training,
fine-tuning and exact parity.

Names imported ``as`` themselves below are for the floors above and the
build tools, not part of skemotion's public API.
"""

from .._litert import litert_available
from ._compile import QUANTIZATIONS as QUANTIZATIONS
from ._compile import compile_network as compile_network
from ._compile import export_litert
from ._compile import network_record as network_record
from ._metadata import add_record as add_record
from ._metadata import read_flatbuffer as read_flatbuffer
from ._runtime import CompiledNetwork

__all__ = ["CompiledNetwork", "export_litert", "litert_available"]
