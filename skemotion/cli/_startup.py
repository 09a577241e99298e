"""The program's start: two modules scikit-learn imports, loaded on first use.

scikit-learn imports ``scipy.stats`` and, where it is installed, ``pandas``
whatever part of it is used (``sklearn/utils/fixes.py``), modules that
predicting never uses: with them loaded on first use, a new ``skemotion
predict`` process answered for one photo with the ready model in 0.94-1.13 s
instead of 1.71-2.12 s (benchmarks/README.md, "Cold start of the program").
In the ``skemotion`` program's own process (:func:`defer_unused_imports`,
called by :func:`skemotion.cli.main` when it runs as the program), importing
either gives a module whose code runs when an attribute of it is first looked
up: a command that uses them (``evaluate``'s metrics, the cluster's tables)
loads them then, the others never do.

This is :class:`importlib.util.LazyLoader`'s idea, with a lock: Python 3.11's
LazyLoader can hand a second thread a half-loaded module when two threads
touch it first at once (fixed in 3.12), and the server and the video run
threads. A library user's process is never changed: only the program's.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import types

__all__ = ["DEFERRED", "defer_unused_imports", "is_deferred"]

#: The modules loaded on first use in the program's process.
DEFERRED = frozenset({"scipy.stats", "pandas"})
#: Held while a deferred module's code runs (re-entrant: its own imports
#: look up its attributes).
_LOADING = threading.RLock()
#: Where a deferred module keeps the loader that runs its code.
_REAL_LOADER = "__skemotion_deferred_loader__"


class _DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first attribute looked up runs
    it, in one thread; the others wait for the whole module."""

    def __getattribute__(self, name):
        namespace = object.__getattribute__(self, "__dict__")
        with _LOADING:
            loader = namespace.pop(_REAL_LOADER, None)
            if loader is not None:  # the first look-up; later ones find it gone
                try:
                    namespace["__loader__"] = loader
                    namespace["__spec__"].loader = loader
                    loader.exec_module(self)
                finally:
                    object.__setattr__(self, "__class__", types.ModuleType)
        return types.ModuleType.__getattribute__(self, name)


class _DeferringLoader(importlib.abc.Loader):
    """Makes the module and leaves its code for the first look-up."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__dict__[_REAL_LOADER] = self._loader
        object.__setattr__(module, "__class__", _DeferredModule)


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds each of :data:`DEFERRED` as the other finders do, then defers it."""

    def find_spec(self, name, path=None, target=None):
        if name not in DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # a namespace package or an old-style loader: as it is
        spec.loader = _DeferringLoader(spec.loader)
        return spec


def defer_unused_imports() -> None:
    """Load :data:`DEFERRED` on first use in this process, from now on (those
    imported already stay as they are)."""
    if not any(isinstance(f, _DeferringFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeferringFinder())


def is_deferred(name: str) -> bool:
    """Whether the module ``name`` is imported and its code has not run yet."""
    return type(sys.modules.get(name)) is _DeferredModule
