"""Property harnesses for solc's SMTChecker (CHC engine), solved by an external z3.

Why: explicit state exploration (:func:`~edgeshield.ledger.check_properties`) proves a property
only for small values; the SMTChecker's CHC engine proves it for every uint256 value and every
call sequence, or answers that it cannot. Each safety property becomes one harness: the contract
generated from an abstraction of the spec, with a ghost flag set where an action succeeds and
an ``assert`` where a forbidden action succeeds. The abstraction only adds behaviours, so a
proof on the harness is a proof for the contract; a violation may be spurious (the explicit
state verdict says whether a short counterexample exists). What the harness changes and why:

* guards with nonlinear arithmetic (``count * pricePerUse <= prepaid``) are dropped: the CHC
  solver gets stuck on them ("Stuck on a lemma"); fewer guards, more behaviours;
* statements whose target no kept guard, role or deadline reads (the cone of influence) are
  dropped, and so are credits, ``withdraw()`` and ``withdrawTo()``, which no guard reads (their
  external call could re-enter, but a re-entrant call is one more call in the sequence the
  harness already allows);
* no lock, no counter check (they only revert) and no events;
* ``revert Error(...)`` becomes ``revert()``: solc 0.8.28's SMTChecker does not model a
  custom-error revert as a revert ("does not yet implement type error") and runs on.

The abstraction lives in :mod:`._smt_abstract`.

``a will eventually happen after b`` is a liveness property: the CHC engine proves safety
(assertions) only, so it is reported as not checked; the explicit-state checker decides it.
``r can always recover v`` (funds) is AG EF (from every reachable state *some* sequence of
``r``'s own calls credits it ``v``), not safety either, so the harness proves a stronger safety
condition that implies it (:mod:`._smt_funds`): in every reachable state either ``v == 0``, or
a transition of ``r``'s that credits it exactly ``v`` and zeroes ``v`` passes all its checks
(or a deadline has passed and every timed transition refunds the same way, so ``tick()``
does). For that harness ``v`` is tracked, not dropped: a nonlinear update of it (``prepaid -=
count * pricePerUse``) becomes "any value". A refund whose own guard the abstraction would
drop, or no refund transition at all, is not checked; a refuted condition is unknown, not
violated (recovery may take several calls or waiting).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeshield.errors import CompilationError, ConfigError, SpecError
from edgeshield.ledger._check import analyse
from edgeshield.ledger._compiler import CompilerConfig, _run_solc, find_solc_module
from edgeshield.ledger._funds import check_funds_names
from edgeshield.ledger._generator import GeneratorOptions, generate_solidity
from edgeshield.ledger._properties import (
    _FUNDS,
    TICK,
    Property,
    PropertyKind,
    _actions,
    _group,
    parse_property,
)
from edgeshield.ledger._smt_abstract import UncheckableError, abstract_spec
from edgeshield.ledger._smt_funds import (
    FUNDS_QUERY,
    FundsCondition,
    funds_condition,
    refund_candidates,
)
from edgeshield.ledger._spec import ContractSpec

__all__ = ["SmtConfig", "SmtOutcome", "SmtVerdict", "find_z3", "smt_harness", "verify_smt"]

_FILE = "Harness.sol"
_MONITOR = "edgeshieldMonitor_"


class SmtOutcome(enum.Enum):
    """What the CHC engine answered for a property (all its asserts together)."""

    PROVED = "proved"
    VIOLATED = "violated"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not checked"


@dataclass(frozen=True, kw_only=True)
class SmtConfig:
    """The z3 binary, the per-query timeout, and how to run solc-js."""

    timeout_s: float = 60.0
    z3: Path | None = None
    compiler: CompilerConfig = dataclasses.field(default_factory=CompilerConfig)

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ConfigError("the SMT timeout must be positive")


@dataclass(frozen=True, kw_only=True)
class SmtVerdict:
    """One property's CHC outcome, with each assert's answer and the seconds z3 spent."""

    property: Property
    outcome: SmtOutcome
    asserts: tuple[tuple[int, str], ...] = ()
    seconds: float = 0.0
    queries: int = 0
    detail: str = ""
    #: The earlier property of the same call whose identical harness gave this answer (solved
    #: once, so this verdict costs no query: ``seconds`` and ``queries`` are 0), or None.
    same_harness_as: Property | None = None

    def explain(self) -> str:
        """One line: outcome, property, where and how long."""
        where = ", ".join(f"line {line}: {answer}" for line, answer in self.asserts)
        run = f"{self.queries} CHC queries, {self.seconds:.1f} s"
        if self.same_harness_as is not None:
            run = f"same harness as '{self.same_harness_as}', solved once"
        tail = f"  ({where}; {run})" if where else ""
        note = f"  [{self.detail}]" if self.detail else ""
        return f"SMT {self.outcome.value.upper():<9} {self.property}{tail}{note}"


def find_z3() -> Path:
    """The z3 binary: next to this Python (the pinned ``z3-solver`` wheel), else on PATH."""
    beside = Path(sys.executable).parent / "z3"
    if beside.is_file():
        return beside
    found = shutil.which("z3")
    if found is None:
        raise ConfigError(
            "z3 not found: reinstall edgeshield (it pins z3-solver) or put z3 on PATH"
        )
    return Path(found)


# --- instrumentation ------------------------------------------------------------------------------


def _label_code(prop: Property, groups: tuple[frozenset[str], ...], label: str) -> list[str]:
    """Ghost updates and asserts for one successful action, in the monitor's order."""
    code: list[str] = []
    if prop.kind is PropertyKind.CANNOT_AFTER:
        a, b = groups
        code += [f"assert(!{_MONITOR});"] if label in a else []
        code += [f"{_MONITOR} = true;"] if label in b else []
    elif prop.kind is PropertyKind.ONLY_AFTER:
        a, b = groups
        code += [f"assert({_MONITOR});"] if label in a else []
        code += [f"{_MONITOR} = true;"] if label in b else []
    else:
        a, b, c = groups
        code += [f"assert(!{_MONITOR});"] if label in b else []
        code += [f"{_MONITOR} = false;"] if label in c else []
        code += [f"{_MONITOR} = true;"] if label in a else []
    return code


