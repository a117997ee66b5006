"""docs/results.md: every generated table and quoted figure matches benchmarks/results/*.json."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "results.md"
RESULTS = REPO / "benchmarks" / "results"


def _load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_results", REPO / "benchmarks" / "render_results.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rr = _load_renderer()


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the page and of the JSON, to be altered."""
    doc = tmp_path / "results.md"
    shutil.copy(DOC, doc)
    results = tmp_path / "results"
    results.mkdir()
    for path in RESULTS.glob("*.json"):
        shutil.copy(path, results / path.name)
    return doc, results


def _run(doc: Path, results: Path, *extra: str) -> int:
    return int(rr.main(["--doc", str(doc), "--results", str(results), *extra]))


def test_committed_doc_matches_committed_json() -> None:
    assert rr.main(["--check"]) == 0


def test_every_renderer_has_a_block_in_the_doc() -> None:
    names = {m["name"] for m in rr.BLOCK.finditer(DOC.read_text())}
    assert names == set(rr.RENDERERS)


def test_rendering_the_committed_doc_changes_nothing() -> None:
    text = DOC.read_text()
    assert rr.render(text, rr.load_results()) == text
    assert rr.missing_quotes(text, rr.load_results()) == []


def test_a_changed_table_figure_fails_the_check_and_is_rerendered(
    workspace: tuple[Path, Path],
) -> None:
    doc, results = workspace
    original = doc.read_text()
    # Another measurement: the YAML parse time of ModelRegistry.
    data = json.loads((results / "ledger_frontends.json").read_text())
    data["forms"][0]["parse_ms"] = 99.94
    (results / "ledger_frontends.json").write_text(json.dumps(data))
    assert _run(doc, results, "--check") == 1
    assert doc.read_text() == original  # --check writes nothing
    assert _run(doc, results) == 0
    assert "| ModelRegistry | 99.9 |" in doc.read_text()
    assert _run(doc, results, "--check") == 0


def test_prose_outside_blocks_is_kept(workspace: tuple[Path, Path]) -> None:
    doc, results = workspace
    text = doc.read_text().replace("# EdgeShield results", "# EdgeShield results, edited")
    doc.write_text(text)
    assert _run(doc, results) == 0
    assert doc.read_text() == text


def test_a_changed_quoted_figure_fails_the_check(workspace: tuple[Path, Path]) -> None:
    doc, results = workspace
    doc.write_text(doc.read_text().replace("ROC AUC **0.890**", "ROC AUC **0.990**"))
    assert _run(doc, results, "--check") == 1


def test_an_unknown_block_is_refused(workspace: tuple[Path, Path]) -> None:
    doc, results = workspace
    doc.write_text(doc.read_text() + "\n<!-- table: demo.nothing -->\n<!-- /table -->\n")
    assert _run(doc, results, "--check") == 2


def test_a_missing_json_file_is_named(workspace: tuple[Path, Path]) -> None:
    _, results = workspace
    (results / "vault.json").unlink()
    with pytest.raises(rr.RenderError, match=r"benchmarks/results/vault\.json"):
        rr.render_block("vault.loads", rr.load_results(results))


def test_extra_json_files_are_ignored(workspace: tuple[Path, Path]) -> None:
    doc, results = workspace
    (results / "demo_simulation.json").write_text(json.dumps({"benchmark": "demo_simulation"}))
    assert _run(doc, results, "--check") == 0


def test_table_refuses_a_row_of_the_wrong_width() -> None:
    with pytest.raises(rr.RenderError, match="2 cells"):
        rr.table(["a", "b", "c"], "lrr", [["1", "2"]])


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (8.7e-10, "8.7e-10"), (0.015, "0.015"), (1.0, "1.0")],
)
def test_p_values_print_as_the_page_prints_them(value: float, text: str) -> None:
    assert rr.short_p(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(-0.04, "\N{MINUS SIGN}0.04"), (-0.001, "0.00"), (1.5, "1.50")]
)
def test_fixed_uses_a_true_minus_and_never_negative_zero(value: float, text: str) -> None:
    assert rr.fixed(value, 2) == text
