"""Turtle ontologies: SHACL rules name the violated shape; SPARQL derives the FSM."""

from __future__ import annotations

import re

import pytest

from edgeshield.errors import SpecError
from edgeshield.ledger import RoleKind, load_ontology, parse_ontology, specs_dir


@pytest.fixture(scope="module")
def licence() -> str:
    return (specs_dir() / "model_licence.ttl").read_text(encoding="utf-8")


SMALL = """
@prefix es: <https://edgeshield.dev/ns/contract#> .
@prefix : <https://example.org/kiosk#> .

:c a es:Contract ; es:name "Kiosk" ;
    es:states ( :Closed :Serving ) ; es:initialState :Closed ;
    es:roles ( :operator :customers ) ;
    es:variables ( :sales ) ;
    es:permissions ( :open :buy :shut ) ;
    es:security [ es:accessControl true ; es:transitionCounter true ] .
:Closed a es:State ; es:name "Closed" .
:Serving a es:State ; es:name "Serving" .
:operator a es:Role ; es:name "operator" ; es:assignment es:AtDeployment .
:customers a es:Role, es:RoleSet ; es:name "customers" .
:sales a es:Asset ; es:name "sales" ; es:datatype "uint256" .
:open a es:Permission ; es:name "open" ; es:grantedTo :operator ;
    es:inState :Closed ; es:leadsTo :Serving .
:buy a es:Permission ; es:name "buy" ; es:grantedToAnyone true ; es:inState :Serving ;
    es:requiresPayment true ; es:guards ( "msg.value > 0" ) ; es:statements ( "sales += 1" ) .
:shut a es:Permission ; es:name "shut" ; es:grantedTo ( :operator ) ;
    es:inState ( :Serving :Closed ) ; es:leadsTo :Closed .
"""


def test_a_small_ontology() -> None:
    spec = parse_ontology(SMALL)
    assert spec.contract == "Kiosk"
    assert spec.states == ("Closed", "Serving")
    assert spec.roles["customers"].kind is RoleKind.SET
    assert spec.transition("buy").role == ("anyone",)
    assert spec.transition("buy").payable
    assert spec.transition("buy").to is None
    assert spec.transition("shut").from_ == ("Serving", "Closed")
    # a security node states access control; a flag it leaves out is off
    assert spec.plugins.counter
    assert spec.plugins.access_control
    assert not spec.plugins.events


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_ontology(text, source="licence.ttl")
    return str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "es:grantedTo :licensee ;",
            "",
            "shape esh:PermissionShape violated at :accept: a permission is es:grantedTo",
        ),
        (
            "es:deadline :expiresAt",
            "es:deadline :modelDigest",
            "shape esh:DeadlineShape violated at :timed0: the deadline",
        ),
        (
            "es:initialState :Offered",
            "es:initialState :Nowhere",
            "shape esh:InitialStateShape violated at :contract: the initial state",
        ),
        (
            'es:datatype "uint256"',
            'es:datatype "float"',
            "shape esh:VariableShape violated at :pricePerUse es:datatype",
        ),
        (
            'es:name "accept"',
            'es:name "Accept"',
            "shape esh:PermissionShape violated at :accept es:name",
        ),
        (
            "es:leadsTo :Active",
            "es:leadsTo :Active, :Revoked",
            "shape esh:PermissionShape violated at :accept es:leadsTo",
        ),
        (
            "es:assignment es:AtDeployment",
            "es:assignment es:Sometimes",
            "shape esh:RoleShape violated at :owner es:assignment",
        ),
    ],
)
def test_violations_name_the_shape(licence: str, old: str, new: str, expected: str) -> None:
    """Each violation also names the line of the node (or of its property) in the file."""
    assert old in licence
    text = licence.replace(old, new, 1)
    if "Nowhere" in new:
        text += ':Nowhere a es:State ; es:name "Nowhere" .\n'
    message = _error(text)
    assert expected in message
    node, *prop = expected.split(" violated at ", 1)[1].split(": ", 1)[0].split()
    block = re.search(rf"(?m)^{re.escape(node)} ", text)  # the node's own statement
    assert block is not None
    line = _line_of(text, prop[0] if prop else node, start=block.start())
    assert f"licence.ttl: line {line}: {expected}" in message


def test_turtle_syntax_error_names_the_line(licence: str) -> None:
    text = licence.replace(":accept a es:Permission ;", ':accept a es:Permission ; es:x "y ;')
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith(":accept"))
    assert _error(text) == (
        f"licence.ttl: invalid Turtle: line {line}: Bad syntax (newline found in string "
        "literal), after 'pt a es:Permission ; es:x \"y ;'"
    )
    text = licence.replace('es:name "accept" ;', 'es:name "accept" es:oops ;')
    message = _error(text)
    assert message.startswith(f"licence.ttl: invalid Turtle: line {line + 1}: Bad syntax")
    assert message.endswith(", at 'es:oops'")


def test_errors_of_the_derived_spec(licence: str) -> None:
    text = licence.replace('"prepaid += msg.value"', '"prepaid += ghost"', 1)
    line = _line_of(text, '"prepaid += ghost"')
    assert _error(text) == (
        f"licence.ttl: line {line}, transitions[0].statements[0]: 'prepaid += ghost': "
        "unknown name 'ghost'"
    )


def test_exactly_one_contract() -> None:
    assert "exactly one es:Contract is required, found 0" in _error(
        "@prefix es: <https://edgeshield.dev/ns/contract#> .\n"
    )


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_ontology("/nonexistent/licence.ttl")


def _line_of(text: str, needle: str, start: int = 0) -> int:
    return text[: text.index(needle, start)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"sales += 1"', '"sales += nope"', "transitions[1].statements[0]"),
        ('"msg.value > 0"', '"msg.value >> 0"', "transitions[1].guards[0]"),
    ],
)
def test_expression_errors_name_their_line(old: str, new: str, field: str) -> None:
    """Issue 17, low: rdflib keeps no positions, so the line is found from the literal."""
    text = SMALL.replace(old, new)
    with pytest.raises(SpecError) as info:
        parse_ontology(text, source="kiosk.ttl")
    assert f"kiosk.ttl: line {_line_of(text, new)}, {field}" in str(info.value)


def test_an_expression_written_differently_falls_back_to_its_permission(licence: str) -> None:
    """A guard whose literal does not appear verbatim still points at its permission."""
    text = licence.replace('"count > 0"', "'''count >> 0'''")
    with pytest.raises(SpecError) as info:
        parse_ontology(text, source="licence.ttl")
    line = _line_of(text, 'es:name "reportUsage"')
    assert f"line {line}, transitions[2].guards[0]" in str(info.value)


def test_a_violation_inside_a_blank_node_names_its_holder_and_line(licence: str) -> None:
    """Issue 17: a flag of the security block written as a string names that line and the
    block by its place (``[the es:security of :contract]``), not an internal node id."""
    text = licence.replace("es:accessControl true", 'es:accessControl "true"', 1)
    line = _line_of(text, 'es:accessControl "true"')
    assert (
        f"line {line}: shape esh:SecurityShape violated at [the es:security of :contract] "
        "es:accessControl: es:accessControl is stated once, as true or false"
    ) in _error(text)


def test_cyclic_blank_nodes_get_an_error_not_a_traceback() -> None:
    """A second contract held in a cycle of blank nodes: its violations name it by a bounded
    walk up its holders (each blank node is held by the other)."""
    text = SMALL + "_:a a es:Contract ; es:security _:b .\n_:b es:security _:a .\n"
    message = _error(text)
    assert message.startswith("licence.ttl: ")
    assert "[the es:security of [the es:security of" in message
