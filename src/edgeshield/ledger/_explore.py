"""Explicit state exploration of a contract FSM: the finite world and the labelled call graph.

Why: properties are checked on every state the contract can reach, and those states are the
spec's own :class:`~edgeshield.ledger.ReferenceModel` states (the model the stateful tests hold
equal to the deployed contract), so roles, guards, the counter, pausing and timed transitions
behave as in the contract. Data is made finite: the role holders at deployment and a few other
accounts, small input values (and the hashes keccak guards compare against), time that jumps
to the next deadline; uint256 state values above a bound are cut. Two states differ only in
the variables that can influence a guard, a role, a deadline, whether checked arithmetic
reverts, or what a credit pays (their cone of influence).
"""

from __future__ import annotations

import copy
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edgeshield.errors import SpecError
from edgeshield.ledger._check import ANYONE, analyse
from edgeshield.ledger._expr import (
    ZERO_ADDRESS,
    ZERO_BYTES32,
    Assign,
    Expr,
    Statement,
    evaluate,
    names_read,
)
from edgeshield.ledger._model import MODEL_ADDRESS, MODEL_CHAIN_ID, ReferenceModel
from edgeshield.ledger._spec import ContractSpec, RoleInit, RoleKind

__all__ = ["TICK", "ExplorationBounds", "StateGraph", "Step", "explore"]

TICK = "tick"
_DEADLINE = 1_000
_START = 1
_BYTES = b"\x01" * 32


@dataclass(frozen=True, kw_only=True)
class ExplorationBounds:
    """How far the exploration goes: the finite data it tries and when it stops.

    ``max_value`` bounds every uint256 state value the statements change (counters, balances);
    larger values are cut. ``strangers`` is the number of accounts holding no role.
    """

    max_value: int = 2
    max_states: int = 20_000
    strangers: int = 1

    def __post_init__(self) -> None:
        if self.max_value < 1 or self.max_states < 1 or self.strangers < 0:
            raise SpecError("bounds: max_value and max_states must be >= 1, strangers >= 0")


@dataclass(frozen=True, kw_only=True)
class Step:
    """One successful call (or the passing of time) in a trace.

    ``sender`` is the caller's role name as shown in traces, ``account`` its address;
    ``credited`` lists the pull-payment credits the call added, as (address, wei) pairs.
    """

    sender: str
    action: str
    inputs: tuple[tuple[str, str], ...] = ()
    value: int = 0
    labels: tuple[str, ...] = ()
    state: str = ""
    account: str = ""
    credited: tuple[tuple[str, int], ...] = ()

    def __str__(self) -> str:
        if self.action == "wait":
            return f"time passes (block.timestamp = {self.inputs[0][1]}), state {self.state}"
        args = ", ".join(f"{k}={v}" for k, v in self.inputs)
        paid = f" paying {self.value} wei" if self.value else ""
        fired = [label for label in self.labels if label == TICK]
        timed = " (a timed transition fires first)" if fired and self.action != TICK else ""
        return f"{self.sender} calls {self.action}({args}){paid}{timed} -> {self.state}"


