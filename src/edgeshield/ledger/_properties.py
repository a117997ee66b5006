"""VeriSolid-style properties of a contract FSM, checked by explicit state exploration.

Why: before a contract is generated, its owner states what must never or always happen
("reportUsage cannot happen after revoke") and gets either a proof over every reachable state
or a counterexample: the shortest sequence of calls that breaks it. The four templates are
those of Nelaturu, Mavridou, Veneris and Laszka, "Verified Development and Deployment of
Multiple Interacting Smart Contracts with VeriSolid" (IEEE ICBC 2020):

* ``a cannot happen after b``                 AG(b -> AG not a)
* ``a can only happen after b``                A[not a W b]
* ``if a happens, b can only happen after c``  AG(a -> AX A[not b W c])
* ``a will eventually happen after b``         AG(b -> AF a)

and one template for funds (issue 17), ``r can always recover v``: from every reachable state,
the holder of the address role ``r``, by its own calls and the passing of time alone (``tick``
included, as anyone may call it), can reach a state where the uint256 variable ``v`` is 0 and
at least ``v``'s value was credited to it on the way; ``withdraw()`` is never paused, so a
credit is money it can take. ``licensee can always recover prepaid`` is the licensee's
unspent prepayment, whatever the owner does first (suspend, pause, propose a device).
``r can always recover v without waiting`` allows no passing of time: the money comes back
now, not at a deadline however far away.

The states explored are those of the spec's own :class:`~edgeshield.ledger.ReferenceModel`,
the Python model that the stateful tests hold equal to the deployed contract call for call,
so the verdicts are about the contract's actual checks (roles, guards, pausing, timed
transitions), not a simplified copy. Data is made finite: a few accounts, small input values,
and uint256 state values above a bound are not explored further (reported as cut). Only the
variables that can influence a guard, a role, a deadline, whether checked arithmetic reverts,
or what a credit pays (their cone of influence) tell two states apart.
"""

from __future__ import annotations

import enum
import functools
import itertools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from edgeshield.errors import SpecError
from edgeshield.ledger._explore import TICK, ExplorationBounds, StateGraph, Step, explore
from edgeshield.ledger._funds import check_funds_names, stuck_at
from edgeshield.ledger._spec import ContractSpec

__all__ = [
    "TICK",
    "ExplorationBounds",
    "Property",
    "PropertyKind",
    "StateGraph",
    "Step",
    "Verdict",
    "check_properties",
    "explore",
    "parse_property",
]

_PROPERTY_GRAMMAR = r"""
?start: cannot | only | conditional | eventually | recover | recover_now
cannot: ACTION "cannot" "happen" "after" ACTION
only: ACTION "can" "only" "happen" "after" ACTION
conditional: "if" ACTION "happens" "," ACTION "can" "only" "happen" "after" ACTION
eventually: ACTION "will" "eventually" "happen" "after" ACTION
recover: ACTION "can" "always" "recover" ACTION
recover_now: ACTION "can" "always" "recover" ACTION "without" "waiting"
ACTION: /[a-z][A-Za-z0-9]*/
%import common.WS
%ignore WS
"""


class PropertyKind(enum.Enum):
    """The four VeriSolid property templates and the funds template."""

    CANNOT_AFTER = "cannot"
    ONLY_AFTER = "only"
    IF_ONLY_AFTER = "conditional"
    EVENTUALLY_AFTER = "eventually"
    ALWAYS_RECOVERS = "recover"
    RECOVERS_WITHOUT_WAITING = "recover_now"


@dataclass(frozen=True, kw_only=True)
class Property:
    """One property: its template and its actions in the template's order (a, b[, c]).

    For ``r can always recover v`` the two names are a role and a uint256 variable.
    """

    kind: PropertyKind
    actions: tuple[str, ...]

    def __str__(self) -> str:
        a, b, *rest = self.actions
        if self.kind is PropertyKind.CANNOT_AFTER:
            return f"{a} cannot happen after {b}"
        if self.kind is PropertyKind.ONLY_AFTER:
            return f"{a} can only happen after {b}"
        if self.kind is PropertyKind.IF_ONLY_AFTER:
            return f"if {a} happens, {b} can only happen after {rest[0]}"
        if self.kind is PropertyKind.ALWAYS_RECOVERS:
            return f"{a} can always recover {b}"
        if self.kind is PropertyKind.RECOVERS_WITHOUT_WAITING:
            return f"{a} can always recover {b} without waiting"
        return f"{a} will eventually happen after {b}"


@functools.cache
def _property_parser() -> Lark:
    return Lark(_PROPERTY_GRAMMAR, parser="lalr")


