"""The SMT harness's abstraction of a spec: what it drops, what it keeps, what it havocs.

Why: the CHC engine gets stuck on nonlinear arithmetic ("Stuck on a lemma"), so the harness
runs on a copy of the spec with fewer checks and fewer tracked variables. Every change adds
behaviours and never removes one, so a safety proof on the abstraction holds for the
contract: nonlinear guards and guards on untracked variables are dropped, statements outside
the cone of influence (what kept guards, roles and deadlines read) are dropped, and a tracked
variable's nonlinear update becomes an assignment of any value.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgeshield.errors import SpecError
from edgeshield.ledger._check import ANYONE, analyse
from edgeshield.ledger._expr import Assign, Expr, Statement, names_read
from edgeshield.ledger._smt_funds import HAVOC
from edgeshield.ledger._spec import ContractSpec, Locking, TransitionSpec

__all__ = ["UncheckableError", "abstract_spec"]


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


def abstract_spec(
    spec: ContractSpec, *, havoc: str | None = None, keep: frozenset[str] = frozenset()
) -> ContractSpec:
    """The spec with nonlinear guards and statements outside the cone of influence dropped.

    ``havoc`` names a uint256 variable to keep tracked whatever its updates (the funds
    property's balance): a transition's nonlinear assignment to it becomes an assignment of a
    fresh input (:data:`HAVOC`, any value: the real update is one of them), instead of
    dropping the variable and every guard that reads it. A nonlinear assignment to it in a
    timed transition (which has no inputs) still taints it: :class:`UncheckableError`.
    ``keep`` names more variables or roles whose assignments are kept (the funds role).
    """
    analysed = analyse(spec)
    parsed = {t.name: analysed.transitions[t.name] for t in spec.transitions}
    for item in spec.transitions:
        if len(parsed[item.name].statements) != len(item.statements):  # pragma: no cover
            raise SpecError(f"{item.name}: statements do not parse one to one")
    variables = set(spec.variables) | set(spec.roles)
    fixed = {r for t in spec.transitions for r in t.role if r != ANYONE}
    fixed |= {t.after for t in spec.timed} | keep
    if spec.plugins.pausable:
        fixed.add(spec.plugins.pausable)
    havocked = {
        id(s)
        for p in parsed.values()
        for s in p.statements
        if havoc is not None and _assigns(s, havoc) and _nonlinear(s)
    }
    statements = [s for t in parsed.values() for s in t.statements if id(s) not in havocked]
    statements += [s for t in analysed.timed for s in t.statements]
    tainted: set[str] = set()
    while True:
        guards = {
            name: [not _nonlinear(g) and not (names_read(g) & tainted) for g in p.guards]
            for name, p in parsed.items()
        }
        relevant = set(fixed) | ({havoc} if havoc is not None else set())
        for name, p in parsed.items():
            for kept_guard, guard in zip(guards[name], p.guards, strict=True):
                if kept_guard:
                    relevant |= names_read(guard) & variables
        changed = True
        while changed:
            changed = False
            for s in statements:
                if isinstance(s, Assign) and s.target.args[0] in relevant:
                    more = (names_read(s) & variables) - relevant
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
            f"{havoc} = {HAVOC}" if id(tree) in havocked else text
            for text, tree in zip(items, trees, strict=True)
            if id(tree) in havocked
            or (isinstance(tree, Assign) and tree.target.args[0] in relevant - tainted)
        )

    def inputs(item: TransitionSpec) -> dict[str, str]:
        if any(id(s) in havocked for s in parsed[item.name].statements):
            return {**item.inputs, HAVOC: "uint256"}
        return item.inputs

    transitions = tuple(
        t.model_copy(
            update={
                "guards": tuple(
                    g for g, keep in zip(t.guards, guards[t.name], strict=True) if keep
                ),
                "statements": kept(t.statements, parsed[t.name].statements),
                "inputs": inputs(t),
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
    abstract = spec.model_copy(
        update={"transitions": transitions, "timed": timed, "plugins": plugins}
    )
    if havoc is not None and havoc in tainted:
        raise UncheckableError(
            f"{havoc} has a nonlinear update in a timed transition: the harness cannot track it"
        )
    return abstract


def _assigns(statement: Statement, variable: str) -> bool:
    """Whether ``statement`` assigns the scalar ``variable`` itself (not a mapping entry)."""
    return (
        isinstance(statement, Assign)
        and statement.target.kind == "name"
        and statement.target.args[0] == variable
    )


class UncheckableError(SpecError):
    """The funds harness cannot state a sound condition: the property is not checked."""
