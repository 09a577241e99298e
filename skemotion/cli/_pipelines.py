"""A command's pipeline set up from its options: built with the --param
values (``parse_params``, ``build_pipeline``), --quiet applied (``set_progress``)."""

from __future__ import annotations

import ast

from ._output import UsageError

__all__ = ["build_pipeline", "parse_params", "set_progress"]


def parse_params(items: list[str] | None) -> dict:
    """Turn ``NAME=VALUE`` strings into a dict (VALUE: a Python literal or a str)."""
    params = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a bare word or a path: keep it as a string
        params[name.strip()] = value
    return params


def build_pipeline(params: dict, factory):
    """``factory()`` with ``params`` set; unknown names are a usage error listing
    the valid ones."""
    pipeline = factory()
    valid = pipeline.get_params()
    unknown = [name for name in params if name not in valid]
    if unknown:
        names = ", ".join(
            sorted(k for k in valid if "__" in k and not k.startswith("steps"))
        )
        raise UsageError(
            f"unknown pipeline parameter(s) {', '.join(unknown)}; valid names: {names}"
        )
    return pipeline.set_params(**params)


def set_progress(pipeline, progress: bool | None) -> None:
    """Apply --quiet to every step that draws progress bars."""
    if progress is None or not hasattr(pipeline, "steps"):
        return
    for _, step in pipeline.steps:
        if "progress" in step.get_params():
            step.set_params(progress=progress)
