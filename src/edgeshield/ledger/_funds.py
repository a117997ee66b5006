"""The funds property on the explored graph: a party can always get its money back alone.

Why (issue 17): the licensee prepays, and the vendor controls suspension, pausing and device
proposals; "the licensee's unspent balance is always withdrawable by it" must hold whatever the
vendor did first. ``r can always recover v`` is checked on every explored state: from there the
holder of role ``r``, by its own calls and the passing of time (``tick`` included, which anyone
may call), must reach a state where ``v`` is 0 having been credited at least ``v``'s value on
the way. The search follows the graph's edges, which record what each call credited to whom;
the variable is in the explorer's cone of influence (it is what a credit pays), so the merged
nodes agree on it.
"""

from __future__ import annotations

from collections import deque

from edgeshield.errors import SpecError
from edgeshield.ledger._explore import TICK, StateGraph, Step
from edgeshield.ledger._spec import ContractSpec, RoleKind

__all__ = ["check_funds_names", "stuck_at"]


def check_funds_names(spec: ContractSpec, role: str, variable: str, text: str) -> None:
    """Refuse a funds property whose role is not an address role or variable not a uint256."""
    if role not in spec.roles or spec.roles[role].kind is not RoleKind.ADDRESS:
        roles = [n for n, r in spec.roles.items() if r.kind is RoleKind.ADDRESS]
        raise SpecError(
            f"property {text!r}: {role!r} is not an address role of {spec.contract} "
            f"(its address roles are {', '.join(roles) or 'none'})"
        )
    var = spec.variables.get(variable)
    if var is None or var.type != "uint256":
        names = [n for n, v in spec.variables.items() if v.type == "uint256"]
        raise SpecError(
            f"property {text!r}: {variable!r} is not a uint256 variable of {spec.contract} "
            f"(its uint256 variables are {', '.join(names) or 'none'})"
        )


def _recovers(graph: StateGraph, start: int, role: str, variable: str, *, waiting: bool) -> bool:
    """Whether the role holder at ``start`` gets ``variable``'s value back by itself."""
    owed = int(graph.values[start][variable])
    holder = str(graph.values[start][role]).lower()
    seen = {(start, 0)}
    queue: deque[tuple[int, int]] = deque([(start, 0)])
    while queue:
        node, got = queue.popleft()
        if got >= owed and graph.values[node][variable] == 0:
            return True
        for step, target in graph.edges[node]:
            # its own calls; tick, which anyone may call; time passing, if waiting counts
            allowed = step.account.lower() == holder or step.action == TICK
            if not (allowed or (waiting and step.action == "wait")):
                continue
            paid = sum(amount for payee, amount in step.credited if payee.lower() == holder)
            following = (target, min(owed, got + paid))
            if following not in seen:
                seen.add(following)
                queue.append(following)
    return False


def stuck_at(
    graph: StateGraph, role: str, variable: str, *, waiting: bool = True
) -> tuple[Step, ...] | None:
    """The shortest trace to a state where the role cannot recover ``variable``; None if none.

    ``waiting`` lets time pass; without it only the role's own calls and ``tick`` (which
    applies timed transitions already due) count. States cut at the value bound are not
    judged (their successors were not explored).
    """
    parents: dict[int, tuple[int, Step] | None] = {0: None}
    order = [0]
    for node in order:
        for step, target in graph.edges[node]:
            if target not in parents:
                parents[target] = (node, step)
                order.append(target)
    for node in order:
        if node in graph.cut or graph.values[node][variable] == 0:
            continue
        if not _recovers(graph, node, role, variable, waiting=waiting):
            steps: list[Step] = []
            current = node
            while (link := parents[current]) is not None:
                current, step = link
                steps.append(step)
            return tuple(steps[::-1])
    return None