@dataclass
class StateGraph:
    """The explored state space: nodes (abstract states) and the calls between them.

    ``values`` holds each node's variables and roles as first reached (the node's
    representative; nodes are told apart by the cone of influence only).
    """

    spec: ContractSpec
    fsm_states: list[str] = field(default_factory=list)
    edges: list[list[tuple[Step, int]]] = field(default_factory=list)
    cut: set[int] = field(default_factory=set)
    complete: bool = True
    values: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of distinct abstract states explored or cut."""
        return len(self.fsm_states)

    def deadlocks(self) -> list[int]:
        """Explored nodes where no call succeeds (and time cannot help)."""
        return [n for n, out in enumerate(self.edges) if not out and n not in self.cut]

    def unreachable_states(self) -> list[str]:
        """FSM states that no explored sequence of calls reaches."""
        seen = set(self.fsm_states)
        return [state for state in self.spec.states if state not in seen]


# --- the finite world the exploration runs in -------------------------------------------------


def _address(index: int) -> str:
    return "0x" + f"{index:040x}"


def _revert_names(node: Expr | Statement) -> set[str]:
    """Names whose values decide whether ``node`` reverts in the explored world.

    Checked arithmetic can fail there in two ways only: a subtraction that underflows (both
    operands count, and so do ``-=`` targets) and a division or modulo by zero (the divisor
    counts). Additions and products are left out: the world's values are small (inputs and
    state values up to ``max_value``, time near 1,000, the chain id below 2**47), so only a
    product of six chain ids could reach 2**256.
    """
    if isinstance(node, Assign):
        found = _revert_names(node.target) | _revert_names(node.value)
        if node.op == "-":
            found |= names_read(node.target) | names_read(node.value)
        return found
    if not isinstance(node, Expr):  # Credit
        return _revert_names(node.to) | _revert_names(node.amount)
    found = set()
    if node.kind == "arith" and node.args[0] == "-":
        found |= names_read(node.args[1]) | names_read(node.args[2])
    elif node.kind == "arith" and node.args[0] in ("/", "%"):
        found |= names_read(node.args[2])
    for arg in node.args:
        if isinstance(arg, Expr):
            found |= _revert_names(arg)
    return found


def _sampled(expr: Expr, sample: dict[str, Any]) -> Expr:
    """``expr`` with every name and mapping lookup replaced by the sample value of its type."""
    if expr.kind in ("name", "index"):
        return Expr("lit", expr.type, (sample[expr.type],))
    return Expr(
        expr.kind,
        expr.type,
        tuple(_sampled(a, sample) if isinstance(a, Expr) else a for a in expr.args),
    )


def _keccaks(node: Expr | Statement) -> Iterator[Expr]:
    if isinstance(node, Assign):
        yield from _keccaks(node.target)
        yield from _keccaks(node.value)
        return
    if not isinstance(node, Expr):
        yield from _keccaks(node.to)
        yield from _keccaks(node.amount)
        return
    if node.kind == "keccak":
        yield node
    for arg in node.args:
        if isinstance(arg, Expr):
            yield from _keccaks(arg)


@dataclass
class _World:
    spec: ContractSpec
    bounds: ExplorationBounds
    actors: list[str] = field(default_factory=list)
    actor_names: dict[str, str] = field(default_factory=dict)
    relevant: list[str] = field(default_factory=list)
    bounded: set[str] = field(default_factory=set)
    deadlines: list[str] = field(default_factory=list)
    domains: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: ContractSpec, bounds: ExplorationBounds) -> _World:
        world = cls(spec=spec, bounds=bounds)
        analysed = analyse(spec)
        deployer = _address(1)
        world.actors.append(deployer)
        world.actor_names[deployer] = (
            "/".join(n for n, r in spec.roles.items() if r.init is RoleInit.DEPLOYER) or "deployer"
        )
        for name, role in spec.roles.items():
            if role.kind is RoleKind.ADDRESS and role.init is not RoleInit.DEPLOYER:
                actor = _address(len(world.actors) + 1)
                world.actors.append(actor)
                world.actor_names[actor] = name
        for index in range(bounds.strangers):
            actor = _address(len(world.actors) + 1)
            world.actors.append(actor)
            world.actor_names[actor] = "stranger" + (
                "" if bounds.strangers == 1 else str(index + 1)
            )
        # cone of influence: what guards, roles, deadlines and checked arithmetic (a call
        # that underflows or divides by zero reverts, as a failed guard) read, closed under
        # assignment
        parsed = list(analysed.transitions.values())
        statements = [s for t in parsed for s in t.statements]
        statements += [s for t in analysed.timed for s in t.statements]
        relevant = set().union(*(names_read(g) for t in parsed for g in t.guards))
        relevant |= set().union(*(_revert_names(node) for node in statements))
        relevant |= set().union(*(_revert_names(g) for t in parsed for g in t.guards))
        # what a credit pays (the funds property follows credits along the graph's edges)
        relevant |= set().union(
            *(names_read(node.amount) for node in statements if not isinstance(node, Assign))
        )
        relevant |= {r for t in spec.transitions for r in t.role if r != ANYONE}
        relevant |= {t.after for t in spec.timed}
        if spec.plugins.pausable:
            relevant.add(spec.plugins.pausable)
        state_names = set(spec.variables) | set(spec.roles)
        changed = True
        while changed:
            changed = False
            for statement in statements:
                if isinstance(statement, Assign) and statement.target.args[0] in relevant:
                    more = (names_read(statement) & state_names) - relevant
                    if more:
                        relevant |= more
                        changed = True
        world.relevant = [n for n in (*spec.roles, *spec.variables) if n in relevant]
        world.deadlines = list(dict.fromkeys(t.after for t in spec.timed))
        assigned = {str(s.target.args[0]) for s in statements if isinstance(s, Assign)}
        world.bounded = {
            n
            for n in world.relevant
            if n in spec.variables
            and spec.variables[n].value_type == "uint256"
            and n in assigned
            and n not in world.deadlines
        }
        bytes_values: list[Any] = [ZERO_BYTES32, _BYTES]
        sample = {"uint256": 1, "bool": True, "address": deployer, "bytes32": _BYTES, "string": "x"}
        # globals as the deployer sees them in the explored model (a commitment bound to
        # msg.sender, address(this) and block.chainid has its preimage in the domain)
        glob = {
            "msg.sender": deployer,
            "msg.value": 1,
            "block.timestamp": 1,
            "block.number": 1,
            "block.chainid": MODEL_CHAIN_ID,
            "address.this": MODEL_ADDRESS,
        }
        for node in itertools.chain((g for t in parsed for g in t.guards), statements):
            for keccak in _keccaks(node):
                value = evaluate(_sampled(keccak, sample), {}, glob)
                if value not in bytes_values:
                    bytes_values.append(value)
        world.domains = {
            "uint256": list(range(bounds.max_value + 1)),
            "bool": [False, True],
            "address": [ZERO_ADDRESS, *world.actors],
            "bytes32": bytes_values,
            "string": ["", "x"],
        }
        return world

    def constructor_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        holders = {name: actor for actor, name in self.actor_names.items()}
        for name, type_ in self.spec.constructor_inputs.items():
            if name in self.spec.roles:
                args[name] = holders[name]
            elif name in self.deadlines:
                args[name] = _DEADLINE
            else:
                samples = {
                    "uint256": 1,
                    "bool": True,
                    "address": self.actors[-1],
                    "bytes32": _BYTES,
                    "string": "x",
                }
                if type_ not in samples:
                    raise SpecError(f"cannot explore a constructor argument of type {type_}")
                args[name] = samples[type_]
        return args

    def name_of(self, address: str) -> str:
        return self.actor_names.get(address.lower(), address)

    def show(self, value: Any) -> str:
        if isinstance(value, bytes):
            if value == ZERO_BYTES32:
                return "0x0"
            return "0x" + value.hex()[:8] + "…"
        if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
            return "0" if value == ZERO_ADDRESS else self.name_of(value)
        return repr(value) if isinstance(value, str) else str(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, v) for k, v in value.items() if v not in (0, False, "", None)))
    return value


def _snapshot(model: ReferenceModel) -> tuple[Any, ...]:
    return copy.deepcopy(
        (model.state, model.counter, model.paused, model.balance, model.credits, model.scope)
    )


def _restore(model: ReferenceModel, snapshot: tuple[Any, ...]) -> None:
    state, counter, paused, balance, credits, scope = copy.deepcopy(snapshot)
    model.state, model.counter, model.paused, model.balance = state, counter, paused, balance
    model.credits, model.scope = credits, scope


def _calls(world: _World) -> list[tuple[str, str, dict[str, Any], int]]:
    """Every (action, sender, inputs, value) the exploration tries from each state."""
    spec = world.spec
    calls: list[tuple[str, str, dict[str, Any], int]] = []
    for item in spec.transitions:
        domains = [world.domains[type_] for type_ in item.inputs.values()]
        values = (0, 1) if item.payable else (0,)
        for combo in itertools.product(*domains):
            inputs = dict(zip(item.inputs, combo, strict=True))
            for sender in world.actors:
                for value in values:
                    calls.append((item.name, sender, inputs, value))
    if spec.plugins.pausable:
        for action in ("pause", "unpause"):
            calls += [(action, sender, {}, 0) for sender in world.actors]
    if spec.timed and spec.plugins.timed:
        calls.append((TICK, world.actors[0], {}, 0))
    return calls


def explore(spec: ContractSpec, bounds: ExplorationBounds | None = None) -> StateGraph:
    """Explore every state the contract reaches within ``bounds``; the labelled call graph.

    Why: the graph is built once and every property is then checked on it; it also shows
    deadlocks and FSM states that no sequence of calls reaches.
    """
    bounds = bounds or ExplorationBounds()
    world = _World.build(spec, bounds)
    # events never change behaviour, and timed firings are recognised by their event
    observed = spec.with_plugins(spec.plugins.model_copy(update={"events": True}))
    model = ReferenceModel(
        observed, deployer=world.actors[0], constructor_args=world.constructor_args()
    )
    graph = StateGraph(spec=spec)
    timestamps: dict[int, int] = {}

    def key(timestamp: int) -> tuple[Any, ...]:
        values = tuple(_freeze(model.scope[name]) for name in world.relevant)
        return (model.state, model.paused, timestamp, values)

    def over_bound() -> bool:
        for name in world.bounded:
            value = model.scope[name]
            items = value.values() if isinstance(value, dict) else (value,)
            if any(isinstance(v, int) and v > bounds.max_value for v in items):
                return True
        return False

    index: dict[tuple[Any, ...], int] = {}
    snapshots: list[tuple[Any, ...]] = []

    def add(timestamp: int) -> tuple[int, bool]:
        k = key(timestamp)
        if k in index:
            return index[k], False
        node = len(graph.fsm_states)
        index[k] = node
        graph.fsm_states.append(model.state)
        graph.edges.append([])
        graph.values.append(copy.deepcopy(model.scope))
        snapshots.append(_snapshot(model))
        timestamps[node] = timestamp
        if over_bound():
            graph.cut.add(node)
            return node, False
        return node, True

    calls = _calls(world)
    queue: deque[int] = deque()
    start, _ = add(_START)
    queue.append(start)
    while queue:
        node = queue.popleft()
        now = timestamps[node]
        _restore(model, snapshots[node])
        for action, sender, inputs, value in calls:
            outcome = model.apply(
                action if action != TICK else "tick",
                inputs,
                sender=sender,
                value=value,
                timestamp=now,
                counter=model.counter,
            )
            if not outcome.ok:
                continue
            labels = [TICK for name, _ in outcome.events if name == "TimedTransition"]
            if action != TICK:
                labels.append(action)
            if not labels:  # a tick that fired nothing changes nothing
                _restore(model, snapshots[node])
                continue
            shown = tuple((k, world.show(v)) for k, v in inputs.items())
            before = snapshots[node][4]
            credited = tuple(
                (payee, amount - before.get(payee, 0))
                for payee, amount in sorted(model.credits.items())
                if amount > before.get(payee, 0)
            )
            step = Step(
                sender=world.name_of(sender),
                action=action,
                inputs=shown,
                value=value,
                labels=tuple(labels),
                state=model.state,
                account=sender,
                credited=credited,
            )
            target, fresh = add(now)
            graph.edges[node].append((step, target))
            if fresh:
                queue.append(target)
            if len(graph.fsm_states) >= bounds.max_states:
                graph.complete = False
                queue.clear()
                break
            _restore(model, snapshots[node])
        else:
            later = [
                v
                for v in (model.scope[name] for name in world.deadlines)
                if isinstance(v, int) and v > now
            ]
            if later and spec.plugins.timed:
                moment = min(later)
                step = Step(
                    sender="", action="wait", inputs=(("t", str(moment)),), state=model.state
                )
                target, fresh = add(moment)
                graph.edges[node].append((step, target))
                if fresh:
                    queue.append(target)
    return graph
