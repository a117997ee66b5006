"""``edgeshield ledger from-text | from-pnml | from-ontology | verify``."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.ledger import canonical_form, parse_spec, shipped_spec, specs_dir


@pytest.mark.parametrize(
    ("command", "suffix"),
    [("from-text", "txt"), ("from-pnml", "pnml"), ("from-ontology", "ttl")],
)
def test_from_commands_show_the_spec_and_generate_the_contract(
    command: str, suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = specs_dir() / f"model_licence.{suffix}"
    solidity, spec_file = tmp_path / "licence.sol", tmp_path / "licence.yaml"
    assert run(["ledger", command, str(source), "-o", str(solidity)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("contract: ModelLicence\n")
    assert "# ModelLicence: 5 states, 9 transitions," in out
    assert "contract ModelLicence" in solidity.read_text(encoding="utf-8")
    assert run(["ledger", command, str(source), "--spec-output", str(spec_file)]) == 0
    derived = parse_spec(spec_file.read_text(encoding="utf-8"))
    assert canonical_form(derived) == canonical_form(shipped_spec("ModelLicence"))


def test_from_text_error_is_one_line_with_the_spot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("This contract is called X.\nIts states are A, startin in A.\n")
    assert run(["ledger", "from-text", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: line 2, column 19: unexpected word 'startin'")


def test_verify_exit_codes_and_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    licence = str(specs_dir() / "model_licence.txt")
    assert run(["ledger", "verify", licence, "-p", "reportUsage cannot happen after revoke"]) == 0
    out = capsys.readouterr().out
    assert "HOLDS  reportUsage cannot happen after revoke" in out
    assert "1 of 1 properties hold" in out
    assert run(["ledger", "verify", licence, "-p", "reportUsage cannot happen after suspend"]) == 1
    out = capsys.readouterr().out
    assert "FAILS  reportUsage cannot happen after suspend" in out
    assert "4. device calls reportUsage(count=1) -> Active" in out


def test_verify_reads_a_properties_file_and_any_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    props = tmp_path / "audit.props"
    props.write_text(
        "# properties of the round audit\n"
        "attest can only happen after commitRound\n\n"
        "commitRound cannot happen after finish\n"
    )
    audit = str(specs_dir() / "federated_round_audit.pnml")
    assert run(["ledger", "verify", audit, "--properties", str(props)]) == 0
    out = capsys.readouterr().out
    assert "terminal states (no call succeeds): Closed" in out
    assert "unreachable states: none" in out
    assert "2 of 2 properties hold" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "attest happens"], "property 'attest happens'"),
        (["--max-value", "0"], "bounds: max_value"),
    ],
)
def test_verify_bad_arguments(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = str(specs_dir() / "federated_round_audit.yaml")
    assert run(["ledger", "verify", audit, *args]) == 1
    assert message in capsys.readouterr().err


def test_verify_unknown_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "licence.docx"
    path.write_text("x")
    assert run(["ledger", "verify", str(path)]) == 1
    assert "unknown contract form '.docx'" in capsys.readouterr().err


def test_properties_are_verified_before_generation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(specs_dir() / "model_registry.ttl")
    out = tmp_path / "registry.sol"
    assert (
        run(
            [
                "ledger",
                "from-ontology",
                source,
                "-p",
                "reveal cannot happen after commit",
                "-o",
                str(out),
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert "FAILS  reveal cannot happen after commit" in captured.out
    assert "not generated: a property fails" in captured.err
    assert not out.exists()
    assert (
        run(
            [
                "ledger",
                "from-ontology",
                source,
                "-p",
                "reveal can only happen after commit",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "HOLDS  reveal can only happen after commit" in capsys.readouterr().out
    assert out.exists()
