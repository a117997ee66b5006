"""The report on synthetic step figures: headline, extraction comparison, plots, HTML."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from demo_kit import make_steps, write_result
from fastapi.testclient import TestClient
from matplotlib.backends.backend_agg import FigureCanvasAgg

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
    assert "| PRADA alarm when the guard had received (queries) | 100 | off |" in section
    assert "| refused once it held (answers) | 100 | n/a |" in section
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


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Keep every figure the report draws, by file name, rendered as saved."""
    import edgeshield.demo._plots as plots

    figures: dict[str, Any] = {}
    save = plots._save

    def keep(fig: Any, path: Path) -> Path:
        saved = save(fig, path)  # closes the figure; its artists keep their saved layout
        FigureCanvasAgg(fig).draw()  # type: ignore[no-untyped-call]  # measure what was saved
        figures[path.stem] = fig
        return saved

    monkeypatch.setattr(plots, "_save", keep)
    return figures


class TestHeadline:
    def test_summary_states_the_verdict_and_the_tables_it_comes_from(
        self, tmp_path: Path, full_steps: list[StepRecord]
    ) -> None:
        paths = write_report(write_result(tmp_path / RUN_ID, full_steps))
        summary = paths.markdown.read_text().split("## Summary", 1)[1].split("## Steps", 1)[0]
        verdict = next(line for line in summary.splitlines() if line.startswith("**Verdict**"))
        assert "Worse with the defences than without: Jacobian extraction" in verdict
        assert "throttled" not in verdict  # no request was delayed by 429 in this run
        assert "detected and throttled" not in paths.markdown.read_text()
        assert (
            "| Jacobian extraction (full-output client) | copy with macro agreement 0.551 from "
            "600 answers | copy with macro agreement 0.580 from 50 answers; detected by PRADA "
            "when the guard had received 75 queries; refused once it held 50 answers |"
        ) in summary
        assert "| attacker did better against the defences |" in summary
        assert "| on-chain audit of rounds and ownership commitment | not measured | 4.0 |" in (
            summary
        )
        assert "| 3,000,000 |" in summary
        assert "4,590,000 gas" in verdict  # the sum of the price table's gas column
        assert verdict == f"**Verdict**: {paths.verdict}"  # what the CLI prints
        page = paths.html.read_text()
        assert '<p class="verdict" id="verdict"><strong>Verdict</strong>:' in page

    def test_a_stopped_run_says_the_verdict_covers_what_ran(
        self, tmp_path: Path, full_steps: list[StepRecord]
    ) -> None:
        result = write_result(tmp_path / RUN_ID, full_steps[:2], failed="step 'ledger' failed")
        markdown = write_report(result).markdown.read_text()
        assert (
            "**Verdict** (on the steps that ran before the run stopped): This run measured 1"
            " attack: 1 reduced. Reduced:"
        ) in markdown

    @pytest.mark.parametrize("embedded", [True, False])
    def test_the_chain_is_named_and_a_throw_away_one_is_flagged(
        self, tmp_path: Path, embedded: bool
    ) -> None:
        ledger = {"chain": "embedded py-evm" if embedded else "http://node:8545",
                  "chain_embedded": embedded}  # fmt: skip
        markdown = write_report(write_result(tmp_path / RUN_ID, make_steps(ledger=ledger)))
        text = markdown.markdown.read_text()
        assert ("throw-away" in text) == embedded
        if not embedded:
            assert "The contracts cited below are on the chain at http://node:8545." in text


class TestCosmetics:
    def test_html_has_no_literal_backticks_and_links_the_evidence(
        self, tmp_path: Path, full_steps: list[StepRecord]
    ) -> None:
        paths = write_report(write_result(tmp_path / RUN_ID, full_steps))
        assert "`" in paths.markdown.read_text()  # the Markdown keeps its code spans
        page = paths.html.read_text()
        assert "`" not in page
        assert f"<code>{RUN_ID}</code>" in page
        assert '<a href="evidence/evidence.html">evidence/evidence.html</a>' in page

    def test_configuration_shows_enum_values(
        self, tmp_path: Path, full_steps: list[StepRecord]
    ) -> None:
        text = write_report(write_result(tmp_path / RUN_ID, full_steps)).markdown.read_text()
        config = text.split("## Configuration", 1)[1]
        assert "poison = sign-flip" in config
        assert "engine = in-process" in config
        assert "pretrain = ai4i2020" in config
        assert "dp_trainable = all" in config
        assert "DPTrainable" not in text
        assert "PoisonKind" not in text
        assert "Engine." not in text

    def test_training_plot_has_integer_rounds(
        self, tmp_path: Path, full_steps: list[StepRecord], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        figures = _capture(monkeypatch)
        write_report(write_result(tmp_path / RUN_ID, full_steps))
        ax = figures["training"].axes[0]
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks == [1.0, 2.0, 3.0]

    def test_legends_sit_outside_the_data(
        self, tmp_path: Path, full_steps: list[StepRecord], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        figures = _capture(monkeypatch)
        write_report(write_result(tmp_path / RUN_ID, full_steps))
        for name in ("training", "extraction", "ownership"):
            fig = figures[name]
            renderer = fig.canvas.get_renderer()
            ax = fig.axes[0]
            legend = ax.get_legend().get_window_extent(renderer)
            assert not legend.overlaps(ax.get_window_extent(renderer)), name
            assert legend.x1 <= fig.bbox.x1 + 1, f"{name}: legend cut off"

    def test_ledger_event_labels_do_not_collide(
        self, tmp_path: Path, full_steps: list[StepRecord], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        figures = _capture(monkeypatch)
        result = write_result(tmp_path / RUN_ID, full_steps)
        # Eight rounds of commit, six attestations and close, then the release: crowded.
        events = [
            {"contract": "FederatedRoundAudit", "event": name, "block": 10 + 8 * r + i, "tx": ""}
            for r in range(8)
            for i, name in enumerate(["CommitRound", *["Attest"] * 6, "CloseRound"])
        ] + [
            {"contract": c, "event": e, "block": b, "tx": ""}
            for c, e, b in [("ModelRegistry", "Register", 75), ("ModelRegistry", "Commit", 76),
                            ("ModelLicence", "Create", 77), ("ModelLicence", "Accept", 78),
                            ("ModelRegistry", "Reveal", 90), ("ModelLicence", "Suspend", 91)]
        ]  # fmt: skip
        result.chain_events[:] = events
        write_report(result)
        fig = figures["ledger"]
        renderer = fig.canvas.get_renderer()
        labels = [t for t in fig.axes[0].texts if t.get_text()]
        texts = {t.get_text() for t in labels}
        assert {"CommitRound \u00d78", "Attest \u00d748", "Register", "Suspend"} <= texts
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i, box in enumerate(boxes):
            for other in boxes[i + 1 :]:
                assert not box.overlaps(other)
