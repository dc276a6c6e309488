"""The house rules of STYLE.md that a machine can check: rooms small enough to read at one sitting
(no module under remediation/ over 600 lines, no function over 80) and no import circle among the
remediation modules.

Read from the source with `ast`, never by importing it: an import circle that Python happens to
survive at import time is still one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "remediation"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

SOURCES = sorted(PACKAGE.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _module_name(path: Path) -> str:
    """`remediation/cli/args.py` -> `remediation.cli.args`; a package's __init__ is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in SOURCES}


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _functions(path: Path) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method in the module, nested ones included, by qualified name."""

    def walk(
        node: ast.AST, prefix: str
    ) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield name, child
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(_tree(path), "")


FUNCTIONS = [
    pytest.param(path, name, id=f"{_relative(path)}::{name}")
    for path in SOURCES
    for name, _ in _functions(path)
]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not inside functions, not under TYPE_CHECKING."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for orelse in child.orelse:
                yield from _module_level_imports(ast.Module(body=[orelse], type_ignores=[]))
        else:
            yield from _module_level_imports(child)


def _target(name: str) -> str | None:
    """The remediation module `name` is, or the nearest package holding it."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    """The remediation modules `module` imports at import time."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level_imports(_tree(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from remediation import x` imports the module remediation.x when x is one.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        found.update(target for name in names if (target := _target(name)) is not None)
    return found


@cache
def _graph() -> dict[str, frozenset[str]]:
    return {module: frozenset(_imports(module)) for module in MODULES}


def _circle_through(start: str, graph: Mapping[str, frozenset[str]]) -> list[str] | None:
    """A shortest import path from `start` back to itself, or None."""
    paths: dict[str, list[str]] = {start: [start]}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for imported in sorted(graph[module]):
            if imported == start:
                return [*paths[module], start]
            if imported not in paths:
                paths[imported] = [*paths[module], imported]
                queue.append(imported)
    return None


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_a_module_stays_under_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_relative(path)} has {lines} lines"


@pytest.mark.parametrize(("path", "name"), FUNCTIONS)
def test_a_function_fits_on_a_screen(path: Path, name: str) -> None:
    node = dict(_functions(path))[name]
    lines = (node.end_lineno or node.lineno) - node.lineno + 1
    assert lines <= MAX_FUNCTION_LINES, f"{_relative(path)}: {name} has {lines} lines"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_is_in_no_import_circle(module: str) -> None:
    circle = _circle_through(module, _graph())
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_import_graph_sees_imports() -> None:
    """The graph is not empty by mistake: the CLI's parser imports the core and the formats."""
    imports = _graph()["remediation.cli.args"]
    assert {"remediation.core", "remediation.cli.formats"} <= imports
    assert "remediation.fleet" not in imports  # only under TYPE_CHECKING or inside a function


def test_a_circle_is_found_and_named() -> None:
    graph = {
        "a": frozenset({"b"}),
        "b": frozenset({"c", "d"}),
        "c": frozenset({"a"}),
        "d": frozenset(),
    }
    assert _circle_through("a", graph) == ["a", "b", "c", "a"]
    assert _circle_through("d", graph) is None
