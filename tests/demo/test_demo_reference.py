"""The price table in F1: reference models next to the released one, in report and dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from demo_kit import STEP_FIGURES, make_steps, step_map, write_result
from fastapi.testclient import TestClient

from edgeshield.demo import DemoConfig, create_dashboard, write_report
from edgeshield.demo._data import load_demo_data
from edgeshield.demo._prices import prices, quality_ladder
from edgeshield.demo._reference import _config_from_json, _config_json, measure, rows_digest
from edgeshield.usecase import load_schema

RUN_ID = "20261206T190000Z"
REFERENCE: dict[str, Any] = {
    "test_rows": 600,
    "rows_digest": "sha256:" + "0" * 64,
    "central": {"f1": 0.88, "pr_auc": 0.92, "seconds": 9.0, "epochs": 20},
    "federated_no_dp": {"f1": 0.78, "pr_auc": 0.83, "seconds": 20.0, "epsilon": None},
    "federated_dp": {"f1": 0.70, "pr_auc": 0.75, "seconds": 25.0, "epsilon": 1.88},
    "waited_seconds": 0.0,
}
"""Reference figures as the child writes them; the released model (STEP_FIGURES) has F1 0.48."""


def _federated(reference: dict[str, Any] | None) -> dict[str, Any]:
    return {**STEP_FIGURES["federated"], "reference": reference}


def test_ladder_puts_the_released_model_after_central_and_the_federated_runs() -> None:
    ladder = quality_ladder(_federated(REFERENCE))
    assert [r.model.split(":")[0].split(" (")[0] for r in ladder] == [
        "central", "federated", "+ record-level DP-SGD", "+ trigger-set watermark",
    ]  # fmt: skip
    assert [r.f1 for r in ladder] == [0.88, 0.78, 0.70, 0.48]
    assert [r.pr_auc for r in ladder] == [0.92, 0.83, 0.75, 0.5]
    assert [r.points_vs_central for r in ladder] == pytest.approx([0.0, -10.0, -18.0, -40.0])
    assert ladder[0].points_vs_previous is None
    assert [r.points_vs_previous for r in ladder[1:]] == pytest.approx([-10.0, -8.0, -22.0])
    assert "ε = 1.88" in ladder[2].model


def test_without_dp_the_watermark_is_priced_against_the_run_without_dp() -> None:
    ladder = quality_ladder(_federated({**REFERENCE, "federated_dp": None}))
    assert len(ladder) == 3
    assert ladder[-1].points_vs_previous == pytest.approx(-30.0)


@pytest.mark.parametrize("reference", [None, {"error": "not finished 600 s after"}])
def test_no_or_refused_reference_models_give_no_ladder(reference: dict[str, Any] | None) -> None:
    assert quality_ladder(_federated(reference)) == ()
    by_name = {
        p.protection: p for p in prices(step_map(make_steps(federated=_federated(reference))))
    }
    assert by_name["record-level DP-SGD"].f1_points is None


def test_prices_of_federation_dp_and_watermark_are_measured() -> None:
    by_name = {
        p.protection: p for p in prices(step_map(make_steps(federated=_federated(REFERENCE))))
    }
    assert by_name["federated training (rows stay in the plants)"].f1_points == pytest.approx(-10)
    assert by_name["record-level DP-SGD"].f1_points == pytest.approx(-8.0)
    mark = next(p for p in by_name.values() if p.protection.startswith("trigger-set"))
    assert mark.f1_points == pytest.approx(-22.0)


def test_report_and_dashboard_show_the_table(tmp_path: Path) -> None:
    steps = make_steps(federated=_federated(REFERENCE))
    markdown = write_report(write_result(tmp_path / RUN_ID, steps)).markdown.read_text()
    summary = markdown.split("## Summary", 1)[1].split("## Steps", 1)[0]
    assert "same 600 test rows" in summary
    assert "| central: pooled training rows, no protection | 0.880 | 0.920 | +0.0 |  |" in summary
    assert "| + trigger-set watermark: the released model | 0.480 | 0.500 | -40.0 | -22.0 |" in (
        summary
    )
    page = TestClient(create_dashboard(tmp_path)).get(f"/runs/{RUN_ID}").text
    assert "id='quality'" in page
    assert "<td>+ record-level DP-SGD (ε = 1.88 per plant)</td><td>0.700</td><td>0.750</td>" in (
        page
    )


def test_report_says_why_a_refused_reference_is_missing(tmp_path: Path) -> None:
    steps = make_steps(federated=_federated({"error": "scored on other test rows"}))
    markdown = write_report(write_result(tmp_path / RUN_ID, steps)).markdown.read_text()
    assert "reference models were not used: scored on other test rows" in markdown
    page = TestClient(create_dashboard(tmp_path)).get(f"/runs/{RUN_ID}").text
    assert "No price table in F1" in page


def test_rows_digest_tells_other_rows_apart() -> None:
    rows = pd.DataFrame({"a": [1.0, 2.0], "b": [0, 1]})
    assert rows_digest(rows) == rows_digest(rows.copy())
    assert rows_digest(rows) != rows_digest(rows.iloc[::-1])
    assert rows_digest(rows) != rows_digest(rows.assign(b=[1, 1]))


def test_the_child_gets_the_configuration_but_never_the_keys() -> None:
    config = DemoConfig(seed=7, dp_noise=None, rpc_url="http://node:8545", private_keys=("0x1",))
    text = _config_json(config)
    assert "private_keys" not in json.loads(text)
    assert "node" not in text
    child = _config_from_json(text)
    assert (child.seed, child.dp_noise, child.poison, child.pretrain) == (
        7, None, config.poison, config.pretrain,
    )  # fmt: skip


def test_the_child_reads_the_same_file_by_the_same_schema(tmp_path: Path) -> None:
    """A run on a file: the child gets the schema's canonical form and the file's full path."""
    breast = load_schema("breast_cancer")
    rows = tmp_path / "rows.csv"
    config = DemoConfig(schema=breast, data=rows, split_by="site", pretrain=None)
    child = _config_from_json(_config_json(config))
    assert child.schema is not None
    assert child.schema.digest == breast.digest
    assert (child.data, child.split_by, child.pretrain) == (rows.resolve(), "site", None)


@pytest.mark.slow
def test_reference_models_of_a_file_are_scored_on_the_demos_held_out_rows(
    breast_cancer_csv: Path, tmp_path: Path
) -> None:
    """The child splits the file as the demo does: the same held-out rows, by their digest."""
    breast = load_schema("breast_cancer")
    config = DemoConfig(
        schema=breast, data=breast_cancer_csv, pretrain=None, rounds=1, local_epochs=1,
        malicious=0, dp_noise=1.0, reproducible_dp=True,
    )  # fmt: skip
    figures = measure(config, tmp_path)
    held_out = load_demo_data(config).test
    assert held_out is not None
    assert (figures["test_rows"], figures["rows_digest"]) == (len(held_out), rows_digest(held_out))
    for model in ("central", "federated_no_dp", "federated_dp"):
        assert 0.0 < figures[model]["f1"] <= 1.0
    assert figures["federated_dp"]["epsilon"] > 0
