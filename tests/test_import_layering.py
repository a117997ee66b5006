"""No import cycles among EdgeShield's modules (issue 21), lazy imports inside functions included.

A cycle works only while the import order happens to suit it, and hides which module depends on
which; the checks read every ``import`` and ``from ... import`` of the source tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    assert len(graph) > 100  # the whole package was read
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _private_of_other_package(importer: str, imported: str) -> bool:
    """Whether ``imported`` is a private module of another top-level package than ``importer``'s.

    Packages are ``edgeshield.<name>``: ``edgeshield.guard`` may use ``edgeshield.guard.api._body``
    (its own subpackage), ``edgeshield.cli._guard`` may not.
    """
    parts = imported.split(".")
    if not any(part.startswith("_") for part in parts[2:]):
        return False
    return importer.split(".")[:2] != parts[:2]


def test_no_package_imports_another_packages_private_modules() -> None:
    """Packages talk through each other's public ``__init__`` (issue 21): a private module is
    free to change without breaking another package."""
    modules = _modules()
    offenders = sorted(
        f"{name} -> {imported}"
        for name, path in modules.items()
        for imported in _imports(path, modules)
        if _private_of_other_package(name, imported)
    )
    assert offenders == []


def test_the_private_import_rule() -> None:
    assert _private_of_other_package("edgeshield.cli._vault", "edgeshield.vault._keys")
    assert not _private_of_other_package("edgeshield.vault._open", "edgeshield.vault._keys")
    assert not _private_of_other_package("edgeshield.vault", "edgeshield.vault._keys")
    assert not _private_of_other_package("edgeshield.cli._vault", "edgeshield.vault")
    assert not _private_of_other_package("edgeshield.guard", "edgeshield.guard.api._body")
    assert _private_of_other_package("edgeshield.cli._guard", "edgeshield.guard.api._body")
