"""Differential test: random expressions and call sequences, checker semantics vs the chain.

Why (issue 17, "one semantics for checker and chain"): the explicit-state checker
(:func:`~edgeshield.ledger.explore`, behind ``ledger verify``) decides every step with
:meth:`ReferenceModel.apply`, while the chain runs the Solidity the generator rendered from the
same trees. The stateful tests compare them on the three shipped specs, whose expressions are
few and tame; here hypothesis writes the expressions. Each example is a spec whose transitions
carry random guards and statements (checked arithmetic at the uint256 boundaries, division and
modulo by zero, mapping lookups, boolean logic, state changes), compiled and deployed on the
embedded chain; a random sequence of calls then runs through the model and the contract, which
must agree on every accept or revert (the same custom error, ``Panic`` code and arguments) and,
after every call, on the FSM state, every variable and the probed mapping entries. The budget
is small (a few specs, a few dozen calls each) so the test stays fast; each example compiles
one contract.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    ContractSpec,
    ExplorationBounds,
    ReferenceModel,
    StateGraph,
    Step,
    check_properties,
    compiled_for,
    explore,
    parse_spec,
)

UINT_MAX = 2**256 - 1
#: Values at the edges of checked arithmetic: zero, small, half-range, top.
VALUES = [0, 1, 2, 3, 7, 2**128, 2**255, UINT_MAX - 1, UINT_MAX]
LITERALS = ["0", "1", "2", "3", str(2**128), str(UINT_MAX)]
UINT_NAMES = ["a", "b", "x", "y", "m[x]", "m[a]"]
FUNCTIONS = 5
NAMES = ["load"] + [f"f{i}" for i in range(FUNCTIONS)]
CALLS = 30
#: The checker's world for the graph walk: inputs 0..1, the deployer as the only account.
BOUNDS = ExplorationBounds(max_value=1, max_states=5_000, strangers=0)
PATH = 4
#: No shrinking: every shrink step compiles another contract (seconds each); the failing
#: spec and calls are printed instead.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)

# A uint256 expression as (text, is_literal): arithmetic with two literal operands is refused
# by the language (solc would fold it exactly), so the right operand then becomes ``x``.
_Uint = tuple[str, bool]


def _combine(parts: tuple[_Uint, str, _Uint]) -> _Uint:
    (left, left_lit), op, (right, right_lit) = parts
    if left_lit and right_lit:
        right = "x"
    return f"({left} {op} {right})", False


UINTS: st.SearchStrategy[_Uint] = st.recursive(
    st.one_of(
        st.sampled_from(UINT_NAMES).map(lambda n: (n, False)),
        st.sampled_from(LITERALS).map(lambda n: (n, True)),
    ),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner).map(
        _combine
    ),
    max_leaves=4,
)
UINT_TEXT = UINTS.map(lambda u: u[0])
BOOLS: st.SearchStrategy[str] = st.recursive(
    st.one_of(
        st.just("flag"),
        st.sampled_from(["True", "False"]),
        st.tuples(UINT_TEXT, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), UINT_TEXT).map(
            lambda p: f"({p[0]} {p[1]} {p[2]})"
        ),
    ),
    lambda inner: st.one_of(
        inner.map(lambda b: f"(not {b})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda p: f"({p[0]} {p[1]} {p[2]})"
        ),
    ),
    max_leaves=3,
)
STATEMENTS: st.SearchStrategy[str] = st.one_of(
    UINT_TEXT.map(lambda u: f"a = {u}"),
    UINT_TEXT.map(lambda u: f"b += {u}"),
    UINT_TEXT.map(lambda u: f"b -= {u}"),
    st.tuples(UINT_TEXT, UINT_TEXT).map(lambda p: f"m[{p[0]}] = {p[1]}"),
    BOOLS.map(lambda b: f"flag = {b}"),
)
TRANSITION = st.fixed_dictionaries(
    {
        "to": st.sampled_from(["Idle", "Busy"]),
        "guards": st.lists(BOOLS, max_size=2),
        "statements": st.lists(STATEMENTS, min_size=1, max_size=3),
    }
)


def _quote(text: str) -> str:
    return '"' + text + '"'


def _spec_text(functions: list[dict[str, Any]]) -> str:
    """A spec: ``load`` sets the inputs' targets; ``f0``.. carry the random expressions."""
    lines = [
        "contract: Differential",
        "states: [Idle, Busy]",
        "initial: Idle",
        "roles:",
        "  owner: {init: deployer}",
        "variables:",
        "  a: {type: uint256}",
        "  b: {type: uint256}",
        "  flag: {type: bool}",
        "  m: {type: 'mapping(uint256 => uint256)'}",
        "transitions:",
        "  - name: load",
        "    from: [Idle, Busy]",
        "    role: anyone",
        "    inputs: {x: uint256, y: uint256}",
        '    statements: ["a = x", "b = y", "m[y] = x"]',
    ]
    for index, item in enumerate(functions):
        lines += [
            f"  - name: f{index}",
            "    from: [Idle, Busy]",
            f"    to: {item['to']}",
            "    role: anyone",
            "    inputs: {x: uint256, y: uint256}",
            f"    guards: [{', '.join(_quote(g) for g in item['guards'])}]",
            f"    statements: [{', '.join(_quote(s) for s in item['statements'])}]",
        ]
    lines += [
        "plugins:",
        "  counter: false",
        "  events: true",
        "  access_control: true",
        "  timed: false",
    ]
    return "\n".join(lines) + "\n"


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, tuple | list):
        return tuple(_norm(v) for v in value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _on_chain(contract: Any, function: str, *args: Any, sender: str) -> tuple[Any, ...]:
    """``(None, (), events)`` if the transaction succeeds, else ``(error, args, [])``."""
    try:
        result = contract.transact(function, *args, sender=sender)
    except ContractRevertError as exc:
        return exc.error_name, _norm(exc.error_args), []
    return None, (), [(e.name, _norm(e.args)) for e in result.events]


def _agree(spec: ContractSpec, contract: Any, model: ReferenceModel) -> None:
    assert spec.states[int(contract.call("state"))] == model.state
    for name in ("a", "b", "flag"):
        assert contract.call(name) == model.value(name), name
    for key in VALUES:
        assert contract.call("m", key) == model.value("m", key), f"m[{key}]"


@pytest.mark.slow
@settings(
    max_examples=4,
    deadline=None,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(functions=st.lists(TRANSITION, min_size=FUNCTIONS, max_size=FUNCTIONS), data=st.data())
def test_random_expressions_agree_on_chain_and_in_the_checker(
    functions: list[dict[str, Any]], data: st.DataObject, chain: Chain, compiler: CompilerConfig
) -> None:
    text = _spec_text(functions)
    note(text)
    spec = parse_spec(text, source="<differential>")
    contract = chain.deploy(compiled_for(spec, compiler), [], sender=chain.accounts[0])
    model = ReferenceModel(
        spec,
        deployer=chain.accounts[0],
        constructor_args={},
        address=contract.address,
        chain_id=chain.w3.eth.chain_id,
    )
    reverted = succeeded = 0
    for _ in range(CALLS):
        function = data.draw(st.sampled_from(NAMES), label="function")
        inputs = {
            "x": data.draw(st.sampled_from(VALUES), label="x"),
            "y": data.draw(st.sampled_from(VALUES), label="y"),
        }
        sender = chain.accounts[data.draw(st.integers(0, 2), label="sender")]
        outcome = model.apply(function, inputs, sender=sender, timestamp=chain.next_timestamp())
        got = _on_chain(contract, function, inputs["x"], inputs["y"], sender=sender)
        events = [(name, _norm(args)) for name, args in outcome.events]
        assert got == (outcome.error, _norm(outcome.error_args), events), f"{function}{inputs}"
        succeeded += outcome.ok
        reverted += not outcome.ok
        _agree(spec, contract, model)
    assert reverted + succeeded == CALLS


def _call(step: Step) -> tuple[str, int, int]:
    inputs = dict(step.inputs)  # uint256 inputs are shown as their decimal value
    return step.action, int(inputs["x"]), int(inputs["y"])


def _enabled_on_chain(contract: Any, spec: ContractSpec, sender: str) -> set[tuple[str, int, int]]:
    """Every (function, x, y) over the explorer's input domain that the contract accepts now."""
    enabled = set()
    for name in (item.name for item in spec.transitions):
        for x in range(BOUNDS.max_value + 1):
            for y in range(BOUNDS.max_value + 1):
                try:
                    contract.simulate(name, x, y, sender=sender)
                except ContractRevertError:
                    continue
                enabled.add((name, x, y))
    return enabled


def _replay(contract: Any, graph: StateGraph, path: list[int], steps: list[Step]) -> None:
    """Send ``steps`` (the path's edges) and hold every node on the path to the chain.

    At each node the checker's successful calls must be exactly those the contract accepts,
    and the contract must be in the node's FSM state.
    """
    sender = contract.chain.accounts[0]  # the explorer's only account: the deployer
    spec = graph.spec
    for index, node in enumerate(path):
        assert spec.states[int(contract.call("state"))] == graph.fsm_states[node]
        if node in graph.cut:
            return
        claimed = {_call(step) for step, _ in graph.edges[node]}
        assert _enabled_on_chain(contract, spec, sender) == claimed, f"node {node} after {steps}"
        if index < len(steps):
            name, x, y = _call(steps[index])
            contract.transact(name, x, y, sender=sender)


@pytest.mark.slow
@settings(
    max_examples=3,
    deadline=None,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(functions=st.lists(TRANSITION, min_size=FUNCTIONS, max_size=FUNCTIONS), data=st.data())
def test_the_checkers_state_graph_is_what_the_chain_does(
    functions: list[dict[str, Any]], data: st.DataObject, chain: Chain, compiler: CompilerConfig
) -> None:
    """Walk the explored graph on chain: each node's successful calls are the chain's.

    The explorer merges states that differ only outside the cone of influence and stops at
    value bounds; a variable wrongly left out of the cone makes a merged node claim (or miss)
    calls that the chain refuses (or accepts) after the path that reached it.
    """
    text = _spec_text(functions)
    note(text)
    spec = parse_spec(text, source="<differential>")
    graph = explore(spec, BOUNDS)
    assert graph.complete
    contract = chain.deploy(compiled_for(spec, compiler), [], sender=chain.accounts[0])
    path, steps = [0], []
    while len(path) < PATH and graph.edges[path[-1]] and path[-1] not in graph.cut:
        step, target = data.draw(st.sampled_from(graph.edges[path[-1]]), label="edge")
        path.append(target)
        steps.append(step)
    _replay(contract, graph, path, steps)


def test_a_call_that_underflows_is_not_merged_away(chain: Chain, compiler: CompilerConfig) -> None:
    """Regression: ``b -= 1`` reverts at b == 0 only, so b is in the cone of influence.

    Before, no guard read ``b``, so the state after ``load(y=1)`` was merged with the initial
    one (b == 0), where ``f0`` underflows: the checker reported "f0 cannot happen after load"
    as holding while the chain ran ``load`` then ``f0``. The SMT harness said violated.
    """
    spec = parse_spec(
        _spec_text([{"to": "Idle", "guards": [], "statements": ["b -= 1"]}]),
        source="<underflow>",
    )
    (verdict,) = check_properties(spec, ["f0 cannot happen after load"], bounds=BOUNDS)
    assert not verdict.holds
    assert [step.action for step in verdict.trace] == ["load", "f0"]
    graph = explore(spec, BOUNDS)
    contract = chain.deploy(compiled_for(spec, compiler), [], sender=chain.accounts[0])
    # every node, reached by its shortest path from deployment
    paths: dict[int, tuple[list[int], list[Step]]] = {0: ([0], [])}
    for node in range(graph.size):
        for step, target in graph.edges[node] if node in paths else ():
            if target not in paths:
                paths[target] = ([*paths[node][0], target], [*paths[node][1], step])
    assert len(paths) == graph.size > 1
    for path, steps in paths.values():
        snapshot = chain.snapshot()
        _replay(contract, graph, path, steps)
        chain.revert(snapshot)


@pytest.mark.parametrize(
    ("statement", "x", "error"),
    [
        ("a = x - 1", 0, ("Panic", (0x11,))),
        ("a = x * 2", 2**255, ("Panic", (0x11,))),
        ("a = 1 // x", 0, ("Panic", (0x12,))),
        ("a = x % x", 0, ("Panic", (0x12,))),
        ("a = (x // 2) * 2", 5, None),
        # both operands fail: solc evaluates the right one first, and so must the model
        ("a = (x - 1) + (1 // x)", 0, ("Panic", (0x12,))),
        ("flag = (1 // x) < (x - 1)", 0, ("Panic", (0x11,))),
        ("m[x - 1] = 1 // x", 0, ("Panic", (0x12,))),
    ],
)
def test_checked_arithmetic_fails_alike(
    statement: str,
    x: int,
    error: tuple[str, tuple[int]] | None,
    chain: Chain,
    compiler: CompilerConfig,
) -> None:
    """Fixed cases the random search must cover: over/underflow, division by zero, flooring."""
    item = {"to": "Busy", "guards": [], "statements": [statement]}
    spec = parse_spec(_spec_text([item]), source="<differential>")
    contract = chain.deploy(compiled_for(spec, compiler), [], sender=chain.accounts[0])
    model = ReferenceModel(spec, deployer=chain.accounts[0], constructor_args={})
    outcome = model.apply("f0", {"x": x, "y": 0}, sender=chain.accounts[1], timestamp=1)
    error_name, error_args, _ = _on_chain(contract, "f0", x, 0, sender=chain.accounts[1])
    assert (error_name, error_args) == (outcome.error, outcome.error_args) == (error or (None, ()))
    if error is None:
        assert contract.call("a") == model.value("a") == 4