def _function_end(lines: list[str], name: str) -> int:
    start = next(
        (i for i, line in enumerate(lines) if line.startswith(f"    function {name}(")), None
    )
    if start is None:
        raise SpecError(f"harness: the generated contract has no function {name}()")
    return next(i for i in range(start, len(lines)) if lines[i] == "    }")


#: Templates the CHC engine cannot decide (it proves assertions, i.e. safety, only).
_NOT_SAFETY = {PropertyKind.EVENTUALLY_AFTER: "a liveness"}


def _harness_lines(abstract: ContractSpec) -> list[str]:
    """The abstract spec's contract, with plain reverts and no ``withdraw``/``withdrawTo``."""
    source = generate_solidity(abstract, GeneratorOptions())
    source = re.sub(r"revert [A-Z][A-Za-z0-9]*\([^;]*\);", "revert();", source)
    lines = source.splitlines()
    for name in ("withdraw", "withdrawTo"):
        opening = f"    function {name}("
        start = next((i for i, s in enumerate(lines) if s.startswith(opening)), None)
        if start is None:
            continue
        while lines[start - 1].startswith("    ///"):
            start -= 1
        end = _function_end(lines, name)
        del lines[start : end + 1]
    return lines


def _funds_harness(spec: ContractSpec, prop: Property) -> tuple[str, FundsCondition]:
    """The harness whose one ``assert`` is the funds invariant of :mod:`._smt_funds`.

    Raises :class:`UncheckableError` (a :class:`SpecError`) when no sound one-step condition can
    be stated: no refund transition, one whose guard the abstraction would drop, or a
    balance the harness cannot track.
    """
    role, variable = prop.actions
    check_funds_names(spec, role, variable, str(prop))
    analysed = analyse(spec)
    candidates = refund_candidates(analysed, role, variable)
    if not candidates:
        raise UncheckableError(
            f"no transition that {role} may call without inputs credits it all of {variable} "
            f"and sets {variable} to 0, the one-step refund the harness can assert"
        )
    abstract = abstract_spec(spec, havoc=variable, keep=frozenset({role}))
    refunds = [n for n in candidates if abstract.transition(n).guards == spec.transition(n).guards]
    if not refunds:
        raise UncheckableError(
            f"the harness drops a guard of {', '.join(candidates)} (nonlinear, or reading a "
            "variable it cannot track): it cannot show the refund is enabled"
        )
    condition = funds_condition(analysed, refunds, role, variable)
    lines = _harness_lines(abstract)
    end = max(i for i, line in enumerate(lines) if line == "}")
    lines[end:end] = [
        f"    function {FUNDS_QUERY}() external view {{",
        f"        assert({condition.assertion});",
        "    }",
    ]
    return "\n".join(lines) + "\n", condition


