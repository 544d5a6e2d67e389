"""The package's import graph: no cycles, and each layer imports only the layers below it.

Every module of descent_server is parsed with `ast` (nothing is imported), and every import
counts, at module level or inside a function: a function-local import is a cycle deferred,
not a cycle avoided. Only `if TYPE_CHECKING:` blocks are skipped, as they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import descent_server

PACKAGE = "descent_server"
ROOT = Path(descent_server.__file__).parent

# The API modules allowed to reach into workers or the repository, and why.
WIRING = {
    # FastAPI dependencies hand routes the broker's functions (enqueue, readiness ping) as
    # plain callables: routes and services never see Celery, and tests override them.
    f"{PACKAGE}.api.deps": {"workers"},
}

# layer: the layers it must not import. ml is stricter: see ML_MAY_IMPORT.
FORBIDDEN = {
    "repository": {"services", "api", "workers"},
    "services": {"api", "workers"},
    "api": {"repository", "workers"},
    "workers": {"api"},
}
ML_MAY_IMPORT = {"ml", "domain"}


def module_name(path: Path) -> str:
    """Return the dotted name of a module file of the package."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Yield every import statement under `node`, at any depth, outside TYPE_CHECKING blocks."""
    for child in ast.iter_child_nodes(node):
        runs = child.orelse if isinstance(child, ast.If) and _is_type_checking(child) else [child]
        for statement in runs:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                yield statement
            else:
                yield from _import_nodes(statement)


def _known(name: str) -> str | None:
    """Return the longest prefix of `name` that is a module of the package, if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_in(module: str, tree: ast.AST, *, is_package: bool = False) -> set[str]:
    """Return the package modules that `tree`, the source of `module`, imports."""
    found: set[str | None] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name) for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's package, `level - 1` packages up
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            # `from pkg import name`: the submodule pkg.name if there is one, else pkg itself.
            target = f"{base}.{alias.name}"
            found.add(target if target in MODULES else _known(base))
    return {name for name in found if name is not None and name != module}


def imports_of(module: str) -> set[str]:
    """Return the package modules that `module` imports."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    return imports_in(module, tree, is_package=path.name == "__init__.py")


GRAPH = {module: imports_of(module) for module in MODULES}


def layer(module: str) -> str:
    """Return the module's layer: the first name below the package ("" for the package)."""
    return module.split(".")[1] if "." in module else ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_parser_sees_function_local_and_relative_imports_but_not_type_checking() -> None:
    # api/deps imports the broker inside a function: it still counts.
    assert f"{PACKAGE}.workers.queue" in GRAPH[f"{PACKAGE}.api.deps"]
    source = (
        "from typing import TYPE_CHECKING\n"
        "import descent_server.db.session as s\n"
        "from descent_server.services import recovery, health\n"
        "if TYPE_CHECKING:\n    from descent_server.api import deps\n"
        "else:\n    from .config import make_app\n"
        "def f():\n    from . import queue\n"
        "class C:\n    def g(self):\n        from ..domain import Status\n"
    )
    found = imports_in(f"{PACKAGE}.workers.tasks", ast.parse(source))
    expected = ["db.session", "services.recovery", "services.health", "workers.config",
                "workers.queue", "domain"]  # fmt: skip
    assert found == {f"{PACKAGE}.{name}" for name in expected}


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    found = cycles(GRAPH)
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_ml_imports_only_ml_and_domain() -> None:
    bad = [
        (module, target)
        for module, targets in GRAPH.items()
        if layer(module) == "ml"
        for target in sorted(targets)
        if layer(target) not in ML_MAY_IMPORT
    ]
    assert bad == []


@pytest.mark.parametrize("lower", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(lower: str) -> None:
    bad = [
        (module, target)
        for module, targets in GRAPH.items()
        if layer(module) == lower
        for target in sorted(targets)
        if layer(target) in FORBIDDEN[lower] - WIRING.get(module, set())
    ]
    assert bad == []


def test_wiring_modules_exist() -> None:
    assert set(WIRING) <= set(MODULES)
