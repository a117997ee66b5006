"""docs/results.md: every generated table and quoted figure matches benchmarks/results/*.json."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

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
    (results / "unused.json").write_text(json.dumps({"benchmark": "unused"}))
    assert _run(doc, results, "--check") == 0


def _edit(results: Path, stem: str, edit: Callable[[dict[str, Any]], None]) -> None:
    path = results / f"{stem}.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_rerun_demo_rerenders_the_demo_prose(workspace: tuple[Path, Path]) -> None:
    # The demo is still being tuned: its figures live in generated blocks, not in the prose.
    doc, results = workspace

    def rerun(demo: dict[str, Any]) -> None:
        fed = demo["figures"]["federated"]
        fed["test"]["f1"], fed["record_epsilon"], fed["dp_noise"] = 0.5123, 1.987, 3.0
        demo["seconds"] = 61.7

    _edit(results, "demo", rerun)
    assert _run(doc, results, "--check") == 1
    assert _run(doc, results) == 0
    text = doc.read_text()
    assert "failure F1 0.512 (PR-AUC" in text
    assert "noise multiplier 3.0 inside every plant gives ε = 1.99 at δ = 1e-5" in text
    assert "One run, 62 s in all" in text
    assert _run(doc, results, "--check") == 0


def test_a_demo_without_dp_says_so(workspace: tuple[Path, Path]) -> None:
    _, results = workspace
    _edit(results, "demo", lambda d: d["figures"]["federated"].update(dp_noise=None))
    loaded = rr.load_results(results)
    assert rr.render_block("demo.dp", loaded).startswith("**No DP**")
    assert "without DP;" in rr.render_block("demo.steps", loaded)


def test_the_extraction_verdict_follows_the_runs(workspace: tuple[Path, Path]) -> None:
    _, results = workspace
    assert "better copy in only one of them" in rr.render_block(
        "demo_simulation.extraction", rr.load_results(results)
    )

    def undefended_better(run: dict[str, Any]) -> None:
        run["figures"]["serve"]["undefended_points"][-1]["macro_agreement"] = 0.99

    _edit(results, "demo_simulation", undefended_better)
    _edit(results, "demo_simulation", lambda d: undefended_better(d["baseline"]))
    verdict = rr.render_block("demo_simulation.extraction", rr.load_results(results))
    assert "in all three runs the defences capped" in verdict
    assert "better copy in every run" in verdict


def test_the_dp_grid_names_a_better_cell_than_the_demo(workspace: tuple[Path, Path]) -> None:
    _, results = workspace

    def better(grid: dict[str, Any]) -> None:
        cell = next(c for c in grid["summary"] if c["batch_size"] == 256 and c["dp_noise"] == 4.0)
        cell["f1_mean"] = 0.55

    _edit(results, "demo_dp", better)
    summary = rr.render_block("demo_dp.summary", rr.load_results(results))
    assert "The best of the grid's 8 DP cells by mean F1 is 8 rounds, batch 256" in summary


def test_a_violated_smt_property_is_counted_and_bold(workspace: tuple[Path, Path]) -> None:
    _, results = workspace

    def violate(smt: dict[str, Any]) -> None:
        smt["properties"][5]["outcome"] = "violated"

    _edit(results, "ledger_smt", violate)
    loaded = rr.load_results(results)
    assert "| ModelLicence | 8 | 7 | **1** | 0 | 0 |" in rr.render_block(
        "ledger_smt.contracts", loaded
    )
    assert rr.render_block("ledger_smt.summary", loaded).startswith(
        "**16 of 18** properties proved, 1 violated;"
    )


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
