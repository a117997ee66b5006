"""The CLI's output rule: nothing replaced without --force/--replace, nothing half-written."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from edgeshield.cli import run
from edgeshield.usecase import PlantDatabase, read_uci_csv, sqlite_url


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    assert run(["data", "generate", "--rows", "300", "--seed", "1", "--out", str(path)]) == 0
    return path


def test_import_refuses_a_plant_with_data_and_changes_nothing(
    tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "p.db")
    assert run(["data", "plants", "--plants", "2", "--rows", "1000", "--db-url", url]) == 0
    with PlantDatabase(url) as db:
        before = db.read_plant("plant-1")
    capsys.readouterr()
    assert run(["data", "import", str(csv), "--db-url", url]) == 1
    assert "--replace or --append" in _one_error(capsys)
    with PlantDatabase(url) as db:
        pd.testing.assert_frame_equal(db.read_plant("plant-1"), before)
        assert len(db.profiles()) == 2  # the profile was not dropped either


def test_import_replace_and_append(tmp_path: Path, csv: Path) -> None:
    url = sqlite_url(tmp_path / "p.db")
    assert run(["data", "import", str(csv), "--db-url", url]) == 0
    assert run(["data", "import", str(csv), "--db-url", url, "--replace"]) == 0
    with PlantDatabase(url) as db:
        assert len(db.read_plant("plant-1")) == 300
    shifted = read_uci_csv(csv)
    shifted["UDI"] += 300
    later = tmp_path / "later.csv"
    shifted.to_csv(later, index=False)
    assert run(["data", "import", str(later), "--db-url", url, "--append"]) == 0
    with PlantDatabase(url) as db:
        assert len(db.read_plant("plant-1")) == 600


def test_append_with_colliding_rows_is_refused_whole(
    tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "p.db")
    assert run(["data", "import", str(csv), "--db-url", url]) == 0
    capsys.readouterr()
    assert run(["data", "import", str(csv), "--db-url", url, "--append"]) == 1
    assert "UDI" in _one_error(capsys)
    with PlantDatabase(url) as db:
        assert len(db.read_plant("plant-1")) == 300


def test_fleet_refuses_existing_plants_without_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "f.db")
    argv = ["data", "plants", "--plants", "2", "--rows", "600", "--db-url", url]
    assert run(argv) == 0
    capsys.readouterr()
    assert run([*argv, "--seed", "3"]) == 1
    assert "--replace" in _one_error(capsys)
    assert run([*argv, "--seed", "3", "--replace"]) == 0


def test_generate_refuses_to_overwrite(
    tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = csv.read_bytes()
    capsys.readouterr()
    assert run(["data", "generate", "--rows", "50", "--out", str(csv)]) == 1
    assert "--force" in _one_error(capsys)
    assert csv.read_bytes() == before
    assert run(["data", "generate", "--rows", "50", "--out", str(csv), "--force"]) == 0
    assert len(read_uci_csv(csv)) == 50
    assert [p.name for p in csv.parent.iterdir() if p.name.startswith(".")] == []


def test_train_checks_its_output_before_training(
    tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    argv = ["train", "--csv", str(csv), "--epochs", "1", "--out", str(model)]
    assert run(argv) == 0
    card = (model / "model_card.json").read_bytes()
    capsys.readouterr()
    assert run(argv) == 1
    assert "--force" in _one_error(capsys)
    assert (model / "model_card.json").read_bytes() == card
    assert run([*argv, "--force"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    capsys.readouterr()
    blocked = tmp_path / "afile"
    blocked.write_text("x")
    assert run(["train", "--csv", str(csv), "--out", str(blocked / "model")]) == 1
    assert "cannot create" in _one_error(capsys)


def test_reading_a_database_never_creates_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.db"
    assert run(["train", "--db-url", sqlite_url(missing), "--out", str(tmp_path / "m")]) == 1
    assert "no such database file" in _one_error(capsys)
    assert not missing.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.iloc[:0], "no rows"),
        (
            lambda f: f.assign(**{"Rotational speed [rpm]": f["Rotational speed [rpm]"] + 0.7}),
            "fractional",
        ),
        (lambda f: f.assign(**{"Tool wear [min]": 1.5}), "fractional"),
    ],
)
def test_import_refuses_what_it_would_have_to_change(
    tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture[str], edit, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(csv)).to_csv(bad, index=False)
    url = sqlite_url(tmp_path / "p.db")
    capsys.readouterr()
    assert run(["data", "import", str(bad), "--db-url", url]) == 1
    assert message in _one_error(capsys)


def test_evaluate_prints_metrics_and_json(
    tmp_path: Path, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m"
    assert run(["train", "--csv", str(csv), "--epochs", "1", "--out", str(model)]) == 0
    capsys.readouterr()
    assert run(["evaluate", str(model), "--csv", str(csv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metrics"]["rows"] == 300
    assert run(["evaluate", str(model)]) == 1
    assert "--csv" in _one_error(capsys)
    assert run(["evaluate", str(tmp_path / "nomodel"), "--csv", str(csv)]) == 1
    assert "no such file" in _one_error(capsys)


def test_version_and_short_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.startswith("edgeshield ")
    assert run(["vault", "-h"]) == 0
    assert "keygen" in capsys.readouterr().out


@pytest.mark.slow
def test_interrupted_generate_leaves_nothing_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "big.csv"
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeshield.cli",
            "data",
            "generate",
            "--rows",
            "3000000",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the command finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: interrupted (SIGINT)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_options_from_environment_and_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGESHIELD_DATA_GENERATE_ROWS", "77")
    assert run(["data", "generate", "--out", str(tmp_path / "a.csv")]) == 0
    assert len(read_uci_csv(tmp_path / "a.csv")) == 77
    monkeypatch.delenv("EDGESHIELD_DATA_GENERATE_ROWS")
    config = tmp_path / "edgeshield.toml"
    config.write_text("[data.generate]\nrows = 55\nseed = 4\n")
    monkeypatch.setenv("EDGESHIELD_CONFIG", str(config))
    assert run(["data", "generate", "--out", str(tmp_path / "b.csv")]) == 0
    assert len(read_uci_csv(tmp_path / "b.csv")) == 55
    assert run(["data", "generate", "--rows", "60", "--out", str(tmp_path / "c.csv")]) == 0
    assert len(read_uci_csv(tmp_path / "c.csv")) == 60  # the command line wins
    capsys.readouterr()
    config.write_text("[data.generate\nrows = ")
    assert run(["data", "generate", "--out", str(tmp_path / "d.csv")]) == 1
    assert "not valid TOML" in _one_error(capsys)
    monkeypatch.setenv("EDGESHIELD_CONFIG", str(tmp_path / "absent.toml"))
    assert run(["--version"]) == 1
    assert "EDGESHIELD_CONFIG" in _one_error(capsys)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data = 5\n", "data = 5 must be a table ([data]) of options"),
        ("[data]\ngenerate = 3\n", "data.generate = 3 must be a table ([data.generate])"),
        ("[nosuch]\nx = 1\n", "[top level] has no command 'nosuch'"),
        # a misspelt option was ignored in silence: the command ran on its default
        ("[data.generate]\nrowz = 7\n", "[data.generate] has no option 'rowz'"),
        ("[data.generate.rows]\nx = 1\n", "[data.generate] is a command; 'rows' cannot be"),
        ("[data.generate]\nseed = -1\n", "Invalid value for '--seed'"),
        # one spelling silently won over the other
        ('[data.generate]\ndb-url = "a"\ndb_url = "b"\n', "sets db_url twice (db-url, db_url)"),
        # click truncated 1.9 to 1 and took true as 1; arrays and dates were tracebacks
        ("[data.generate]\nrows = 1.9\n", "rows = 1.9: a whole number expected"),
        ("[data.generate]\nrows = true\n", "rows = true: a whole number expected"),
        ("[data.generate]\nrows = inf\n", "rows = inf: a whole number expected"),
        ("[data.generate]\nrows = [1, 2]\n", "rows = [1, 2]: one value expected, not an array"),
        ("[data.generate]\nrows = 1979-05-27\n", "rows = 1979-05-27: a whole number expected"),
        ("[data.generate]\nforce = 1\n", "force = 1: true or false expected"),
        ("[data.generate]\nplant = 1979-05-27\n", "plant = 1979-05-27: a string expected"),
    ],
)
def test_a_config_file_of_the_wrong_shape_is_one_line_naming_the_table(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    config = tmp_path / "edgeshield.toml"
    config.write_text(text)
    monkeypatch.setenv("EDGESHIELD_CONFIG", str(config))
    out = tmp_path / "a.csv"
    assert run(["data", "generate", "--out", str(out), "--rows", "20"]) != 0
    assert message in _one_error(capsys)
    assert not out.exists()


def test_config_tables_of_hyphenated_commands_apply_in_either_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[guard.add-client]`` was silently ignored (its key became ``add_client``); a BOM too."""
    config = tmp_path / "edgeshield.toml"
    monkeypatch.setenv("EDGESHIELD_CONFIG", str(config))
    for n, table in enumerate(("guard.add-client", "guard.add_client")):
        config.write_bytes(f"\ufeff[{table}]\nrate = 7\nquota = 9\n".encode())
        clients = tmp_path / f"clients-{n}.json"
        assert run(["guard", "add-client", "--clients", str(clients), "--id", "a"]) == 0
        (entry,) = json.loads(clients.read_text())["clients"]
        assert (entry["rate_per_s"], entry["quota"]) == (7.0, 9)
    capsys.readouterr()
    config.write_text("[guard.add-client]\nrate = 7\n[guard.add_client]\nrate = 9\n")
    clients = tmp_path / "clients-both.json"
    assert run(["guard", "add-client", "--clients", str(clients), "--id", "a"]) == 1
    assert "[guard] sets add-client twice (add-client, add_client)" in _one_error(capsys)
    assert not clients.exists()


