import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from edgeshield.cli import run
from edgeshield.usecase import (
    FAILURE_MODES,
    PlantDatabase,
    load_classifier,
    load_schema,
    sqlite_url,
)

GERMAN_SCHEMA = 'extends: ai4i2020\ncsv: {separator: ";", decimal: ","}\n'


def test_real_file_without_failure_modes_imports_and_trains(
    tmp_path: Path, real_data_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, url = tmp_path / "no-modes.csv", sqlite_url(tmp_path / "p.db")
    pd.read_csv(real_data_path).drop(columns=list(FAILURE_MODES)).to_csv(csv, index=False)
    assert run(["data", "import", str(csv), "--db-url", url]) == 0
    assert "imported 10000 rows into plant 'plant-1'" in capsys.readouterr().out
    model = tmp_path / "m"
    assert run(["train", "--db-url", url, "--out", str(model), "--epochs", "2", "--seed", "0"]) == 0
    assert load_classifier(model).schema.name == "ai4i2020"


def test_german_export_imports_with_its_schema(
    tmp_path: Path, real_data_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema, csv, url = tmp_path / "de.yaml", tmp_path / "de.csv", sqlite_url(tmp_path / "p.db")
    schema.write_text(GERMAN_SCHEMA)
    pd.read_csv(real_data_path).head(500).to_csv(csv, index=False, sep=";", decimal=",")
    argv = ["data", "import", str(csv), "--db-url", url, "--schema", str(schema)]
    assert run(argv) == 0
    assert "imported 500 rows" in capsys.readouterr().out
    with PlantDatabase(url) as db:
        stored = db.read_plant("plant-1")
    assert (
        stored["Torque [Nm]"].tolist()
        == pd.read_csv(real_data_path)["Torque [Nm]"].head(500).tolist()
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("Torque [Nm]", "-500", "row 7, column 'Torque [Nm]': -500 is outside the physical"),
        ("Rotational speed [rpm]", "1e9", "row 7, column 'Rotational speed [rpm]': 1000000000"),
        ("Air temperature [K]", "25.1", "row 7, column 'Air temperature [K]': 25.1 is outside"),
        ("Rotational speed [rpm]", "1551.7", "fractional value (1551.7) at row 7"),
        ("Type", "Q", "column 'Type' (product type) has unknown value(s) ['Q']"),
    ],
)
def test_refused_value_names_row_and_column_and_writes_nothing(
    tmp_path: Path,
    real_data_path: Path,
    capsys: pytest.CaptureFixture[str],
    error_line: Callable[[int], str],
    column: str,
    value: str,
    message: str,
) -> None:
    good, bad, url = tmp_path / "good.csv", tmp_path / "bad.csv", sqlite_url(tmp_path / "p.db")
    raw = pd.read_csv(real_data_path).head(40)
    raw.iloc[:20].to_csv(good, index=False)
    rest = raw.iloc[20:].reset_index(drop=True).astype({column: object})
    rest.loc[6, column] = value
    rest.to_csv(bad, index=False)
    assert run(["data", "import", str(good), "--db-url", url]) == 0
    capsys.readouterr()
    code = run(["data", "import", str(bad), "--db-url", url, "--append"])
    assert message in error_line(code)
    with PlantDatabase(url) as db:
        assert len(db.read_plant("plant-1")) == 20  # the refused file added nothing


def test_breast_cancer_imports_trains_and_evaluates_from_its_schema(
    tmp_path: Path, breast_cancer_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, model = sqlite_url(tmp_path / "clinics.db"), tmp_path / "model"
    frame = pd.read_csv(breast_cancer_csv).sample(frac=1.0, random_state=0)
    for i, part in enumerate((frame.iloc[:190], frame.iloc[190:380], frame.iloc[380:]), 1):
        part.to_csv(tmp_path / f"clinic-{i}.csv", index=False)
        argv = ["data", "import", str(tmp_path / f"clinic-{i}.csv"), "--db-url", url]
        assert run([*argv, "--plant", f"clinic-{i}", "--schema", "breast_cancer"]) == 0
    assert "(schema breast_cancer)" in capsys.readouterr().out
    argv = ["train", "--db-url", url, "--out", str(model), "--epochs", "30", "--seed", "0"]
    assert run([*argv, "--schema", "breast_cancer"]) == 0
    assert "breast_cancer classifier" in capsys.readouterr().out
    assert run(["evaluate", str(model), "--csv", str(breast_cancer_csv), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert metrics["positives"] == 212  # malignant cases in the data set
    assert metrics["f1"] > 0.85


def test_train_reads_a_schema_file_for_a_csv(
    tmp_path: Path, breast_cancer_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "mine.yaml"
    assert run(["data", "schema", "breast_cancer"]) == 0
    schema.write_text(capsys.readouterr().out)
    argv = ["train", "--csv", str(breast_cancer_csv), "--out", str(tmp_path / "m"), "--epochs", "3"]
    assert run([*argv, "--schema", str(schema)]) == 0
    assert load_classifier(tmp_path / "m").schema.digest == load_schema("breast_cancer").digest


def test_data_schema_checks_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = tmp_path / "de.yaml"
    schema.write_text(GERMAN_SCHEMA)
    assert run(["data", "schema", str(schema)]) == 0
    assert "schema 'ai4i2020' is valid (14 columns, 11 model inputs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "schema", "{bad}"], "bad.yaml:2: csv.decimal: expected '.' or ','"),
        (["data", "import", "{csv}", "--db-url", "{url}", "--schema", "{bad}"], "bad.yaml:2"),
        (["data", "import", "{csv}", "--db-url", "{url}", "--schema", "nope"], "no such schema"),
        (["data", "import", "{csv}", "--db-url", "{url}", "--schema", "breast_cancer"], "missing"),
        (["train", "--out", "{tmp}/m", "--schema", "breast_cancer"], "needs --csv or --db-url"),
        (["train", "--out", "{tmp}/m", "--schema", "{bad}", "--csv", "{csv}"], "bad.yaml:2"),
    ],
)
def test_bad_schema_use_gives_one_clear_line(
    tmp_path: Path,
    real_data_path: Path,
    error_line: Callable[[int], str],
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "bad.yaml").write_text("extends: ai4i2020\ncsv: {decimal: ';'}\n")
    names = {
        "bad": str(tmp_path / "bad.yaml"),
        "csv": str(real_data_path),
        "url": sqlite_url(tmp_path / "p.db"),
        "tmp": str(tmp_path),
    }
    code = run([a.format(**names) for a in argv])
    assert message in error_line(code)
    assert not (tmp_path / "p.db").exists()


def test_quarantine_imports_the_good_rows_and_counts_the_bad(
    tmp_path: Path, real_data_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, url = tmp_path / "mixed.csv", sqlite_url(tmp_path / "p.db")
    raw = pd.read_csv(real_data_path).head(30).astype({"Torque [Nm]": object})
    raw.loc[3, "Torque [Nm]"] = -500.0
    raw.loc[11, "Torque [Nm]"] = "n/a"
    raw.to_csv(csv, index=False)
    argv = ["data", "import", str(csv), "--db-url", url, "--on-bad-row", "quarantine"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "imported 28 rows" in out
    assert "quarantined 2 rows in table quarantined_rows; first: row 4, column" in out
    with PlantDatabase(url) as db:
        assert len(db.read_plant("plant-1")) == 28
        assert db.quarantined("plant-1")["row"].tolist() == [4, 12]


def test_import_splits_one_csv_into_plants(
    tmp_path: Path, breast_cancer_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--plants 3 at random: near-equal, seeded, every row once; by column: one plant a value."""
    url = sqlite_url(tmp_path / "p.db")
    argv = ["data", "import", str(breast_cancer_csv), "--schema", "breast_cancer"]
    assert run([*argv, "--db-url", url, "--plants", "3", "--seed", "1"]) == 0
    assert "imported 569 rows into 3 plants" in capsys.readouterr().out
    schema = load_schema("breast_cancer")
    with PlantDatabase(url, schema=schema) as db:
        parts = {p: db.read_plant(p) for p in db.plant_ids()}
    assert {p: len(f) for p, f in parts.items()} == {"plant-1": 190, "plant-2": 190, "plant-3": 189}
    radii = sorted(pd.concat(parts.values())["mean radius"].tolist())
    assert radii == sorted(pd.read_csv(breast_cancer_csv)["mean radius"].tolist())
    by_value = sqlite_url(tmp_path / "q.db")
    assert run([*argv, "--db-url", by_value, "--plants", "2", "--split", "diagnosis"]) == 0
    out = capsys.readouterr().out  # which value each plant holds
    assert "plant-1 (diagnosis = benign): 357 rows" in out
    assert "plant-2 (diagnosis = malignant): 212 rows" in out
    with PlantDatabase(by_value, schema=schema) as db:
        assert set(db.read_plant("plant-1")["diagnosis"]) == {"benign"}
        assert set(db.read_plant("plant-2")["diagnosis"]) == {"malignant"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--plants", "3", "--split", "diagnosis"], "error: column 'diagnosis' holds 2 distinct"),
        (["--plants", "3", "--split", "nosuch"], "error: no column 'nosuch' to split by"),
        (["--plants", "3", "--plant", "x"], "error: give either --plant or --plants, not both"),
        (["--split", "diagnosis"], "error: --split needs --plants"),
        (["--plants", "2"], "error: plants plant-1 already hold rows"),
    ],
)
def test_a_bad_split_writes_nothing(
    tmp_path: Path,
    breast_cancer_csv: Path,
    capsys: pytest.CaptureFixture[str],
    error_line: Callable[[int], str],
    extra: list[str],
    message: str,
) -> None:
    url = sqlite_url(tmp_path / "p.db")
    argv = ["data", "import", str(breast_cancer_csv), "--schema", "breast_cancer", "--db-url", url]
    assert run([*argv, "--plant", "plant-1"]) == 0
    capsys.readouterr()
    assert error_line(run([*argv, *extra])).startswith(message)
    with PlantDatabase(url, schema=load_schema("breast_cancer")) as db:
        assert db.plant_ids() == ["plant-1"]
