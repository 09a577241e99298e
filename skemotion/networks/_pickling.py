"""Pickling estimators that hold a Keras network (Keras networks do not pickle)."""

from __future__ import annotations

import numpy as np

__all__ = ["KerasNetworkMixin"]


class KerasNetworkMixin:
    """Pickle a fitted network (``model_``) as its weight values.

    Keras networks do not pickle; an estimator holding one in ``model_``
    pickles its weight values instead and rebuilds the network when it is
    unpickled, with :meth:`_build_network` (from its fitted attributes), so a
    reloaded estimator predicts at once, identically, without a download.
    """

    def _build_network(self):
        """The network's architecture, from the fitted attributes."""
        raise NotImplementedError

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter self
        model = state.pop("model_", None)
        if model is not None:
            state["_network_weights"] = [np.asarray(w) for w in model.get_weights()]
        return state

    def __setstate__(self, state):
        state = dict(state)
        # "_weight_values" with "model_": None: files of skemotion 0.1
        weights = state.pop("_network_weights", state.pop("_weight_values", None))
        if state.get("model_", False) is None:
            del state["model_"]
        super().__setstate__(state)
        if weights is not None:
            model = self._build_network()
            model.set_weights(weights)
            self.model_ = model
