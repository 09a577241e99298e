"""Public names, read from the modules that define them, without importing them.

A name is public where a module's ``__all__`` lists it; a package's public
names are its ``__init__``'s ``__all__``, or, for a package that imports its
names on first use, its modules' (listed in its ``_MODULES``). The package's
top level and its lazy sub-packages build their ``name -> module`` tables from
these lists, so every public name is written down once, beside its code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

__all__ = ["exported_names", "lazy_attributes"]

_ALL = re.compile(r"^__all__\s*=\s*(\[[^\]]*\]|\([^)]*\))", re.MULTILINE)
_MODULES = re.compile(r"^_MODULES\s*=\s*(\([^)]*\))", re.MULTILINE)


def exported_names(folder: str | Path, modules) -> dict[str, str]:
    """``{name: module}`` for each name the ``modules`` export.

    Parameters
    ----------
    folder : str or Path
        The package's folder (its ``__init__``'s ``__file__``'s parent).
    modules : iterable of str
        Relative module names (``".datasets"``, ``"._detectors"``); where two
        list the same name, the first wins.
    """
    where: dict[str, str] = {}
    for module in modules:
        for name in _names(Path(folder), module):
            where.setdefault(name, module)
    return where


def _names(folder: Path, module: str) -> list[str]:
    relative = module.lstrip(".").replace(".", "/")
    path = folder / f"{relative}.py"
    if not path.is_file():
        path = folder / relative / "__init__.py"
    text = path.read_text(encoding="utf-8")
    found = _ALL.search(text)
    if found:
        return list(ast.literal_eval(found.group(1)))
    lazy = _MODULES.search(text)
    if lazy:
        return list(exported_names(path.parent, ast.literal_eval(lazy.group(1))))
    raise ImportError(f"{path}: no literal __all__ (nor _MODULES) to read")


def lazy_attributes(package: str, where: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for a package whose public names are
    imported on first use (PEP 562), from the table of :func:`exported_names`.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : dict
        ``{name: relative module}``.
    """
    import importlib
    import sys

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        vars(sys.modules[package])[name] = value  # later look-ups skip this
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
