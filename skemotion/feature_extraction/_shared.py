"""Encoders' networks built once per process and shared by the encoders
that would build the same one."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ._weights import LoadedVGG16, load_vgg16, weights_identity

__all__ = ["shared_vgg16"]

#: Encoders' networks built in this process, by what decides their weights
#: and shape: refitting (a grid search's candidates, cross-validation's folds)
#: reuses the network instead of building VGG16 again (about 0.4 s a fit at
#: 64x64, measured). The two most recent are kept; an encoder never trains
#: its network, so they can share it.
_BUILT: OrderedDict[tuple, LoadedVGG16] = OrderedDict()
_BUILT_LOCK = threading.Lock()
_BUILT_MAX = 2


def shared_vgg16(
    weights, input_shape, *, pooling: str, precision: str, random_state=None
) -> LoadedVGG16:
    """:func:`load_vgg16` for an encoder: the network built for the same
    weights, shape, pooling and precision before, if it is still kept."""
    identity = weights_identity(weights, random_state)
    if identity is None:
        return load_vgg16(weights, input_shape, pooling=pooling,
                          precision=precision, random_state=random_state)  # fmt: skip
    key = (identity, tuple(input_shape), pooling, precision)
    with _BUILT_LOCK:
        if key in _BUILT:
            _BUILT.move_to_end(key)
            return _BUILT[key]
        loaded = load_vgg16(weights, input_shape, pooling=pooling,
                            precision=precision, random_state=random_state)  # fmt: skip
        _BUILT[key] = loaded
        while len(_BUILT) > _BUILT_MAX:
            _BUILT.popitem(last=False)
        return loaded
