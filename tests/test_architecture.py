"""The package's shape: layers that hold, and small rooms.

Read from the source (every ``import``, lazy ones inside functions included):

- each sub-package (or top-level module) imports only from its own floor or
  the floors below it (``LAYERS``, bottom to top), never from one above or one
  beside it; the front ends never import each other (the command line, on
  top, starts them);
- no name starting with an underscore, and no private module, is imported
  from another sub-package: what a sub-package offers the others is what its
  ``__init__`` exports;
- no function over 100 lines, no class over 450, no module over 600.

The package's own ``__init__`` (the facade that re-exports every public
name on first use) and ``__main__`` sit above everything and are not checked
for layering.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import NamedTuple

import pytest

import skemotion

PACKAGE = Path(skemotion.__file__).resolve().parent

#: Floors, bottom to top. A unit is a sub-package or a top-level module; units
#: on one floor do not import each other.
LAYERS = (
    ("_exports",),
    ("exceptions",),
    ("_version",),
    ("_io",),
    ("_logging",),
    ("_progress",),
    ("_validation",),
    ("_litert",),
    ("datasets",),
    ("packaged", "caching"),
    ("networks",),
    ("preprocessing",),
    ("feature_extraction", "classification"),
    ("engines",),  # compiled networks: above what they compile, below the pipeline
    ("finetuning",),
    ("pipeline",),
    ("pretrained", "persistence"),
    ("prediction",),
    ("inspection",),
    ("demo", "video", "serve", "distributed"),  # the front ends
    ("cli",),  # the command line, over every front end
)
FLOOR = {unit: i for i, floor in enumerate(LAYERS) for unit in floor}
#: Above every floor: the facade and ``python -m skemotion``.
TOP = {"__init__", "__main__"}

MAX_FUNCTION, MAX_CLASS, MAX_MODULE = 100, 450, 600


class Import(NamedTuple):
    module: str  # the importing module, dotted, from the package's root
    line: int
    target: str  # the imported module, dotted, from the package's root
    names: tuple[str, ...]  # ``from target import names``; empty for ``import``


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts)


def _modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts]


def _imports(source: str, module: str) -> list[Import]:
    """The skemotion imports in ``source``, the text of module ``module``."""
    package = module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("skemotion"):
                target = node.module.removeprefix("skemotion").lstrip(".")
            else:
                continue
            names = tuple(a.name for a in node.names)
            out.append(Import(module, node.lineno, target, names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skemotion."):
                    target = alias.name.removeprefix("skemotion.")
                    out.append(Import(module, node.lineno, target, ()))
    return out


def _unit(dotted: str) -> str:
    return dotted.split(".")[0] if dotted else "__init__"


def _crossing(imports):
    """Imports from one unit into another, from below the facade."""
    for imp in imports:
        here, there = _unit(imp.module), _unit(imp.target)
        if here != there and here not in TOP:
            yield imp, here, there


def against_layers(imports) -> list[str]:
    """Imports of a unit on the same floor or above (or of the facade)."""
    return [
        f"{imp.module}:{imp.line} imports {imp.target or 'skemotion'} "
        f"({there}, floor {FLOOR.get(there)}) from floor {FLOOR[here]} ({here})"
        for imp, here, there in _crossing(imports)
        if there in TOP or FLOOR[there] >= FLOOR[here]
    ]


def private_crossings(imports) -> list[str]:
    """Underscore names, or private modules, imported from another unit."""
    wrong = []
    for imp, _here, there in _crossing(imports):
        private_names = [
            n for n in imp.names if n.startswith("_") and not n.endswith("__")
        ]
        # a sub-package's private module (``datasets._sources``); a top-level
        # base module such as ``_io`` is itself the unit, so it is fine
        deep = [p for p in imp.target.split(".")[1:] if p.startswith("_")]
        if private_names or deep:
            wrong.append(
                f"{imp.module}:{imp.line} from {imp.target} import "
                f"{', '.join(imp.names)} (the {there} package's private parts)"
            )
    return wrong


ALL_IMPORTS = [
    i for path in _modules() for i in _imports(path.read_text("utf-8"), _dotted(path))
]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def _private_definitions(tree: ast.AST) -> set[str]:
    """Underscore names a module defines: functions, classes, names and
    attributes it assigns (``_x = ...``, ``self._x = ...``), import aliases."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for sub in (s for t in targets for s in ast.walk(t)):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
                elif isinstance(sub, ast.Attribute):
                    names.add(sub.attr)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
    return {n for n in names if _private(n)}


