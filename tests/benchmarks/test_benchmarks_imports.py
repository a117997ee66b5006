"""Every name a benchmark script imports from ``edgeshield`` exists.

Why: the benchmarks are not run by the suite, so a renamed helper broke
``benchmarks/pretraining.py`` at import without any test noticing. Parsing the scripts and
resolving their ``from edgeshield… import …`` lines is cheap (the modules are imported by the
suite anyway) and catches that.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))


def _edgeshield_imports(path: Path) -> list[tuple[str, str | None]]:
    """``(module, name)`` for each import of an ``edgeshield`` module (name None: whole module)."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edgeshield"):
            found.extend((str(node.module), alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((a.name, None) for a in node.names if a.name.startswith("edgeshield"))
    return found


def test_the_benchmark_scripts_are_found() -> None:
    assert len(SCRIPTS) >= 20, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_imports_only_names_that_exist(script: Path) -> None:
    imports = _edgeshield_imports(script)
    missing = []
    for module_name, name in imports:
        module = importlib.import_module(module_name)
        if name is None or name == "*" or hasattr(module, name):
            continue
        try:  # ``from package import submodule``
            importlib.import_module(f"{module_name}.{name}")
        except ModuleNotFoundError:
            missing.append(f"{module_name}.{name}")
    assert not missing, f"{script.name} imports names that do not exist: {missing}"


def test_a_renamed_name_is_caught(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("from edgeshield.demo._steps_proof import _null_sources\n")
    ((module_name, name),) = _edgeshield_imports(script)
    assert not hasattr(importlib.import_module(module_name), str(name))