def test_force_never_replaces_a_device_or_a_fifo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--force`` renamed a regular file over ``/dev/null`` (run as root: the device was gone)."""
    fifo, device = tmp_path / "fifo", tmp_path / "null"
    os.mkfifo(fifo)
    device.symlink_to("/dev/null")  # the device itself is never put at risk by the test
    for target in (fifo, device):
        for force in ([], ["--force"]):
            argv = ["data", "generate", "--rows", "20", "--out", str(target), *force]
            assert run(argv) == 1
            assert "is not a regular file; it is never replaced" in _one_error(capsys)
    assert fifo.is_fifo()
    assert device.is_symlink()
    assert Path("/dev/null").is_char_device()


def test_network_failure_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGESHIELD_GUARD_ATTACK_KEY", "not-on-the-command-line")
    argv = ["guard", "attack", "--url", "http://127.0.0.1:9", "--kind", "knockoff"]
    assert run([*argv, "--budget", "200", "--eval-rows", "20"]) == 1
    assert "cannot reach the service at http://127.0.0.1:9: " in _one_error(capsys)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+nosuchdrv://alice:s3cret@db/plants",  # unknown dialect driver
        "mysql+nosuchmod://alice:s3cret@db/plants",  # unknown dialect driver
        "postgresql://alice:s3cret@127.0.0.1:1/plants",  # nothing listens
        "not a url://alice:s3cret@",  # unparsable
    ],
)
def test_a_database_password_never_reaches_the_error_line(
    url: str, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL's credentials are masked in the one error line, whatever failed."""
    capsys.readouterr()
    assert run(["data", "import", str(csv), "--db-url", url]) != 0
    line = _one_error(capsys)
    assert "s3cret" not in line
    assert "alice" not in line


