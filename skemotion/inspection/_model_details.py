"""What an evaluation says about the model, and its steps' progress switches.

:func:`model_details` gathers, in one :class:`ModelDetails`, the facts of the
step that ran the network (``weights_used_``, ``precision_``), the pipeline
steps' parameters and the versions of the stack (from
:func:`skemotion.persistence.dependency_versions`, the one place they are
read). :func:`steps_progress` sets the steps' ``progress`` parameters for a
while and puts them back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from ..persistence import dependency_versions

__all__ = [
    "REPORTED_VERSIONS",
    "STEP_PREFIXES",
    "ModelDetails",
    "model_details",
    "steps_progress",
]

logger = logging.getLogger(__name__)

#: Pipeline parameters shown in the report: those of the four steps.
STEP_PREFIXES = ("crop__", "gray__", "encode__", "classify__")

#: The versions a report shows, in this order (those installed).
REPORTED_VERSIONS = (
    "python",
    "skemotion",
    "scikit-learn",
    "numpy",
    "keras",
    "tensorflow",
)


class ModelDetails(NamedTuple):
    """The model's description in an :class:`EvaluationResult`.

    Attributes
    ----------
    weights_used : str or None
        The network's ``weights_used_``; None when the model does not say.
    precision : str or None
        The network's ``precision_``; None when the model does not say.
    model_params : dict
        ``{name: repr(value)}`` of the steps' parameters, in pipeline order.
    versions : dict
        ``{package: version}`` of :data:`REPORTED_VERSIONS` that are installed.
    """

    weights_used: str | None
    precision: str | None
    model_params: dict[str, str]
    versions: dict[str, str]


def model_details(model) -> ModelDetails:
    """What the report says about ``model`` and the stack it runs on."""
    return ModelDetails(
        weights_used=_network_fact(model, "weights_used_"),
        precision=_network_fact(model, "precision_"),
        model_params=_model_params(model),
        versions=_versions(),
    )


def step_prefixes(model) -> tuple[str, ...]:
    """``<step>__`` of each step of a pipeline, in pipeline order."""
    steps = getattr(model, "steps", None) or []
    return tuple(f"{name}__" for name, _ in steps) or STEP_PREFIXES


@contextmanager
def steps_progress(model, progress: bool | None) -> Iterator[None]:
    """Set the model's ``<step>__progress`` parameters for a while.

    None leaves them alone; a bool sets them all, and they are put back
    afterwards.
    """
    old: dict[str, Any] = {}
    if progress is not None and hasattr(model, "set_params"):
        try:
            params = model.get_params(deep=True)
        except Exception:  # a model that cannot tell is left alone
            params = {}
        old = {
            k: v
            for k, v in params.items()
            if k.startswith(step_prefixes(model))
            and k.endswith("__progress")
            and k.count("__") == 1
        }
        if old:
            model.set_params(**dict.fromkeys(old, bool(progress)))
    try:
        yield
    finally:
        if old:
            model.set_params(**old)


def _network_fact(model, attribute: str) -> str | None:
    """A fitted attribute (``weights_used_``, ``precision_``) of the step that
    runs the network: the encoder, or a fine-tuner that replaces it."""
    for _, step in getattr(model, "steps", None) or []:
        value = getattr(step, attribute, None)
        if value is not None:
            return str(value)
    value = getattr(model, attribute, None)
    return None if value is None else str(value)


def _model_params(model) -> dict[str, str]:
    try:
        params = model.get_params(deep=True)
    except Exception:  # the report is still useful without them
        logger.warning("Could not read the model's parameters", exc_info=True)
        return {}
    prefixes = step_prefixes(model)
    steps = [
        (prefixes.index(name.split("__")[0] + "__"), name)
        for name in params
        if name.startswith(prefixes)
    ]
    return {name: repr(params[name]) for _, name in sorted(steps)}  # pipeline order


def _versions() -> dict[str, str]:
    """:data:`REPORTED_VERSIONS` as saved models record them, the missing
    ones (keras, tensorflow without the network) left out."""
    installed = dependency_versions()
    return {
        name: installed[name]
        for name in REPORTED_VERSIONS
        if installed.get(name) is not None
    }