def private_attributes(sources: dict[str, str]) -> list[str]:
    """``obj._x`` in one unit where ``_x`` is defined only in others.

    ``sources`` maps dotted module names to their text. A private attribute
    that the module's own unit defines is its own business (whatever the
    object, the unit knows the name); one defined nowhere in the package is a
    library's (scikit-learn's ``_validate_params``) and not judged here.
    """
    trees = {module: ast.parse(text) for module, text in sources.items()}
    defined: dict[str, set[str]] = {}
    for module, tree in trees.items():
        defined.setdefault(_unit(module), set()).update(_private_definitions(tree))
    wrong = []
    for module, tree in trees.items():
        here = _unit(module)
        if here in TOP:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            if node.attr in defined.get(here, ()):
                continue
            owners = sorted(u for u, names in defined.items() if node.attr in names)
            if owners:
                wrong.append(
                    f"{module}:{node.lineno} uses {ast.unparse(node)} (private to "
                    f"{', '.join(owners)})"
                )
    return wrong


ALL_SOURCES = {_dotted(path): path.read_text("utf-8") for path in _modules()}


def test_every_unit_has_a_floor():
    units = {_unit(_dotted(p)) for p in _modules()} - TOP
    assert units <= set(FLOOR), f"not placed in LAYERS: {sorted(units - set(FLOOR))}"


def test_no_upward_or_sideways_import():
    wrong = against_layers(ALL_IMPORTS)
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_private_name_across_sub_packages():
    wrong = private_crossings(ALL_IMPORTS)
    assert not wrong, "private names across sub-packages:\n" + "\n".join(wrong)


def test_no_private_attribute_across_sub_packages():
    wrong = private_attributes(ALL_SOURCES)
    assert not wrong, "private attributes across sub-packages:\n" + "\n".join(wrong)


def test_the_attribute_check_catches_a_reach_into_another_room():
    """The package's own sources, and a serve module that calls the cropper's
    private method: caught, named with its line; the same call inside
    preprocessing, and a library's private (scikit-learn's), are not."""
    private = sorted(
        n for n in _private_definitions(ast.parse(ALL_SOURCES[
            "preprocessing._face_cropping"]))
        if n not in private_definitions_outside("preprocessing")
    )  # fmt: skip
    assert private, "the cropper module defines no private name of its own"
    name = private[0]
    reach = (
        f"def f(cropper):\n    cropper.{name}('x.jpg')\n"
        "    cropper._validate_params()\n"
    )
    planted = {**ALL_SOURCES, "serve._planted": reach}
    (caught,) = private_attributes(planted)
    assert caught.startswith(f"serve._planted:2 uses cropper.{name} (private to ")
    assert "preprocessing" in caught
    inside = {**ALL_SOURCES, "preprocessing._planted": reach}
    assert private_attributes(inside) == []


def private_definitions_outside(unit: str) -> set[str]:
    return {
        n
        for module, text in ALL_SOURCES.items()
        if _unit(module) != unit
        for n in _private_definitions(ast.parse(text))
    }


def test_the_checks_catch_what_they_are_for():
    """A module in datasets that imports upward, sideways and privately."""
    source = (
        "from ..cli._main import _run\n"
        "def f():\n"
        "    import skemotion.video\n"
        "    from . import _folders\n"
        "    from .._io import file_sha256\n"
        "    from ..packaged import load_packaged\n"
    )
    imports = _imports(source, "datasets._fake")
    assert [i.target for i in imports] == [
        "cli._main", "video", "datasets", "_io", "packaged"
    ]  # fmt: skip
    layers = against_layers(imports)
    assert len(layers) == 3  # cli and video above, packaged above too
    assert all("datasets._fake" in m for m in layers)
    private = private_crossings(imports)
    assert len(private) == 1 and "cli._main" in private[0]
    front = _imports("from ..serve import create_app\n", "video._video")
    assert against_layers(front), "a front end imported another unnoticed"


class Room(NamedTuple):
    where: str
    kind: str
    lines: int


@functools.cache
def _rooms() -> tuple[Room, ...]:
    """Every module, function and class of the package, with its length
    (read once for the three size checks)."""
    rooms = []
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        where = str(path.relative_to(PACKAGE.parent))
        rooms.append(Room(where, "module", len(source.splitlines())))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                lines = node.end_lineno - node.lineno + 1
                rooms.append(Room(f"{where}:{node.lineno} {node.name}", kind, lines))
    return tuple(rooms)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [("function", MAX_FUNCTION), ("class", MAX_CLASS), ("module", MAX_MODULE)],
)
def test_small_rooms(kind, limit):
    big = [r for r in _rooms() if r.kind == kind and r.lines > limit]
    listed = "\n".join(f"{r.where}: {r.lines} lines" for r in big)
    assert not big, f"{kind}s over {limit} lines:\n{listed}"
