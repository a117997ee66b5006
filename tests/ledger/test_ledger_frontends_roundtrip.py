"""Any valid spec survives the trip through every written form (hypothesis)."""

from __future__ import annotations

from collections import deque
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeshield.errors import SpecError
from edgeshield.ledger import (
    ContractSpec,
    canonical_form,
    parse_ontology,
    parse_pnml,
    parse_spec,
    parse_text,
    spec_to_pnml,
    spec_to_text,
    spec_to_turtle,
    spec_to_yaml,
)
from edgeshield.ledger._check import check_spec

STATES = ["Draft", "Live", "Paused", "Closed", "Gone"]
WORDS = st.sampled_from(["", "a note", 'with "quotes" and \\ slash', "überall, fine."])


@st.composite
def specs(draw: st.DrawFn) -> ContractSpec:
    states = draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=5, unique=True))
    roles: dict[str, Any] = {"owner": {"init": "deployer", "description": draw(WORDS)}}
    if draw(st.booleans()):
        roles["user"] = {"init": draw(st.sampled_from(["constructor", "none"]))}
    if draw(st.booleans()):
        roles["members"] = {"kind": "set"}
    variables: dict[str, Any] = {"total": {"type": "uint256"}}
    if draw(st.booleans()):
        variables["deadline"] = {"type": "uint256", "constructor": True, "description": "t"}
    pausable = draw(st.sampled_from([None, "owner"]))
    counter = draw(st.booleans())
    transitions = []
    for index in range(draw(st.integers(1, 5))):
        sources = draw(st.lists(st.sampled_from(states), min_size=1, max_size=3, unique=True))
        item: dict[str, Any] = {
            "name": f"step{index}",
            "from": sources,
            "role": draw(st.sampled_from([["anyone"], *([r] for r in roles), list(roles)[:2]])),
        }
        target = draw(st.sampled_from([None, *states]))
        if target is not None:
            item["to"] = target
        if draw(st.booleans()):
            item["payable"] = True
            item["guards"] = ["msg.value > 0"]
            item["statements"] = ["total += msg.value", "credit(owner, msg.value)"]
        if draw(st.booleans()):
            item["inputs"] = {"amount": "uint256", "who": "address"}
            item["guards"] = [*item.get("guards", []), "amount <= 5", "who != address(0)"]
        if pausable is not None and draw(st.booleans()):
            item["pause_exempt"] = True
        if counter and target is not None and draw(st.booleans()):
            item["counter_exempt"] = True
        if draw(st.booleans()):
            item["event"] = f"Did{index}"
        item["description"] = draw(WORDS)
        transitions.append(item)
    raw: dict[str, Any] = {
        "contract": "Sample",
        "description": draw(WORDS),
        "states": states,
        "initial": draw(st.sampled_from(states)),
        "roles": roles,
        "variables": variables,
        "transitions": transitions,
        "plugins": {
            "locking": draw(st.sampled_from(["none", "storage", "transient"])),
            "counter": counter,
            "events": draw(st.booleans()),
            "access_control": draw(st.booleans()),
            "timed": draw(st.booleans()),
            "pausable": pausable,
        },
    }
    if "deadline" in variables and len(states) > 1 and draw(st.booleans()):
        raw["timed"] = [
            {
                "from": states[:-1],
                "to": states[-1],
                "after": "deadline",
                "statements": ["total = 0"],
            }
        ]
    spec = ContractSpec.model_validate(raw)
    check_spec(spec)
    return spec


def _net_problem(spec: ContractSpec) -> bool:
    """Whether the FSM graph has an unreachable state, a dead function or an odd self-loop."""
    edges = [(s, t.target(s), t.name) for t in spec.transitions for s in t.from_]
    edges += [(s, e.to, f"timed{i}") for i, e in enumerate(spec.timed) for s in e.from_]
    seen, queue = {spec.initial}, deque([spec.initial])
    while queue:
        state = queue.popleft()
        for source, target, _ in edges:
            if source == state and target not in seen:
                seen.add(target)
                queue.append(target)
    fired = {name for source, _, name in edges if source in seen}
    names = {t.name for t in spec.transitions} | {f"timed{i}" for i in range(len(spec.timed))}
    # PNML cannot tell "to: S" from a self-loop when S is the only source state
    explicit_loop = any(t.to is not None and t.from_ == (t.to,) for t in spec.transitions)
    return seen != set(spec.states) or fired != names or explicit_loop


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_text_turtle_and_yaml_round_trip(spec: ContractSpec) -> None:
    expected = canonical_form(spec)
    assert canonical_form(parse_text(spec_to_text(spec))) == expected
    assert canonical_form(parse_spec(spec_to_yaml(spec))) == expected
    assert canonical_form(parse_ontology(spec_to_turtle(spec))) == expected


@settings(max_examples=80, deadline=None)
@given(spec=specs())
def test_pnml_round_trip_or_a_reachability_error(spec: ContractSpec) -> None:
    try:
        derived = parse_pnml(spec_to_pnml(spec))
    except SpecError:
        assert _net_problem(spec)
        return
    if not _net_problem(spec):
        assert canonical_form(derived) == canonical_form(spec)
