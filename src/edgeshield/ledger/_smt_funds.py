"""A safety condition the SMT harness can prove and that implies the funds property.

Why (issue 17): ``r can always recover v`` is AG EF (from every reachable state *some*
sequence of ``r``'s calls credits it ``v``); the CHC engine proves assertions, i.e. safety, only.
This module states a stronger, one-step condition that *is* safety, and checks its static half:

* (static) a **refund** transition ``R``: callable by ``r`` (its role list names ``r``, or
  ``anyone``, or access control is off), with no inputs and no guard that reads ``msg.*``,
  whose statements credit ``r`` exactly ``v`` and then set ``v = 0``, and otherwise only
  assign names other than ``r`` and ``v`` values without arithmetic (so nothing else in it
  can revert or undo the refund). A timed transition refunds when its statements have the
  same shape;
* (invariant, proved by CHC) in every reachable state and at every ``block.timestamp``::

      v == 0 || (r != address(0) && ((due && tick refunds) || (!due && (en(R1) || ...))))

  where ``due`` says some timed transition's deadline has passed in its source state,
  ``tick refunds`` that *every* timed transition refunds (whichever fires first credits ``v``
  and zeroes it; later ones credit 0), and ``en(R)`` is ``R``'s own checks for the caller
  ``r``: its source states, ``!paused`` unless it is ``pause_exempt``, and its guards.

If the invariant holds, from any reachable state with ``v > 0`` the role recovers ``v`` in
one call, now (``tick()`` if a deadline has passed, which anyone may call, else ``R``): that
is both ``r can always recover v`` and its ``without waiting`` form. What the harness must
not do, and does not: drop or weaken one of ``R``'s checks (a refund that looks enabled but
is not). Its guards must survive the abstraction unchanged, ``v`` itself is tracked (a
nonlinear update of it becomes "any value", which only adds states), and the role and pause
checks are written out here from the spec, exactly as the generator emits them. ``R``'s
counter check (unless ``counter_exempt``) does not block the role, which passes the current
``transitionCounter`` as the explicit-state checker does; front-running is not modelled by
either. Two reverts are outside the proof: the checked ``credits[r] += v`` overflowing (both
are wei the contract holds, far below 2**256) and the ``uint64`` transition counter
overflowing (2**64 changes of state). A refuted condition is not a counterexample to the
property (recovery may take several calls, or waiting): the verdict is then unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgeshield.ledger._check import ANYONE, Analysed
from edgeshield.ledger._expr import Assign, Credit, Expr, Statement, render_expression
from edgeshield.ledger._spec import ContractSpec, TransitionSpec

__all__ = ["FUNDS_QUERY", "HAVOC", "FundsCondition", "funds_condition", "refund_candidates"]

#: The harness input a nonlinear update of the tracked balance is replaced by (any value);
#: spec names cannot contain ``_``, so it never shadows one.
HAVOC = "edgeshieldAny_"
#: The harness's view function whose ``assert`` is the invariant, checked in every state.
FUNDS_QUERY = "edgeshieldFunds_"


@dataclass(frozen=True, kw_only=True)
class FundsCondition:
    """The refund transitions found, whether ``tick()`` refunds, and the invariant's text."""

    refunds: tuple[str, ...]
    tick_refunds: bool
    assertion: str


def _walk(node: Expr) -> Iterable[Expr]:
    yield node
    for arg in node.args:
        if isinstance(arg, Expr):
            yield from _walk(arg)


def _is_name(node: Expr, name: str) -> bool:
    return node.kind == "name" and node.args[0] == name


def _refunds(statements: Sequence[Statement], role: str, variable: str) -> bool:
    """Whether ``statements`` credit ``role`` all of ``variable``, zero it, and nothing more.

    Anything else must be a plain assignment to another name, without arithmetic (no
    checked operation that could revert) and without a second credit.
    """
    credited = zeroed = False
    for statement in statements:
        if isinstance(statement, Credit):
            if credited or not (
                _is_name(statement.to, role) and _is_name(statement.amount, variable)
            ):
                return False
            credited = True
        elif (
            credited
            and not zeroed
            and _is_name(statement.target, variable)
            and statement.op is None
            and statement.value.kind == "lit"
            and statement.value.args[0] == 0
        ):
            zeroed = True
        elif not _harmless(statement, (role, variable)):
            return False
    return credited and zeroed


def _harmless(statement: Assign, protected: tuple[str, ...]) -> bool:
    """A plain assignment that cannot revert and leaves the role and balance alone."""
    target = str(statement.target.args[0])
    nodes = [*_walk(statement.target), *_walk(statement.value)]
    return (
        statement.op is None
        and target not in protected
        and all(node.kind != "arith" for node in nodes)
    )


def _callable_by(spec: ContractSpec, item: TransitionSpec, role: str) -> bool:
    return not spec.plugins.access_control or role in item.role or ANYONE in item.role


def refund_candidates(analysed: Analysed, role: str, variable: str) -> tuple[str, ...]:
    """The transitions the role can call with no inputs that refund it ``variable`` in full."""
    spec = analysed.spec
    found = []
    for item in spec.transitions:
        parsed = analysed.transitions[item.name]
        reads_msg = any(
            node.kind == "global" and node.args[0] == "msg"
            for guard in parsed.guards
            for node in _walk(guard)
        )
        if (
            _callable_by(spec, item, role)
            and not item.inputs
            and not reads_msg
            and _refunds(parsed.statements, role, variable)
        ):
            found.append(item.name)
    return tuple(found)


def _in_states(states: Sequence[str]) -> str:
    return "(" + " || ".join(f"state == State.{s}" for s in states) + ")"


def _enabled(analysed: Analysed, name: str) -> str:
    """``R``'s checks, as the generator emits them, for a caller holding the role."""
    spec = analysed.spec
    item = spec.transition(name)
    parts = [_in_states(item.from_)]
    if spec.plugins.pausable and not item.pause_exempt:
        parts.append("!paused")
    parts += [render_expression(g) for g in analysed.transitions[name].guards]
    return "(" + " && ".join(parts) + ")"


def funds_condition(
    analysed: Analysed, refunds: Sequence[str], role: str, variable: str
) -> FundsCondition:
    """The invariant for the given refund transitions (see the module docstring).

    ``analysed`` must be the *original* spec's: ``R``'s guards are rendered from it, so a
    guard the abstraction dropped would still be asserted (the caller refuses that case).
    """
    spec = analysed.spec
    timed = spec.timed if spec.plugins.timed else ()
    due = " || ".join(f"({_in_states(t.from_)} && block.timestamp >= {t.after})" for t in timed)
    tick_refunds = bool(timed) and all(
        _refunds(p.statements, role, variable) for p in analysed.timed
    )
    enabled = " || ".join(_enabled(analysed, name) for name in refunds) or "false"
    if not timed:
        recover = enabled
    elif tick_refunds:
        recover = f"({due}) || ({enabled})"
    else:
        recover = f"!({due}) && ({enabled})"
    assertion = f"{variable} == 0 || ({role} != address(0) && ({recover}))"
    return FundsCondition(refunds=tuple(refunds), tick_refunds=tick_refunds, assertion=assertion)