def smt_harness(spec: ContractSpec, prop: Property | str) -> str:
    """The harness contract for one safety or funds property (see the module docstring).

    Raises
    ------
    SpecError
        For an ``eventually`` property (liveness: CHC checks assertions only), an action
        the contract does not have, or a funds property with no one-step refund to assert.
    """
    prop = prop if isinstance(prop, Property) else parse_property(prop)
    if prop.kind in _NOT_SAFETY:
        raise SpecError(f"{prop}: {_NOT_SAFETY[prop.kind]} property has no assert harness")
    if prop.kind in _FUNDS:
        return _funds_harness(spec, prop)[0]
    known = _actions(spec)
    groups = tuple(_group(spec, prop, action, known) for action in prop.actions)
    lines = _harness_lines(abstract_spec(spec))
    inserts: list[tuple[int, list[str]]] = []
    for label in known:
        code = _label_code(prop, groups, label)
        if not code:
            continue
        if label == TICK:
            body = _function_end(lines, "_applyTimedTransitions")
            for i in range(body - 1, 0, -1):
                if lines[i].startswith("        if ((state == State."):
                    inserts.append((i + 1, ["            " + c for c in code]))
                if lines[i].startswith("    function _applyTimedTransitions("):
                    break
        else:
            inserts.append((_function_end(lines, label), ["        " + c for c in code]))
    header = next(i for i, s in enumerate(lines) if s.startswith(f"contract {spec.contract} "))
    inserts.append((header + 1, [f"    bool private {_MONITOR};"]))
    for at, code in sorted(inserts, key=lambda item: item[0], reverse=True):
        lines[at:at] = code
    return "\n".join(lines) + "\n"


# --- running the SMTChecker -----------------------------------------------------------------------


def _answers(result: dict[str, Any], source: str) -> list[tuple[int, str]]:
    """(line, proved|violated|unknown) for each assert solc reports on."""
    answers: dict[int, str] = {}
    for error in result.get("errors", []):
        message = str(error.get("message", ""))
        location = error.get("sourceLocation") or {}
        if not message.startswith("CHC:") or "start" not in location:
            continue
        line = source.count("\n", 0, int(location["start"])) + 1
        if "Assertion violation happens here" in message:
            answer = "violated"
        elif "Assertion violation check is safe" in message:
            answer = "proved"
        else:  # "might happen", "Error trying to invoke SMT solver", ...
            answer = "unknown"
        rank = ("proved", "unknown", "violated")
        if rank.index(answer) >= rank.index(answers.get(line, "proved")):
            answers[line] = answer
    return sorted(answers.items())


#: CHC verdicts of one ``verify_smt`` call by harness source: two properties whose harnesses
#: are the same text (the two funds properties of a licence) are solved once.
_Solved = dict[str, SmtVerdict]