def test_attack_takes_no_key_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The process list shows argv: the key comes from a file or the environment only."""
    monkeypatch.delenv("EDGESHIELD_GUARD_ATTACK_KEY", raising=False)
    argv = ["guard", "attack", "--url", "http://127.0.0.1:9", "--kind", "knockoff"]
    assert run([*argv, "--budget", "200", "--key", "esk_visible"]) != 0
    assert "--key" in _one_error(capsys)
    assert run([*argv, "--budget", "200"]) == 1
    assert "EDGESHIELD_GUARD_ATTACK_KEY" in _one_error(capsys)
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    assert run([*argv, "--budget", "200", "--key-file", str(empty)]) == 1
    assert "holds no API key" in _one_error(capsys)


def test_a_mistyped_subcommand_is_suggested_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["vault", "license"]) == 2
    line = _one_error(capsys)
    assert line.count("Did you mean 'licence'?") == 1


@pytest.mark.parametrize(
    "command",
    [[], ["fl", "run"], ["demo"], ["guard", "serve"], ["guard", "attack"], ["ownership", "verify"],
     ["ledger", "call"], ["vault", "seal"], ["data", "import"]],
)  # fmt: skip
def test_help_fits_80_columns_and_cuts_nothing(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Help wraps instead of cutting option names, defaults or variables with an ellipsis."""
    monkeypatch.setenv("COLUMNS", "80")
    assert run([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: edgeshield" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out
    assert "\\[" not in out


def test_demo_and_fl_run_name_the_plants_attack_alike(capsys: pytest.CaptureFixture[str]) -> None:
    """One option name for one concept: --attack on both (the demo keeps --poison as an alias)."""
    for command in (["demo"], ["fl", "run", "--out", "unused"], ["demo", "--poison"]):
        option = [] if command[-1] == "--poison" else ["--attack"]
        assert run([*command, *option, "no-such-attack"]) == 2
        assert "'no-such-attack' is not one of" in _one_error(capsys)


_SPEC = "contracts/specs/model_licence.yaml"
_REPORT = ["--report", "{d}"]
_API = ["--suspect-model", "{d}", "--out"]


@pytest.mark.parametrize(
    ("argv", "existing"),
    [
        (["ledger", "generate", _SPEC, "-o", "{f}"], "f"),
        (["ledger", "compile", _SPEC, "-o", "{f}"], "f"),
        (["ledger", "from-text", "{t}", "-o", "{f}"], "f"),
        (["ledger", "from-text", "{t}", "--spec-output", "{f}"], "f"),
        (["vault", "sign-manifest", "{d}", "--key", "{t}", "--signature", "{f}"], "f"),
        (["vault", "sign-manifest", "{d}", "--key", "{t}"], "d/model.sig"),
        (["ownership", "calibrate", "--key", "{t}", "--envelope", "{t}", "--out", "{f}"], "f"),
        (
            ["ownership", "verify", "--suspect", "{d}", "--key", "{t}", "--null", "{t}", *_REPORT],
            "d/evidence.md",
        ),
        (
            ["ownership", "verify-api", "--db", "sqlite:///{t}", "--client", "c", *_API, "{f}"],
            "f",
        ),
    ],
)
def test_writers_refuse_an_existing_output_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], existing: str
) -> None:
    """A red team replaced files with each of these commands, silently (no --force existed)."""
    (tmp_path / "d").mkdir()
    (tmp_path / "t").write_text("x")
    target = tmp_path / existing
    target.write_text("precious")
    names = {"f": tmp_path / "f", "d": tmp_path / "d", "t": tmp_path / "t"}
    code = run([part.format(**{k: str(v) for k, v in names.items()}) for part in argv])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("error: "), err
    assert "exists; pass --force" in err
    assert err.count("\n") == 1
    assert target.read_text() == "precious"
