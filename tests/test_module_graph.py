"""The app's modules import each other without a cycle, counting imports made inside functions.

A function-level import hides a cycle at run time (db.py once imported embedded.py inside a function
while embedded.py imported db.py), so the graph is read from the source, not from sys.modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import PROJECT_ROOT

APP = PROJECT_ROOT / "app"


def _module_name(path: Path) -> str:
    return "app" if path.name == "__init__.py" else f"app.{path.stem}"


def _imported_app_modules(path: Path) -> set[str]:
    """The app modules ``path`` imports anywhere in its code; a name taken from the package root
    (``from . import create_app``) is an edge to ``app`` itself."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "app")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:  # app/ is flat: `.` is the package
                target = "app" + (f".{node.module}" if node.module else "")
            elif node.level == 0 and node.module and node.module.split(".")[0] == "app":
                target = node.module
            else:
                continue
            if target == "app":
                found.update(f"app.{a.name}" if (APP / f"{a.name}.py").is_file() else "app" for a in node.names)
            else:
                found.add(target)
    found.discard(_module_name(path))
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imported_app_modules(path) for path in sorted(APP.glob("*.py"))}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the list of modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in graph:
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_graph_sees_imports_inside_functions_and_from_the_package_root():
    graph = _graph()

    assert "app.migrations" in graph["app"]  # imported inside create_app
    assert "app" in graph["app.startup"]  # from . import create_app


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_app_module_imports_itself_back():
    cycle = _cycle(_graph())

    assert cycle is None, " -> ".join(cycle)
