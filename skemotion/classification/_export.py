"""A fitted :class:`EmotionClassifier` as plain arrays and JSON, and back.

For models shipped or shared without a pickle: the network's weights as named
float32 arrays and a JSON-ready record (the parameters that shape the network,
the classes, the temperature). Rebuilding runs no code from a file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..networks import resolve_precision
from ._classifier import EmotionClassifier

__all__ = ["classifier_from_arrays", "classifier_to_arrays"]

#: The parameters that shape the network (the rest only shape training).
_SHAPE_PARAMS = ("hidden_layer_sizes", "activation", "dropout")


def classifier_to_arrays(
    classifier: EmotionClassifier,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A fitted classifier's record and weights.

    Parameters
    ----------
    classifier : EmotionClassifier
        Fitted.

    Returns
    -------
    record : dict
        ``params`` (its parameters, JSON-ready), ``classes``,
        ``n_features_in``, ``temperature``.
    arrays : dict of str to ndarray
        ``weight_0``, ``weight_1``, ... in the network's order (float32).
    """
    check_is_fitted(classifier)
    params = {k: classifier.get_params()[k] for k in _SHAPE_PARAMS}
    params["hidden_layer_sizes"] = [int(n) for n in params["hidden_layer_sizes"]]
    record = {
        "params": params,
        "classes": [str(c) for c in classifier.classes_],
        "n_features_in": int(classifier.n_features_in_),
        "temperature": float(getattr(classifier, "temperature_", 1.0)),
    }
    weights = classifier.model_.get_weights()
    arrays = {f"weight_{i}": np.asarray(w, np.float32) for i, w in enumerate(weights)}
    return record, arrays


def classifier_from_arrays(
    record: dict[str, Any], arrays: dict[str, np.ndarray], *, precision: str = "auto"
) -> EmotionClassifier:
    """A fitted :class:`EmotionClassifier` rebuilt from :func:`classifier_to_arrays`.

    Parameters
    ----------
    record : dict
        As returned by :func:`classifier_to_arrays` (read back from JSON).
    arrays : dict of str to ndarray
        The weights, ``weight_0``, ``weight_1``, ...
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the rebuilt network computes in.

    Returns
    -------
    classifier : EmotionClassifier
        Fitted: predicts without training, ``temperature_`` from the record.

    Raises
    ------
    ValueError
        If the weights do not fit the network the record describes.
    """
    params = dict(record["params"])
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    classifier = EmotionClassifier(**params, precision=precision)
    classes = np.asarray(record["classes"])
    # scikeras' initialize builds the network and the label encoders, no training
    X = np.zeros((len(classes), int(record["n_features_in"])), dtype=np.float32)
    classifier._check_params()
    classifier.precision_ = resolve_precision(precision)
    classifier.initialize(X, classes)
    weights = [arrays[f"weight_{i}"] for i in range(len(arrays))]
    try:
        classifier.model_.set_weights(weights)
    except ValueError as exc:
        raise ValueError(
            f"the weights do not fit the record's network ({exc})"
        ) from None
    # the optimizer's state, as a fit would have built it: Keras saves it with
    # the network when the classifier is pickled, and warns on loading a file
    # whose optimizer was never built ("Skipping variable loading for optimizer")
    classifier.model_.optimizer.build(classifier.model_.trainable_variables)
    classifier.temperature_ = float(record.get("temperature", 1.0))
    return classifier
