"""The report's extraction comparison (with and without defences) on synthetic step figures."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edgeshield.demo import DemoConfig, DemoResult, StepRecord, create_dashboard, write_report

RUN_ID = "20261126T170000Z"


def _point(budget: int, queries: int, macro: float, failures: float) -> dict[str, Any]:
    return {
        "budget": budget,
        "queries": queries,
        "macro_agreement": macro,
        "failure_agreement": failures,
    }


def _serve(**overrides: Any) -> dict[str, Any]:
    """Figures of the serve step: refused after the alarm at 100 queries; baseline to 600."""
    figures: dict[str, Any] = {
        "refusal": "GuardError: licence is for another device",
        "benign_rows": 400,
        "benign_served_differs": 0,
        "attacker_alarm_at": 100,
        "attacker_throttled": 0,
        "attacker_refused_at": 100,
        "attacker_watermarked": 1,
        "attacker_points": [_point(100, 100, 0.59, 0.21), _point(300, 100, 0.59, 0.21)],
        "undefended_points": [
            _point(100, 100, 0.59, 0.21),
            _point(300, 300, 0.64, 0.37),
            _point(600, 600, 0.71, 0.45),
        ],
        "undefended_throttled": 0,
        "undefended_refused_at": None,
        "thief_queries": 2000,
        "thief_alarm_at": None,
    }
    return {**figures, **overrides}


def _result(run_dir: Path, figures: dict[str, Any]) -> DemoResult:
    run_dir.mkdir(parents=True)
    step = StepRecord(
        key="serve", title="Guarded service", outcome="-", seconds=1.0, figures=figures
    )
    (run_dir / "result.json").write_text(
        json.dumps({"steps": [asdict(step)], "chain_events": [], "seconds": 1.0, "failed": None})
    )
    return DemoResult(config=DemoConfig(), run_dir=run_dir, steps=[step], seconds=1.0)


def _section(markdown: str) -> str:
    return markdown.split("## Guarded service", 1)[1].split("## Ownership", 1)[0]


def test_report_compares_the_attack_with_and_without_defences(tmp_path: Path) -> None:
    paths = write_report(_result(tmp_path / RUN_ID, _serve()))
    section = _section(paths.markdown.read_text())
    assert "| Jacobian attacker | with defences | without defences |" in section
    assert "| queries answered | 100 | 600 |" in section
    assert "| PRADA alarm after (queries) | 100 | off |" in section
    assert "| refused at (queries) | 100 | n/a |" in section
    assert "| answers altered by the API watermark | 1 | 0 (off) |" in section
    assert "| final macro agreement | 0.590 | 0.710 |" in section
    assert "| final agreement on failures | 0.210 | 0.450 |" in section
    assert "had 100 of the 600 queries it asked for answered" in section
    assert "0.590 instead of 0.710 (-12.0 pp)" in section
    assert "At an equal 100 queries the macro agreement is 0.590 with defences" in section
    assert "withheld after the alarm" in section  # equal answers, equal fidelity at 100
    assert "plots/extraction.png" in section
    assert "| attacker queries answered, with / without defences | 100 / 600 |" in (
        paths.markdown.read_text()
    )
    page = paths.html.read_text()
    assert "<th>with defences</th><th>without defences</th>" in page


def test_report_states_no_cause_when_the_curves_differ_at_equal_queries(tmp_path: Path) -> None:
    guarded = [_point(100, 100, 0.50, 0.10), _point(300, 100, 0.50, 0.10)]
    paths = write_report(_result(tmp_path / RUN_ID, _serve(attacker_points=guarded)))
    section = _section(paths.markdown.read_text())
    assert "the macro agreement is 0.500 with defences and 0.590 without." in section
    assert "withheld" not in section


def test_report_without_a_baseline_says_so(tmp_path: Path) -> None:
    figures = _serve()
    for key in ("undefended_points", "undefended_throttled", "undefended_refused_at"):
        del figures[key]  # a run written before the baseline existed
    paths = write_report(_result(tmp_path / RUN_ID, figures))
    assert "No undefended baseline was measured" in _section(paths.markdown.read_text())
    assert paths.plots["extraction"].is_file()


def test_extraction_plot_draws_both_curves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeshield.demo._plots as plots

    drawn: dict[str, list[tuple[list[float], list[float]]]] = {}
    save = plots._save

    def capture(fig: Any, path: Path) -> Path:
        if path.name == "extraction.png":
            for line in fig.axes[0].get_lines():
                xs, ys = line.get_data()
                drawn[str(line.get_label())] = [(list(xs), list(ys))]
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    write_report(_result(tmp_path / RUN_ID, _serve()))
    assert drawn["with defences: macro agreement"] == [([100, 100], [0.59, 0.59])]
    assert drawn["without defences: macro agreement"] == [([100, 300, 600], [0.59, 0.64, 0.71])]
    assert drawn["with defences: agreement on failures"] == [([100, 100], [0.21, 0.21])]
    assert drawn["without defences: agreement on failures"] == [
        ([100, 300, 600], [0.21, 0.37, 0.45])
    ]
    assert any(label.startswith("PRADA alarm (100") for label in drawn)


def test_dashboard_shows_the_extraction_plot(tmp_path: Path) -> None:
    paths = write_report(_result(tmp_path / RUN_ID, _serve()))
    client = TestClient(create_dashboard(tmp_path))
    page = client.get(f"/runs/{RUN_ID}").text
    for name in paths.plots:
        assert f"src='/runs/{RUN_ID}/plots/{name}.png'" in page
    response = client.get(f"/runs/{RUN_ID}/plots/extraction.png")
    assert response.status_code == 200
    assert response.content == paths.plots["extraction"].read_bytes()
