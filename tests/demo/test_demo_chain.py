from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.demo import DemoConfig, run_demo, write_report
from edgeshield.errors import ConfigError


def test_demo_runs_and_checks_each_step(tmp_path: Path) -> None:
    steps: list[str] = []
    result = run_demo(
        DemoConfig(plants=3, rows=1500, epochs=5, seed=1),
        tmp_path / "run",
        lambda step, _done: steps.append(step),
    )
    assert [name for name, _ in result.steps] == ["plant data", "training", "model"]
    assert (tmp_path / "run" / "plants.db").is_file()
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert set(result.per_plant) == {"plant-1", "plant-2", "plant-3"}
    assert result.overall.rows == sum(m.rows for m in result.per_plant.values())
    assert "generating plant data" in steps
    report = write_report(result).read_text()
    for section in ("## Steps", "## Plants", "## Failure classifier"):
        assert section in report


def test_demo_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        ["demo", "--plants", "2", "--rows", "800", "--epochs", "2", "--runs-dir", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "report:" in out
    assert len(list(tmp_path.glob("*/report.md"))) == 1


def test_demo_rejects_bad_config() -> None:
    with pytest.raises(ConfigError):
        DemoConfig(plants=1)
    with pytest.raises(ConfigError):
        DemoConfig(plants=5, rows=100)
