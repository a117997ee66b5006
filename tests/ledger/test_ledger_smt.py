"""SMTChecker harnesses: proved, violated and unknown outcomes; what the harness abstracts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.errors import ConfigError, SpecError
from edgeshield.ledger import (
    ContractSpec,
    SmtConfig,
    SmtOutcome,
    find_z3,
    parse_spec,
    shipped_spec,
    smt_harness,
    verify_smt,
)

# A small contract keeps each CHC query to about a second.
_SPEC = """
contract Gate
states: [Closed, Live, Done]
initial: Closed
roles:
  owner: {init: deployer}
variables:
  price: {type: uint256, constructor: true}
  paid: {type: uint256}
transitions:
  - {name: open, from: Closed, to: Live, role: owner}
  - name: pay
    from: Live
    role: anyone
    inputs: {count: uint256}
    guards: ["count * price <= msg.value"]
    statements: ["paid += msg.value"]
    payable: true
  - {name: finish, from: Live, to: Done, role: owner}
plugins: {pausable: owner, timed: false, access_control: true}
"""


@pytest.fixture(scope="module")
def gate() -> ContractSpec:
    return parse_spec(_SPEC.replace("contract Gate", "contract: Gate"))


def test_harness_asserts_where_the_forbidden_action_succeeds(gate: ContractSpec) -> None:
    source = smt_harness(gate, "pay cannot happen after finish")
    pay = source[source.index("function pay(") :]
    pay = pay[: pay.index("\n    }\n")]
    assert pay.rstrip().endswith("assert(!edgeshieldMonitor_);")
    finish = source[source.index("function finish(") :]
    assert finish[: finish.index("\n    }\n")].rstrip().endswith("edgeshieldMonitor_ = true;")
    # abstractions: nonlinear guard dropped (and `paid`, read by no guard), plain reverts
    assert "count * price" not in source
    assert "paid +=" not in source
    assert "revert Unauthorized" not in source
    assert "revert();" in source
    assert "function withdraw()" not in source


def test_harness_instruments_timed_transitions_and_pausing() -> None:
    source = smt_harness(shipped_spec("ModelLicence"), "reportUsage cannot happen after tick")
    timed = source[source.index("function _applyTimedTransitions(") :]
    assert "state == State.Offered" in timed
    assert "edgeshieldMonitor_ = true;" in timed[: timed.index("\n    }\n")]
    source = smt_harness(shipped_spec("ModelLicence"), "unpause can only happen after pause")
    unpause = source[source.index("function unpause(") :]
    assert "assert(edgeshieldMonitor_);" in unpause[: unpause.index("\n    }\n")]


def test_liveness_has_no_harness(gate: ContractSpec) -> None:
    with pytest.raises(SpecError, match="liveness"):
        smt_harness(gate, "finish will eventually happen after open")


def test_unknown_action_is_an_error(gate: ContractSpec) -> None:
    with pytest.raises(SpecError, match="no action 'close'"):
        verify_smt(gate, ["pay cannot happen after close"], SmtConfig(z3=Path("/nonexistent")))


def test_true_property_is_proved_and_false_one_violated(gate: ContractSpec) -> None:
    proved, violated, liveness = verify_smt(
        gate,
        [
            "pay cannot happen after finish",
            "finish cannot happen after pay",
            "finish will eventually happen after open",
        ],
        SmtConfig(timeout_s=60),
    )
    assert proved.outcome is SmtOutcome.PROVED, proved.explain()
    assert [answer for _, answer in proved.asserts] == ["proved"]
    assert violated.outcome is SmtOutcome.VIOLATED, violated.explain()
    assert "violated" in violated.explain()
    assert liveness.outcome is SmtOutcome.NOT_CHECKED
    assert "liveness" in liveness.explain()


def _fake_z3(folder: Path, script: str) -> Path:
    path = folder / "z3"
    path.write_text("#!/bin/sh\n" + script + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize(
    "script",
    [
        "cat >/dev/null; echo timeout",  # what z3 prints when -T runs out
        "cat >/dev/null; echo unknown",
        "cat >/dev/null; echo 'segmentation fault' >&2; exit 139",
    ],
)
def test_undecided_or_failed_queries_are_unknown_never_proved(
    gate: ContractSpec, tmp_path: Path, script: str
) -> None:
    (verdict,) = verify_smt(
        gate, ["pay cannot happen after finish"], SmtConfig(z3=_fake_z3(tmp_path, script))
    )
    assert verdict.outcome is SmtOutcome.UNKNOWN, verdict.explain()
    assert verdict.queries >= 1


def test_a_harness_shared_by_two_properties_is_solved_once(
    gate: ContractSpec, tmp_path: Path
) -> None:
    """The same harness text (here the same property twice) is solved once, not twice."""
    pay_after_finish = "pay cannot happen after finish"
    calls = tmp_path / "calls"
    z3 = _fake_z3(tmp_path, f"echo run >> {calls}; cat >/dev/null; echo unknown")
    first, again, other = verify_smt(
        gate,
        [pay_after_finish, pay_after_finish, "pay cannot happen after open"],
        SmtConfig(z3=z3),
    )
    runs = len(calls.read_text().splitlines())
    assert runs == first.queries + other.queries
    assert min(first.queries, other.queries) >= 1
    assert (first.same_harness_as, other.same_harness_as) == (None, None)
    assert again.same_harness_as == first.property
    assert (again.outcome, again.asserts) == (first.outcome, first.asserts)
    assert (again.queries, again.seconds) == (0, 0.0)
    assert "same harness as 'pay cannot happen after finish', solved once" in again.explain()


def test_cli_verify_smt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = tmp_path / "gate.yaml"
    spec_file.write_text(_SPEC.replace("contract Gate", "contract: Gate"), encoding="utf-8")
    args = ["ledger", "verify", str(spec_file), "--smt", "--smt-timeout", "30"]
    assert run([*args, "-p", "pay cannot happen after finish"]) == 0
    out = capsys.readouterr().out
    assert "SMT PROVED    pay cannot happen after finish" in out
    assert "1 of 1 properties proved by the SMTChecker" in out


def test_missing_z3_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="z3 not found"):
        find_z3()
