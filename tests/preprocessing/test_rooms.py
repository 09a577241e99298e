"""The cropping package's own shape, read from its source: its modules import
each other without a cycle (``TYPE_CHECKING`` imports included), and none
calls a private method of a class another one defines (what the package's
modules share is public: ``FaceCropper.crop_file``, ``crop_each``...)."""

from __future__ import annotations

import ast
from pathlib import Path

import skemotion.preprocessing

PACKAGE = Path(skemotion.preprocessing.__file__).resolve().parent


def _trees() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text("utf-8")) for p in PACKAGE.glob("*.py")}


def _imported(tree: ast.Module, modules) -> set[str]:
    """The package's modules this one imports (``from .x import ...``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module in modules:
                found.add(node.module)
            elif node.module is None:
                found |= {a.name for a in node.names if a.name in modules}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            if found := visit(target, [*path, module]):
                return found
        done.add(module)
        return None

    return next((c for m in sorted(graph) if (c := visit(m, []))), None)


def _private_methods(tree: ast.Module) -> set[str]:
    return {
        item.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef)
        and item.name.startswith("_")
        and not item.name.endswith("__")
    }


def test_no_import_cycle():
    trees = _trees()
    graph = {name: _imported(tree, trees) for name, tree in trees.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    # the check finds one when there is one
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_private_method_called_from_another_module():
    trees = _trees()
    owners = {name: _private_methods(tree) for name, tree in trees.items()}
    assert owners["_face_cropping"]  # the check reads the classes' methods
    wrong = [
        f"{name}.py:{node.lineno} calls {node.attr} ({owner}.py's)"
        for name, tree in trees.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        for owner, methods in owners.items()
        if owner != name and node.attr in methods
    ]
    assert not wrong, "\n".join(wrong)
