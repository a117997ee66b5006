import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from edgeshield.cli import run
from edgeshield.usecase import PlantDatabase, load_classifier, read_uci_csv, sqlite_url


def test_no_arguments_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) in (0, 2)
    assert "data" in capsys.readouterr().out


def test_data_generate_writes_uci_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data.csv"
    assert run(["data", "generate", "--rows", "500", "--seed", "7", "--out", str(out)]) == 0
    frame = read_uci_csv(out)
    assert len(frame) == 500
    assert "wrote 500 rows" in capsys.readouterr().out


def test_data_import_and_train_from_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, url = tmp_path / "d.csv", sqlite_url(tmp_path / "p.db")
    assert run(["data", "generate", "--rows", "1500", "--out", str(csv)]) == 0
    assert run(["data", "import", str(csv), "--db-url", url, "--plant", "p7"]) == 0
    assert "imported 1500 rows" in capsys.readouterr().out
    model = tmp_path / "model"
    assert run(["train", "--db-url", url, "--out", str(model), "--epochs", "3"]) == 0
    assert "model saved" in capsys.readouterr().out
    load_classifier(model)


def test_data_plants_table_and_storage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = sqlite_url(tmp_path / "f.db")
    assert run(["data", "plants", "--plants", "3", "--rows", "1200", "--db-url", url]) == 0
    out = capsys.readouterr().out
    assert "plant-3" in out
    assert "HDF" in out


def test_train_on_csv(tmp_path: Path, real_data_path: Path) -> None:
    assert (
        run(["train", "--csv", str(real_data_path), "--out", str(tmp_path / "m"), "--epochs", "2"])
        == 0
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "import", "{missing}", "--db-url", "sqlite:///{tmp}/x.db"], "no such file"),
        (["data", "import", "{wrongcols}", "--db-url", "sqlite:///{tmp}/x.db"], "missing column"),
        (["data", "import", "{good}", "--db-url", "nosuch://db"], "database URL"),
        (["data", "import", "{good}", "--db-url", "not a url"], "database URL"),
        (["data", "generate", "--rows", "0", "--out", "{tmp}/x.csv"], "rows"),
        (["data", "generate", "--rows", "ten", "--out", "{tmp}/x.csv"], "rows"),
        (["data", "generate"], "--out"),
        (["data", "plants", "--plants", "0"], "plants"),
        (["data", "nosuchcommand"], "No such command"),
        (
            ["train", "--out", "{tmp}/m", "--csv", "{good}", "--db-url", "sqlite:///{tmp}/x.db"],
            "either",
        ),
        (
            ["train", "--out", "{tmp}/m", "--db-url", "sqlite:///{tmp}/absent.db"],
            "no such database",
        ),
        (["train", "--out", "{tmp}/m", "--db-url", "sqlite:///{tmp}/x.db"], "no plant data"),
        (["train", "--out", "{tmp}/m", "--csv", "{missing}"], "no such file"),
        (["demo", "--plants", "1"], "plants"),
        # numpy's OverflowError / ValueError before the options were bounded
        (["data", "plants", "--rows", "100000000000000000000"], "'--rows'"),
        (["data", "generate", "--seed", "-1", "--out", "{tmp}/x.csv"], "'--seed'"),
        (["data", "plants", "--seed", "-1"], "'--seed'"),
        (["train", "--out", "{tmp}/m", "--seed", "-1"], "'--seed'"),
        (["demo", "--seed", "4294967296"], "'--seed'"),
        (["data", "schema", "{deep}"], "YAML nested more than 32 deep"),
        (["data", "schema", "/dev/zero"], "not a regular file"),  # grew until the OOM killer
        (["data", "import", "{tmp}", "--db-url", "sqlite:///{tmp}/new.db"], "not a regular file"),
        (["data", "generate", "--out", "{tmp}/g.csv", "--db-url", ""], "an empty URL names no"),
        (["data", "import", "{dup}", "--db-url", "sqlite:///{tmp}/new.db"], "repeats the header"),
        (["data", "import", "{huge}", "--db-url", "sqlite:///{tmp}/new.db"], "64-bit integer"),
    ],
)
def test_bad_input_gives_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    good = tmp_path / "good.csv"
    run(["data", "generate", "--rows", "50", "--out", str(good)])
    wrong = tmp_path / "wrong.csv"
    pd.read_csv(good).drop(columns=["Torque [Nm]"]).to_csv(wrong, index=False)
    PlantDatabase(f"sqlite:///{tmp_path}/x.db").close()  # an existing database without plants
    dup, huge, deep = tmp_path / "dup.csv", tmp_path / "huge.csv", tmp_path / "deep.yaml"
    frame = pd.read_csv(good)
    frame.assign(extra=1).rename(columns={"extra": "Torque [Nm]"}).to_csv(dup, index=False)
    frame.astype({"Tool wear [min]": object}).assign(**{"Tool wear [min]": "1" * 29}).to_csv(
        huge, index=False
    )
    deep.write_text("name: x\ncolumns: " + "[" * 5000 + "]" * 5000 + "\n")
    capsys.readouterr()
    names = {
        "tmp": str(tmp_path),
        "missing": str(tmp_path / "absent.csv"),
        "good": str(good),
        "wrongcols": str(wrong),
        "dup": str(dup),
        "huge": str(huge),
        "deep": str(deep),
    }
    code = run([a.format(**names) for a in argv])
    captured = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in captured.err + captured.out
    error_lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, captured.err
    assert message in error_lines[0]
    assert not (tmp_path / "new.db").exists()  # a refused import leaves no database behind


def test_an_interrupted_first_import_leaves_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good, db = tmp_path / "good.csv", tmp_path / "plants.db"
    assert run(["data", "generate", "--rows", "50", "--out", str(good)]) == 0

    def interrupted(*args: object, **kwargs: object) -> int:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the rows are being written
        time.sleep(5)
        raise AssertionError("the interrupt did not arrive")

    monkeypatch.setattr(PlantDatabase, "write_plant", interrupted)
    capsys.readouterr()
    assert run(["data", "import", str(good), "--db-url", sqlite_url(db)]) == 130
    assert "error: interrupted (SIGINT)" in capsys.readouterr().err
    assert not db.exists()
