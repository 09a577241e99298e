"""The documentation covers the public API, in numpydoc's form."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest
from numpydoc.validate import Validator, validate

# not imported from conftest: tests/serve has a conftest.py too
REPO_ROOT = Path(__file__).resolve().parents[1]

#: numpydoc checks every public name and method must pass: a docstring, every
#: parameter documented (and none that does not exist), each with a
#: description, and a Returns (or Yields) section when something is returned.
REQUIRED = {
    "GL08": "no docstring",
    "PR01": "parameters not documented",
    "PR02": "unknown parameters documented",
    "PR07": "a parameter without a description",
    "RT01": "no Returns section",
    "YD01": "no Yields section",
}


#: The modules whose public names docs/api.rst lists, each under its own
#: ``.. currentmodule::``: the package, and the server's front end.
MODULES = ("skemotion", "skemotion.serve")


def _public(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__) - {"__version__"}


def test_every_public_name_has_an_api_page():
    api = (REPO_ROOT / "docs" / "api.rst").read_text()
    parts = re.split(r"^\.\. currentmodule:: ([\w.]+)$", api, flags=re.MULTILINE)
    listed: dict[str, set] = {}
    for module, text in zip(parts[1::2], parts[2::2], strict=True):
        names = re.findall(r"^   (\w+)$", text, flags=re.MULTILINE)
        listed.setdefault(module, set()).update(names)
    assert set(listed) == set(MODULES)
    for module in MODULES:
        public = _public(module)
        assert public - listed[module] == set(), f"add these to docs/api.rst ({module})"
        assert listed[module] - public == set(), f"not exported by {module}"


def _documented() -> list[str]:
    """Import paths of every public name and of its classes' public methods."""
    names = []
    for module, name in sorted((m, n) for m in MODULES for n in _public(m)):
        obj = getattr(importlib.import_module(module), name)
        names.append(f"{obj.__module__}.{obj.__qualname__}")
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, value in vars(obj).items():
                public = not attr.startswith("_")
                if public and (callable(value) or isinstance(value, property)):
                    names.append(f"{obj.__module__}.{obj.__qualname__}.{attr}")
    return names


@pytest.mark.parametrize("import_path", _documented())
def test_numpydoc_sections(import_path):
    result = validate(import_path)
    required = dict(REQUIRED)
    obj = Validator._load_obj(import_path)
    named_tuple = isinstance(obj, type) and issubclass(obj, tuple) and (
        hasattr(obj, "_fields"))  # fmt: skip
    if dataclasses.is_dataclass(obj) or named_tuple:
        # result records (EvaluationResult, WeightsInfo, ImagePrediction...)
        # are made by the library: their fields are documented as Attributes,
        # not Parameters
        required.pop("PR01")
    errors = [
        f"{code} ({required[code]}): {message}"
        for code, message in result["errors"]
        if code in required
    ]
    assert errors == []