def parse_property(text: str) -> Property:
    """Parse one property sentence, e.g. ``"reportUsage cannot happen after revoke"``.

    Why: properties are written in the same controlled English as contracts; a sentence
    outside the four templates is a :class:`~edgeshield.errors.SpecError` naming the word.
    """
    try:
        tree = _property_parser().parse(text)
    except UnexpectedInput as exc:
        at_end = isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
        if isinstance(exc, UnexpectedEOF) or at_end:
            where, word = f"column {len(text.rstrip()) + 1}", "end of text"
        else:
            column = exc.column
            where = f"column {column}"
            if isinstance(exc, UnexpectedToken):
                word = repr(str(exc.token))
            elif isinstance(exc, UnexpectedCharacters):
                word = repr(text[exc.pos_in_stream :].split()[0] if text.strip() else "")
            else:  # pragma: no cover
                word = "?"
        raise SpecError(
            f"property {text!r}: {where}: unexpected {word}; the templates are 'a cannot happen "
            "after b', 'a can only happen after b', 'if a happens, b can only happen after c', "
            "'a will eventually happen after b' and 'role can always recover variable [without "
            "waiting]'"
        ) from exc
    actions = tuple(str(token) for token in tree.children if isinstance(token, Token))
    return Property(kind=PropertyKind(str(tree.data)), actions=actions)


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """Whether a property holds on the explored states, with a counterexample if not.

    ``trace`` leads from deployment to the violation; for an ``eventually`` property that
    fails by looping, ``loop`` is the cycle that can repeat forever without the awaited action.
    """

    property: Property
    holds: bool
    trace: tuple[Step, ...] = ()
    loop: tuple[Step, ...] = ()
    explored: int = 0
    cut: int = 0
    complete: bool = True

    def explain(self) -> str:
        """A human-readable verdict with the numbered counterexample."""
        scope = f"{self.explored} states explored"
        if self.cut or not self.complete:
            scope += f", {self.cut} cut at the value bound" + (
                "" if self.complete else ", state limit reached"
            )
        if self.holds:
            return f"HOLDS  {self.property}  ({scope})"
        lines = [f"FAILS  {self.property}  ({scope})", "  counterexample:"]
        lines += [f"    {i}. {step}" for i, step in enumerate(self.trace, start=1)]
        if self.loop:
            lines.append("    then forever:")
            lines += [f"    {i}. {step}" for i, step in enumerate(self.loop, start=1)]
        elif self.property.kind is PropertyKind.EVENTUALLY_AFTER:
            lines.append("    and then no call can succeed")
        elif self.property.kind in _FUNDS:
            role, variable = self.property.actions
            means = "own calls and waiting" if "waiting" not in str(self.property) else "own calls"
            lines.append(
                f"    and from there no sequence of {role}'s {means} credits {role} its {variable}"
            )
        return "\n".join(lines)


# --- checking the properties on the graph -----------------------------------------------------


Groups = tuple[frozenset[str], ...]


def _advance(prop: Property, groups: Groups, monitor: int, labels: Iterable[str]) -> int | None:
    """The monitor after ``labels``; None when the property is violated on the way.

    ``groups`` holds, for each of the property's actions, the labels that count as it.
    """
    kind = prop.kind
    for label in labels:
        if kind is PropertyKind.CANNOT_AFTER:
            a, b = groups
            if label in a and monitor:
                return None
            if label in b:
                monitor = 1
        elif kind is PropertyKind.ONLY_AFTER:
            a, b = groups
            if label in a and not monitor:
                return None
            if label in b:
                monitor = 1
        elif kind is PropertyKind.IF_ONLY_AFTER:
            a, b, c = groups
            if label in b and monitor:
                return None
            if label in c:
                monitor = 0
            if label in a:
                monitor = 1
        else:
            a, b = groups
            if label in a:
                monitor = 0
            if label in b:
                monitor = 1
    return monitor


Product = tuple[int, int]


def _path(parents: Mapping[Product, tuple[Product, Step] | None], end: Product) -> list[Step]:
    steps: list[Step] = []
    current = end
    while (link := parents[current]) is not None:
        current, step = link
        steps.append(step)
    return steps[::-1]


