"""Issue 19: ``edgeshield demo --schema`` runs the chain of custody on data nobody here wrote.

Breast cancer (scikit-learn's copy) through the CLI at the smallest sizes the options allow:
six plants split at random from the file, federated DP training with the owner's watermark
from the schema's envelope, release, guarded service, ownership proof and suspension; the
report and the dashboard name the schema, its digest and its positive class, and say what
the run could not do without a generator or physics. Bad input is one ``error:`` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgeshield.cli import run
from edgeshield.demo import load_run
from edgeshield.usecase import load_classifier, load_schema

SMALLEST = [
    "--plants", "6", "--malicious", "0", "--rounds", "2", "--epochs", "1",
    "--no-price-protections", "--no-compare-fedavg", "--null-models", "3",
    "--attack-budget", "300", "--thief-queries", "2000", "--benign-queries", "100",
    "--reproducible-dp",
]  # fmt: skip
"""6 plants (buckets of 2: the median needs 3), a Jacobian budget past PRADA's alarm (100
queries) so that the guard can act on it, and a thief with enough marked answers for the API
watermark's p to clear 1e-3."""


@dataclass(frozen=True)
class Run:
    """One demo run on breast cancer: its directory, figures and report."""

    runs_dir: Path
    run_dir: Path
    result: dict[str, Any]
    report: str


@pytest.fixture(scope="module")
def breast_run(breast_cancer_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    runs = tmp_path_factory.mktemp("demo-schema")
    args = ["demo", "--schema", "breast_cancer", "--data", str(breast_cancer_csv), *SMALLEST]
    assert run([*args, "--runs-dir", str(runs)]) == 0
    (run_dir,) = runs.iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    return Run(runs, run_dir, result, (run_dir / "report.md").read_text())


@pytest.mark.slow
def test_every_step_holds_on_breast_cancer(breast_run: Run) -> None:
    result = breast_run.result
    assert result["failed"] is None
    steps = {s["key"]: s["figures"] for s in result["steps"]}
    assert list(steps) == ["plants", "federated", "ledger", "release", "serve", "prove", "suspend"]
    schema = load_schema("breast_cancer")
    assert steps["plants"]["schema"] == {
        "name": "breast_cancer", "sha256": schema.digest, "positive": "malignant",
    }  # fmt: skip
    plants = steps["plants"]
    # Every row of the file is used once: public reference, held-out test or a plant's.
    assert plants["rows"] + plants["reference_rows"] + plants["test_rows"] == 569
    assert len(plants["failures"]) == 6
    # The owner's watermark, from the schema's envelope: the released model is owned.
    assert steps["prove"]["released"]["owned"] is True
    assert steps["prove"]["api_watermark"]["p_value"] <= 1e-3
    assert steps["suspend"]["status"] == 403
    # The released model is breast cancer's, by its card.
    model = load_classifier(breast_run.run_dir / "federated" / "model")
    assert model.schema.digest == schema.digest


@pytest.mark.slow
def test_report_and_dashboard_name_the_schema(breast_run: Run) -> None:
    digest = load_schema("breast_cancer").digest
    report = breast_run.report
    assert f"dataset schema `breast_cancer` ({digest}), positive class 'malignant'" in report
    assert "Not run for schema `breast_cancer`" in report
    assert "public pretraining" in report
    assert "malignant F1 per plant and round" in report
    assert "failure F1" not in report
    assert f"schema = breast_cancer ({digest})" in report
    run_id = breast_run.run_dir.name
    shown = load_run(breast_run.runs_dir, run_id)
    assert shown is not None
    assert shown["dataset"] == {"name": "breast_cancer", "sha256": digest, "positive": "malignant"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schema", "nosuch"], "no such schema file: nosuch"),
        (["--schema", "{bad}"], "bad.yaml:"),
        (["--schema", "breast_cancer"], "--data FILE"),
        (["--data", "{csv}"], "--data and --split-by are for a schema other than AI4I"),
    ],
)
def test_bad_schema_or_data_is_one_error_line(
    args: list[str],
    message: str,
    tmp_path: Path,
    error_line: Callable[[int], str],
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: edgeshield.dataset-schema/1\nname: bad\ncolumns: 3\n")
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n1,2\n")
    argv = [a.format(bad=bad, csv=csv) for a in args]
    line = error_line(run(["demo", *argv, "--runs-dir", str(tmp_path / "runs")]))
    assert message in line
    assert not (tmp_path / "runs").exists()
