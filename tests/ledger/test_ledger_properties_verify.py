"""Property verification: the four templates, true and false, with counterexample traces."""

from __future__ import annotations

import pytest

from edgeshield.errors import SpecError
from edgeshield.ledger import (
    TICK,
    ContractSpec,
    ExplorationBounds,
    Property,
    PropertyKind,
    check_properties,
    explore,
    parse_property,
    parse_text,
    shipped_spec,
)


@pytest.mark.parametrize(
    ("text", "kind", "actions"),
    [
        ("a cannot happen after b", PropertyKind.CANNOT_AFTER, ("a", "b")),
        ("a can only happen after b", PropertyKind.ONLY_AFTER, ("a", "b")),
        ("if a happens, b can only happen after c", PropertyKind.IF_ONLY_AFTER, ("a", "b", "c")),
        ("a will eventually happen after b", PropertyKind.EVENTUALLY_AFTER, ("a", "b")),
    ],
)
def test_parse_property(text: str, kind: PropertyKind, actions: tuple[str, ...]) -> None:
    prop = parse_property(text)
    assert prop == Property(kind=kind, actions=actions)
    assert str(prop) == text
    assert parse_property("  " + text.replace(" ", "   ") + " ") == prop


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a cannot occur after b", "column 10: unexpected 'occur'"),
        ("a can happen after b", "column 7: unexpected 'happen'"),
        ("if a happens b can only happen after c", "column 14: unexpected 'b'"),
        ("a cannot happen after", "unexpected end of text"),
        ("A cannot happen after b", "column 1: unexpected 'A'"),
    ],
)
def test_malformed_properties_point_at_the_word(text: str, where: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_property(text)
    assert where in str(info.value)
    assert "the templates are" in str(info.value)


@pytest.fixture(scope="module")
def licence() -> ContractSpec:
    return shipped_spec("ModelLicence")


def test_unknown_action_is_an_error(licence: ContractSpec) -> None:
    with pytest.raises(SpecError, match="ModelLicence has no action 'activate'; its actions are"):
        check_properties(licence, ["activate can only happen after accept"])


TRUE_LICENCE = [
    "reportUsage cannot happen after revoke",
    "reportUsage can only happen after accept",
    "resume can only happen after suspend",
    "if suspend happens, reportUsage can only happen after resume",
    "reportUsage cannot happen after tick",
    "topUp cannot happen after tick",
    "unpause can only happen after pause",
]


def test_true_properties_of_the_licence(licence: ContractSpec) -> None:
    verdicts = check_properties(licence, TRUE_LICENCE)
    for verdict in verdicts:
        assert verdict.holds, verdict.explain()
        assert verdict.trace == ()
        assert verdict.explain().startswith("HOLDS  ")
        assert verdict.explored > 50


def test_cannot_after_counterexample(licence: ContractSpec) -> None:
    (verdict,) = check_properties(licence, ["reportUsage cannot happen after suspend"])
    assert not verdict.holds
    assert [(s.sender, s.action, s.state) for s in verdict.trace] == [
        ("licensee", "accept", "Active"),
        ("owner", "suspend", "Suspended"),
        ("owner", "resume", "Active"),
        ("device", "reportUsage", "Active"),
    ]
    # the licensee had to prepay for the usage report to pass its guard
    assert verdict.trace[0].value == 1
    assert verdict.trace[-1].inputs == (("count", "1"),)
    text = verdict.explain()
    assert text.splitlines()[0].startswith("FAILS  reportUsage cannot happen after suspend")
    assert "    4. device calls reportUsage(count=1) -> Active" in text


def test_only_after_and_conditional_counterexamples(licence: ContractSpec) -> None:
    only, conditional = check_properties(
        licence,
        [
            "accept can only happen after topUp",
            "if suspend happens, resume can only happen after topUp",
        ],
    )
    assert [s.action for s in only.trace] == ["accept"]
    assert [s.action for s in conditional.trace] == ["accept", "suspend", "resume"]


def test_timed_transitions_appear_as_tick_after_time_passes(licence: ContractSpec) -> None:
    (verdict,) = check_properties(licence, [f"{TICK} can only happen after accept"])
    assert not verdict.holds
    assert [s.action for s in verdict.trace] == ["wait", TICK]
    assert verdict.trace[-1].state == "Expired"
    assert "time passes (block.timestamp = 1000)" in verdict.explain()


def test_keccak_guards_are_satisfiable_in_the_exploration() -> None:
    registry = shipped_spec("ModelRegistry")
    holds, reachable = check_properties(
        registry,
        ["reveal can only happen after commit", "reveal cannot happen after commit"],
    )
    assert holds.holds
    assert not reachable.holds  # the commitment can be opened: the data domain has its preimage
    assert [s.action for s in reachable.trace] == ["register", "commit", "reveal"]


JOB = """This contract is called Job. It uses access control.
Its states are Queued, Running, Done and Dead, starting in Queued.
The boss is the deployer.
The boss may start when it is Queued, making it Running.
The boss may finish when it is Running, making it Done.
"""


def test_eventually_holds_when_every_path_gets_there() -> None:
    spec = parse_text(JOB + "The boss may abort when it is Queued, making it Dead.")
    (verdict,) = check_properties(spec, ["finish will eventually happen after start"])
    assert verdict.holds, verdict.explain()


def test_eventually_fails_on_a_loop() -> None:
    spec = parse_text(
        JOB + "The boss may poke when it is Running.\n"
        "The boss may abort when it is Queued, making it Dead."
    )
    (verdict,) = check_properties(spec, ["finish will eventually happen after start"])
    assert not verdict.holds
    assert [s.action for s in verdict.trace] == ["start"]
    assert [s.action for s in verdict.loop] == ["poke"]
    assert "then forever:" in verdict.explain()


def test_eventually_fails_on_a_dead_end() -> None:
    spec = parse_text(JOB + "The boss may abort when it is Running, making it Dead.")
    (verdict,) = check_properties(spec, ["finish will eventually happen after start"])
    assert not verdict.holds
    assert [s.action for s in verdict.trace] == ["start", "abort"]
    assert verdict.loop == ()
    assert "and then no call can succeed" in verdict.explain()


def test_timed_transitions_are_seen_with_the_events_plugin_off() -> None:
    spec = parse_text(
        JOB.replace(" It uses access control.", "")
        + "The deadline is a uint256 given at deployment.\n"
        "Once deadline has passed, it becomes Dead when it is Queued or Running.\n"
        "It uses storage locking, access control and timed transitions."
    )
    assert not spec.plugins.events
    late, never = check_properties(
        spec, ["finish cannot happen after tick", "tick cannot happen after start"]
    )
    assert late.holds
    assert not never.holds
    assert [s.action for s in never.trace] == ["start", "wait", TICK]


def test_graph_reports_terminal_and_unreachable_states() -> None:
    spec = parse_text(JOB + "The boss may abort when it is Done, making it Queued.")
    graph = explore(spec)
    assert graph.unreachable_states() == ["Dead"]
    assert graph.deadlocks() == []
    graph = explore(parse_text(JOB + "The boss may abort when it is Running, making it Dead."))
    assert sorted({graph.fsm_states[n] for n in graph.deadlocks()}) == ["Dead", "Done"]


def test_value_bound_and_state_limit_are_reported() -> None:
    audit = shipped_spec("FederatedRoundAudit")
    small = explore(audit, ExplorationBounds(max_value=1))
    large = explore(audit, ExplorationBounds(max_value=2))
    assert small.cut
    assert small.size < large.size
    limited = explore(audit, ExplorationBounds(max_states=10))
    assert not limited.complete
    (verdict,) = check_properties(
        audit, ["attest can only happen after commitRound"], graph=limited
    )
    assert "state limit reached" in verdict.explain()


def test_audit_properties() -> None:
    audit = shipped_spec("FederatedRoundAudit")
    verdicts = check_properties(
        audit,
        [
            "attest can only happen after commitRound",
            "commitRound cannot happen after finish",
            "if closeRound happens, attest can only happen after commitRound",
            "closeRound will eventually happen after commitRound",
            "attest cannot happen after closeRound",
        ],
    )
    assert [v.holds for v in verdicts] == [True, True, True, True, False]
    # a participant is enrolled between the round's commit and its attestation
    actions = [s.action for s in verdicts[-1].trace]
    assert actions[-2:] == ["enrol", "attest"]
    assert [a for a in actions if a != "enrol"][-3:] == ["closeRound", "commitRound", "attest"]


@pytest.mark.parametrize("bounds", [{"max_value": 0}, {"max_states": 0}, {"strangers": -1}])
def test_bad_bounds(bounds: dict[str, int]) -> None:
    with pytest.raises(SpecError, match="bounds"):
        ExplorationBounds(**bounds)
