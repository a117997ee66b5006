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

``a will eventually happen after b`` is a liveness property and ``r can always recover v``
(funds) a reachability property from every state: the CHC engine proves safety (assertions)
only, so both are reported as not checked; the explicit-state checker decides them. Funds is
AG EF (from every reachable state *some* sequence of ``r``'s own calls credits it ``v``): an
assert holds on *all* sequences and is refuted by one finite execution, but a state from which
*no* continuation recovers the money is bad only through all of its futures, which no finite
execution shows. The one-step safety condition that would imply it ("wherever ``prepaid > 0``
the licensee's ``cancel`` succeeds") reads ``prepaid``, which the abstraction drops (it is only
guarded and updated by nonlinear arithmetic, the part z3 could not decide).
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
from edgeshield.ledger._check import ANYONE, analyse
from edgeshield.ledger._compiler import CompilerConfig, _run_solc, find_solc_module
from edgeshield.ledger._expr import Assign, Expr, Statement
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
from edgeshield.ledger._spec import ContractSpec, Locking

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

    def explain(self) -> str:
        """One line: outcome, property, where and how long."""
        where = ", ".join(f"line {line}: {answer}" for line, answer in self.asserts)
        tail = f"  ({where}; {self.queries} CHC queries, {self.seconds:.1f} s)" if where else ""
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


# --- the abstraction of the spec ----------------------------------------------------------------


def _names(node: Expr | Statement) -> set[str]:
    if isinstance(node, Assign):
        return _names(node.target) | _names(node.value)
    if not isinstance(node, Expr):  # Credit
        return _names(node.to) | _names(node.amount)
    found = {str(node.args[0])} if node.kind in ("name", "index") else set()
    for arg in node.args:
        if isinstance(arg, Expr):
            found |= _names(arg)
    return found


def _nonlinear(node: Expr | Statement) -> bool:
    if isinstance(node, Assign):
        return _nonlinear(node.value) or _nonlinear(node.target)
    if not isinstance(node, Expr):
        return _nonlinear(node.to) or _nonlinear(node.amount)
    if (
        node.kind == "arith"
        and node.args[0] in ("*", "/", "%")
        and all(arg.kind != "lit" for arg in node.args[1:])
    ):
        return True
    return any(isinstance(arg, Expr) and _nonlinear(arg) for arg in node.args)


def _abstract(spec: ContractSpec) -> ContractSpec:
    """The spec with nonlinear guards and statements outside the cone of influence dropped."""
    analysed = analyse(spec)
    parsed = {t.name: analysed.transitions[t.name] for t in spec.transitions}
    for item in spec.transitions:
        if len(parsed[item.name].statements) != len(item.statements):  # pragma: no cover
            raise SpecError(f"{item.name}: statements do not parse one to one")
    variables = set(spec.variables) | set(spec.roles)
    fixed = {r for t in spec.transitions for r in t.role if r != ANYONE}
    fixed |= {t.after for t in spec.timed}
    if spec.plugins.pausable:
        fixed.add(spec.plugins.pausable)
    statements = [s for t in parsed.values() for s in t.statements]
    statements += [s for t in analysed.timed for s in t.statements]
    tainted: set[str] = set()
    while True:
        guards = {
            name: [not _nonlinear(g) and not (_names(g) & tainted) for g in p.guards]
            for name, p in parsed.items()
        }
        relevant = set(fixed)
        for name, p in parsed.items():
            for keep, guard in zip(guards[name], p.guards, strict=True):
                if keep:
                    relevant |= _names(guard) & variables
        changed = True
        while changed:
            changed = False
            for s in statements:
                if isinstance(s, Assign) and s.target.args[0] in relevant:
                    more = (_names(s) & variables) - relevant
                    if more:
                        relevant |= more
                        changed = True
        more_tainted = {
            str(s.target.args[0])
            for s in statements
            if isinstance(s, Assign) and s.target.args[0] in relevant and _nonlinear(s)
        } - fixed
        if more_tainted <= tainted:
            break
        tainted |= more_tainted

    def kept(items: tuple[str, ...], trees: Sequence[Statement]) -> tuple[str, ...]:
        return tuple(
            text
            for text, tree in zip(items, trees, strict=True)
            if isinstance(tree, Assign) and tree.target.args[0] in relevant - tainted
        )

    transitions = tuple(
        t.model_copy(
            update={
                "guards": tuple(
                    g for g, keep in zip(t.guards, guards[t.name], strict=True) if keep
                ),
                "statements": kept(t.statements, parsed[t.name].statements),
            }
        )
        for t in spec.transitions
    )
    timed = tuple(
        t.model_copy(update={"statements": kept(t.statements, p.statements)})
        for t, p in zip(spec.timed, analysed.timed, strict=True)
    )
    plugins = spec.plugins.model_copy(
        update={"locking": Locking.NONE, "counter": False, "events": False}
    )
    return spec.model_copy(update={"transitions": transitions, "timed": timed, "plugins": plugins})


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
_NOT_SAFETY = {
    PropertyKind.EVENTUALLY_AFTER: "a liveness",
    PropertyKind.ALWAYS_RECOVERS: "a funds (reachability from every state)",
    PropertyKind.RECOVERS_WITHOUT_WAITING: "a funds (reachability from every state)",
}


def smt_harness(spec: ContractSpec, prop: Property | str) -> str:
    """The harness contract for one safety property (see the module docstring).

    Raises
    ------
    SpecError
        For an ``eventually`` property (liveness: CHC checks assertions only) or an action
        the contract does not have.
    """
    prop = prop if isinstance(prop, Property) else parse_property(prop)
    if prop.kind in _NOT_SAFETY:
        raise SpecError(f"{prop}: {_NOT_SAFETY[prop.kind]} property has no assert harness")
    known = _actions(spec)
    groups = tuple(_group(spec, prop, action, known) for action in prop.actions)
    abstract = _abstract(spec)
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


def _check_one(spec: ContractSpec, prop: Property, config: SmtConfig, z3: Path) -> SmtVerdict:
    if prop.kind in _NOT_SAFETY:
        what = _NOT_SAFETY[prop.kind].removeprefix("a ")
        return SmtVerdict(
            property=prop,
            outcome=SmtOutcome.NOT_CHECKED,
            detail=f"{what}: the SMTChecker proves assertions (safety) only",
        )
    source = smt_harness(spec, prop)
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
    return SmtVerdict(
        property=prop,
        outcome=outcome,
        asserts=tuple(answers),
        seconds=seconds,
        queries=len(queries),
        detail=failed[0].removeprefix("edgeshield-smt: ") if failed else "",
    )


def verify_smt(
    spec: ContractSpec, properties: Sequence[Property | str], config: SmtConfig | None = None
) -> list[SmtVerdict]:
    """One CHC verdict per property: proved, violated, unknown, or not checked (not safety).

    Why: a proof here covers every value and call sequence, not a bounded world; a timeout or
    an undecided query is ``unknown``, never ``proved``.
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
    return [_check_one(spec, prop, config, z3) for prop in parsed]