def _cycle_nodes(nodes: set[Product], succ: Mapping[Product, list[Product]]) -> set[Product]:
    """Nodes on a cycle of the subgraph ``nodes`` (Tarjan's SCCs, iteratively)."""
    index: dict[Product, int] = {}
    low: dict[Product, int] = {}
    stack: list[Product] = []
    on_stack: set[Product] = set()
    cyclic: set[Product] = set()
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[Product, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = [c for c in succ.get(node, []) if c in nodes]
            if position < len(children):
                work.append((node, position + 1))
                child = children[position]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1 or node in succ.get(node, []):
                    cyclic.update(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cyclic


def _verdict(
    prop: Property,
    graph: StateGraph,
    holds: bool,
    trace: tuple[Step, ...] = (),
    loop: tuple[Step, ...] = (),
) -> Verdict:
    return Verdict(
        property=prop,
        holds=holds,
        trace=trace,
        loop=loop,
        explored=graph.size,
        cut=len(graph.cut),
        complete=graph.complete,
    )


def _check(prop: Property, groups: Groups, graph: StateGraph) -> Verdict:
    start: Product = (0, 0)
    parents: dict[Product, tuple[Product, Step] | None] = {start: None}
    succ: dict[Product, list[Product]] = {}
    edge_step: dict[tuple[Product, Product], Step] = {}
    queue: deque[Product] = deque([start])
    while queue:
        current = queue.popleft()
        node, monitor = current
        for step, target in graph.edges[node]:
            after = _advance(prop, groups, monitor, step.labels)
            if after is None:
                trace = (*_path(parents, current), step)
                return _verdict(prop, graph, False, trace)
            following: Product = (target, after)
            succ.setdefault(current, []).append(following)
            edge_step.setdefault((current, following), step)
            if following not in parents:
                parents[following] = (current, step)
                queue.append(following)
    if prop.kind is not PropertyKind.EVENTUALLY_AFTER:
        return _verdict(prop, graph, True)
    pending = {p for p in parents if p[1] == 1 and p[0] not in graph.cut}
    ends = sorted(p for p in pending if not graph.edges[p[0]])
    cyclic = _cycle_nodes(pending, succ)
    candidates = sorted(ends + sorted(cyclic), key=lambda p: len(_path(parents, p)))
    if not candidates:
        return _verdict(prop, graph, True)
    bad = candidates[0]
    trace = tuple(_path(parents, bad))
    if bad not in cyclic:
        return _verdict(prop, graph, False, trace)
    # the shortest way round the cycle, staying among pending nodes
    back: dict[Product, Product | None] = {}
    frontier: deque[Product] = deque()
    for nxt in succ.get(bad, []):
        if nxt in pending and nxt not in back:
            back[nxt] = None
            frontier.append(nxt)
    while frontier and bad not in back:
        current = frontier.popleft()
        for nxt in succ.get(current, []):
            if nxt in pending and nxt not in back:
                back[nxt] = current
                frontier.append(nxt)
    chain: list[Product] = [bad]
    while (previous := back[chain[-1]]) is not None:
        chain.append(previous)
    chain.append(bad)
    chain.reverse()
    loop = tuple(edge_step[(x, y)] for x, y in itertools.pairwise(chain))
    return _verdict(prop, graph, False, trace, loop)


_FUNDS = (PropertyKind.ALWAYS_RECOVERS, PropertyKind.RECOVERS_WITHOUT_WAITING)


def _check_recovers(prop: Property, graph: StateGraph) -> Verdict:
    role, variable = prop.actions
    waiting = prop.kind is PropertyKind.ALWAYS_RECOVERS
    trace = stuck_at(graph, role, variable, waiting=waiting)
    return _verdict(prop, graph, trace is None, trace or ())


def _actions(spec: ContractSpec) -> list[str]:
    actions = [t.name for t in spec.transitions]
    if spec.timed and spec.plugins.timed:
        actions.append(TICK)
    if spec.plugins.pausable:
        actions += ["pause", "unpause"]
    return actions


def _group(spec: ContractSpec, prop: Property, action: str, known: list[str]) -> frozenset[str]:
    """The labels that count as ``action``.

    The action itself, or the functions the PNML front end split a concurrent net transition
    into (``pay`` stands for ``payToActiveAndPaid`` and ``payToOfferedAndPaid``).
    """
    if action in known:
        return frozenset({action})
    split = frozenset(
        name
        for name in known
        if name.startswith(action + "To") and name[len(action) + 2 :] in spec.states
    )
    if split:
        return split
    raise SpecError(
        f"property {str(prop)!r}: {spec.contract} has no action {action!r}; "
        f"its actions are {', '.join(known)}"
    )


def check_properties(
    spec: ContractSpec,
    properties: Sequence[Property | str],
    *,
    bounds: ExplorationBounds | None = None,
    graph: StateGraph | None = None,
) -> list[Verdict]:
    """Check each property on the explored states of ``spec``; one verdict per property.

    Why: a false property comes back with the shortest counterexample trace from deployment;
    an action the contract does not have is a :class:`~edgeshield.errors.SpecError`.
    """
    parsed = [p if isinstance(p, Property) else parse_property(p) for p in properties]
    known = _actions(spec)
    groups: list[Groups] = []
    for prop in parsed:
        if prop.kind in _FUNDS:
            role, variable = prop.actions
            check_funds_names(spec, role, variable, str(prop))
            groups.append(())
        else:
            groups.append(tuple(_group(spec, prop, action, known) for action in prop.actions))
    graph = graph or explore(spec, bounds)
    return [
        _check_recovers(prop, graph) if prop.kind in _FUNDS else _check(prop, group, graph)
        for prop, group in zip(parsed, groups, strict=True)
    ]
