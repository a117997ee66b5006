"""PNML front end: nets are checked (1-safe, reachability, deadlocks) before the FSM is derived."""

from __future__ import annotations

import pytest

from edgeshield.errors import SpecError
from edgeshield.ledger import check_properties, load_pnml, parse_pnml

TOOL = '<toolspecific tool="edgeshield" version="1">{}</toolspecific>'
FINAL = TOOL.format("<final/>")


ACCESS = '<plugins access_control="true"/>'


def net(body: str, header: str = '<role name="owner" init="deployer"/>', name: str = "Gate") -> str:
    header = header if "<plugins" in header else header + ACCESS
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<pnml xmlns="http://www.pnml.org/version-2009/grammar/pnml">
  <net id="n1" type="http://www.pnml.org/version-2009/grammar/ptnet">
    <name><text>{name}</text></name>
    {TOOL.format(header)}
    <page id="p1">
{body}
    </page>
  </net>
</pnml>
"""


def place(pid: str, *, token: bool = False, final: bool = False) -> str:
    marking = "<initialMarking><text>1</text></initialMarking>" if token else ""
    return f'<place id="{pid}">{marking}{FINAL if final else ""}</place>'


def transition(tid: str, label: str | None = None, call: str = '<call role="owner"/>') -> str:
    name = f"<name><text>{label}</text></name>" if label else ""
    return f'<transition id="{tid}">{name}{TOOL.format(call) if call else ""}</transition>'


def arcs(*pairs: tuple[str, str]) -> str:
    return "\n".join(
        f'<arc id="a{i}" source="{s}" target="{t}"/>' for i, (s, t) in enumerate(pairs)
    )


SIMPLE = "\n".join(
    [
        place("Shut", token=True),
        place("Opened"),
        place("Gone", final=True),
        transition("open"),
        transition("close"),
        transition("remove.Shut", "remove"),
        transition("remove.Opened", "remove", call=""),
        arcs(
            ("Shut", "open"),
            ("open", "Opened"),
            ("Opened", "close"),
            ("close", "Shut"),
            ("Shut", "remove.Shut"),
            ("remove.Shut", "Gone"),
            ("Opened", "remove.Opened"),
            ("remove.Opened", "Gone"),
        ),
    ]
)


def test_state_machine_net_maps_place_for_place() -> None:
    spec = parse_pnml(net(SIMPLE))
    assert spec.contract == "Gate"
    assert spec.states == ("Shut", "Opened", "Gone")
    assert spec.initial == "Shut"
    assert [t.name for t in spec.transitions] == ["open", "close", "remove"]
    remove = spec.transition("remove")
    assert remove.from_ == ("Shut", "Opened")
    assert remove.to == "Gone"
    assert remove.role == ("owner",)


def test_self_loops_become_transitions_without_a_target() -> None:
    body = "\n".join(
        [
            place("Shut", token=True),
            place("Gone", final=True),
            transition("ping"),
            transition("remove"),
            arcs(("Shut", "ping"), ("ping", "Shut"), ("Shut", "remove"), ("remove", "Gone")),
        ]
    )
    assert parse_pnml(net(body)).transition("ping").to is None


CONCURRENT = "\n".join(
    [
        place("Offered", token=True),
        place("Active"),
        place("Unpaid", token=True),
        place("Paid"),
        place("Running", final=True),
        transition("accept"),
        transition("pay", call='<call role="owner" payable="true"/>'),
        transition("start"),
        arcs(
            ("Offered", "accept"),
            ("accept", "Active"),
            ("Unpaid", "pay"),
            ("pay", "Paid"),
            ("Active", "start"),
            ("Paid", "start"),
            ("start", "Running"),
        ),
    ]
)


def test_concurrent_net_compiles_through_its_reachability_graph() -> None:
    spec = parse_pnml(net(CONCURRENT))
    assert spec.states == (
        "OfferedAndUnpaid",
        "ActiveAndUnpaid",
        "OfferedAndPaid",
        "ActiveAndPaid",
        "Running",
    )
    assert spec.initial == "OfferedAndUnpaid"
    # one net transition firing from two markings towards two targets becomes two functions
    names = [t.name for t in spec.transitions]
    assert names == [
        "acceptToActiveAndUnpaid",
        "acceptToActiveAndPaid",
        "payToOfferedAndPaid",
        "payToActiveAndPaid",
        "start",
    ]
    assert spec.transition("start").from_ == ("ActiveAndPaid",)
    assert spec.transition("payToActiveAndPaid").payable
    # the synchronisation is real: start needs both tokens, in either order
    verdicts = check_properties(
        spec,
        [
            "start can only happen after acceptToActiveAndUnpaid",
            "acceptToActiveAndPaid cannot happen after start",
        ],
    )
    assert not verdicts[0].holds  # paying first, then accepting, also enables start
    assert [s.action for s in verdicts[0].trace] == [
        "payToOfferedAndPaid",
        "acceptToActiveAndPaid",
        "start",
    ]
    assert verdicts[1].holds
    # a split net transition is still named by its net name in properties
    by_net_name = check_properties(
        spec, ["start can only happen after pay", "pay cannot happen after start"]
    )
    assert all(verdict.holds for verdict in by_net_name)


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_pnml(text, source="gate.pnml")
    return str(info.value)


def test_malformed_xml_names_line_and_column() -> None:
    text = net(SIMPLE).replace('<place id="Opened">', '<place id="Opened">\n   <oops>')
    message = _error(text)
    assert message.startswith("gate.pnml: line ")
    assert "not well-formed XML: mismatched tag" in message
    line = int(message.split("line ")[1].split(",")[0])
    assert "</place>" in text.splitlines()[line - 1]


def test_doctype_is_rejected() -> None:
    text = net(SIMPLE).replace("<pnml ", '<!DOCTYPE pnml [<!ENTITY x "y">]>\n<pnml ', 1)
    assert "DOCTYPE and ENTITY declarations are not allowed" in _error(text)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "\n".join(
                [
                    place("A", token=True),
                    place("B", final=True),
                    transition("t"),
                    arcs(("A", "t"), ("t", "B"), ("t", "A")),
                ]
            ),
            "the net is not 1-safe: firing 't' puts a second token on 'B'",
        ),
        (
            "\n".join(
                [place("A", token=True), place("B"), transition("t"), arcs(("A", "t"), ("t", "B"))]
            ),
            "deadlock: the reachable marking {B} enables no transition",
        ),
        (
            "\n".join(
                [
                    place("A", token=True),
                    place("B", final=True),
                    place("C"),
                    transition("t"),
                    transition("u"),
                    arcs(("A", "t"), ("t", "B"), ("C", "u"), ("u", "B")),
                ]
            ),
            "place 'C' can never be marked (unreachable)",
        ),
        (
            "\n".join(
                [
                    place("A", token=True),
                    place("B", final=True),
                    transition("t"),
                    '<arc id="x" source="A" target="t"><inscription><text>2</text>'
                    "</inscription></arc>",
                    arcs(("t", "B")),
                ]
            ),
            "arc 'x' has weight 2; only 1 is allowed",
        ),
        (
            "\n".join(
                [place("A", token=True), place("B", final=True), transition("t"), arcs(("A", "B"))]
            ),
            "arc 'a0' must join a place and a transition",
        ),
        (
            "\n".join(
                [place("A"), place("B", final=True), transition("t"), arcs(("A", "t"), ("t", "B"))]
            ),
            "no place has an initial token",
        ),
        (
            "\n".join([place("A", token=True), transition("t"), arcs(("A", "t"))]),
            "transition 't' needs at least one input and one output place",
        ),
        (
            "\n".join([place("A", token=True), place("A")]),
            "duplicate id 'A'",
        ),
        (
            '<place id="A"><initialMarking><text>2</text></initialMarking></place>',
            "initial marking '2'; a 1-safe net has 0 or 1 token per place",
        ),
    ],
)
def test_net_errors(body: str, expected: str) -> None:
    assert expected in _error(net(body))


def test_dead_transition_is_reported_with_its_line() -> None:
    body = "\n".join(
        [
            place("A", token=True),
            place("B", final=True),
            place("C", final=True),
            transition("t"),
            transition("u"),
            arcs(("A", "t"), ("t", "B"), ("C", "u"), ("u", "B")),
        ]
    )
    # C is never marked, so that is what is reported first
    assert "place 'C' can never be marked" in _error(net(body))
    body = "\n".join(
        [
            place("A", token=True),
            place("B", final=True),
            transition("t"),
            transition("u"),
            arcs(("A", "t"), ("t", "B"), ("A", "u"), ("B", "u"), ("u", "B")),
        ]
    )
    message = _error(net(body))
    assert "transition 'u' can never fire" in message
    assert message.startswith("gate.pnml: line ")


def test_details_given_twice_are_rejected() -> None:
    body = SIMPLE.replace(
        '<transition id="remove.Opened"><name><text>remove</text></name>',
        '<transition id="remove.Opened"><name><text>remove</text></name>'
        + TOOL.format('<call role="owner"/>'),
    )
    assert "'remove' has its details given twice" in _error(net(body))


def test_spec_errors_from_the_tool_data_carry_the_line() -> None:
    body = SIMPLE.replace('<call role="owner"/>', '<call role="ghost"/>', 1)
    message = _error(net(body))
    assert "transitions[0].role: unknown role 'ghost'" in message
    line = int(message.split("line ")[1].split(",")[0])
    assert 'role="ghost"' in net(body).splitlines()[line - 1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<pnml/>", "the root element must be <pnml"),
        (
            '<pnml xmlns="http://www.pnml.org/version-2009/grammar/pnml"/>',
            "exactly one <net> is required, found 0",
        ),
    ],
)
def test_document_shape_errors(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_pnml("/nonexistent/net.pnml")


def test_doctype_after_a_long_comment_is_still_rejected() -> None:
    text = net(SIMPLE).replace(
        "<pnml ", "<!--" + "x" * 10_000 + '-->\n<!DOCTYPE pnml [<!ENTITY a "b">]>\n<pnml ', 1
    )
    assert "DOCTYPE and ENTITY declarations are not allowed" in _error(text)