def _run_chc(
    spec: ContractSpec,
    prop: Property,
    source: str,
    config: SmtConfig,
    z3: Path,
    solved: _Solved,
) -> SmtVerdict:
    """Run solc's CHC engine on one harness; the outcome is what the asserts' answers say."""
    if (earlier := solved.get(source)) is not None:
        return dataclasses.replace(
            earlier, property=prop, seconds=0.0, queries=0, same_harness_as=earlier.property
        )
    settings = {
        "modelChecker": {
            "engine": "chc",
            "targets": ["assert"],
            "contracts": {_FILE: [spec.contract]},
            "solvers": ["smtlib2"],
            "showProvedSafe": True,
            "showUnproved": True,
            "divModNoSlacks": True,
            "timeout": 0,
        },
        "outputSelection": {},
    }
    payload = json.dumps(
        {"language": "Solidity", "sources": {_FILE: {"content": source}}, "settings": settings}
    )
    module = (config.compiler.solc_module or find_solc_module()).resolve()
    env = {"EDGESHIELD_SMT_SOLVER": str(z3), "EDGESHIELD_SMT_TIMEOUT_S": f"{config.timeout_s:g}"}
    log: list[str] = []
    start = time.perf_counter()
    result = _run_solc(config.compiler, module, payload, env, log)
    seconds = time.perf_counter() - start
    errors = [e for e in result.get("errors", []) if e.get("severity") == "error"]
    if errors:
        text = "\n".join(str(e.get("formattedMessage", e.get("message", "?"))) for e in errors)
        raise CompilationError(f"solc rejected the harness for {prop}:\n{text}")
    queries = [line for line in log if line.startswith("edgeshield-smt: ")]
    answers = _answers(result, source)
    found = {answer for _, answer in answers}
    if "violated" in found:
        outcome = SmtOutcome.VIOLATED
    elif found == {"proved"}:
        outcome = SmtOutcome.PROVED
    else:
        outcome = SmtOutcome.UNKNOWN
    failed = [q for q in queries if "solver failed" in q]
    verdict = SmtVerdict(
        property=prop,
        outcome=outcome,
        asserts=tuple(answers),
        seconds=seconds,
        queries=len(queries),
        detail=failed[0].removeprefix("edgeshield-smt: ") if failed else "",
    )
    solved[source] = verdict
    return verdict


def _check_funds(
    spec: ContractSpec, prop: Property, config: SmtConfig, z3: Path, solved: _Solved
) -> SmtVerdict:
    """Prove the one-step refund invariant; its refutation is ``unknown``, never ``violated``.

    The invariant is sufficient, not necessary: a state where it fails may still recover the
    money by several calls or by waiting, so only the explicit-state checker refutes funds.
    """
    try:
        source, condition = _funds_harness(spec, prop)
    except UncheckableError as exc:
        return SmtVerdict(property=prop, outcome=SmtOutcome.NOT_CHECKED, detail=str(exc))
    verdict = _run_chc(spec, prop, source, config, z3, solved)
    role = prop.actions[0]
    ways = [f"{name}()" for name in condition.refunds]
    ways += ["tick() once a deadline has passed"] if condition.tick_refunds else []
    how = f"{role}'s one-step refund by {' or '.join(ways)}"
    if verdict.outcome is SmtOutcome.PROVED:
        detail = f"sufficient condition proved: {how} is enabled in every reachable state"
        return dataclasses.replace(verdict, detail=detail)
    if verdict.outcome is SmtOutcome.VIOLATED:
        detail = (
            f"sufficient condition refuted: {how} is not always enabled; not a counterexample "
            "to the property (the explicit-state checker decides it)"
        )
        return dataclasses.replace(verdict, outcome=SmtOutcome.UNKNOWN, detail=detail)
    return verdict


def _check_one(
    spec: ContractSpec, prop: Property, config: SmtConfig, z3: Path, solved: _Solved
) -> SmtVerdict:
    if prop.kind in _NOT_SAFETY:
        what = _NOT_SAFETY[prop.kind].removeprefix("a ")
        return SmtVerdict(
            property=prop,
            outcome=SmtOutcome.NOT_CHECKED,
            detail=f"{what}: the SMTChecker proves assertions (safety) only",
        )
    if prop.kind in _FUNDS:
        return _check_funds(spec, prop, config, z3, solved)
    return _run_chc(spec, prop, smt_harness(spec, prop), config, z3, solved)


def verify_smt(
    spec: ContractSpec, properties: Sequence[Property | str], config: SmtConfig | None = None
) -> list[SmtVerdict]:
    """One CHC verdict per property: proved, violated, unknown, or not checked.

    Why: a proof here covers every value and call sequence, not a bounded world; a timeout or
    an undecided query is ``unknown``, never ``proved``. A funds property is proved through
    its one-step sufficient condition, never reported violated (unknown when refuted), and
    not checked when the spec has no refund the condition can name; liveness is not checked.
    """
    config = config or SmtConfig()
    parsed = [p if isinstance(p, Property) else parse_property(p) for p in properties]
    known = _actions(spec)
    for prop in parsed:
        if prop.kind in _FUNDS:
            role, variable = prop.actions
            check_funds_names(spec, role, variable, str(prop))
            continue
        for action in prop.actions:
            _group(spec, prop, action, known)
    z3 = config.z3 or find_z3()
    solved: _Solved = {}
    return [_check_one(spec, prop, config, z3, solved) for prop in parsed]
