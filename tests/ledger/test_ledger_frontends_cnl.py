"""Controlled English: sentences, templates, and errors that point at the word."""

from __future__ import annotations

import re

import pytest

from edgeshield.errors import SpecError
from edgeshield.ledger import (
    Locking,
    RoleInit,
    RoleKind,
    load_text,
    parse_ontology,
    parse_pnml,
    parse_text,
)

HEAD = """This contract is called Door, described as "A door". It uses access control.
Its states are Closed and Opened, starting in Closed.
The keeper is the deployer.
"""


def test_a_small_contract() -> None:
    spec = parse_text(
        HEAD.replace("It uses access control.", "")
        + "It uses storage locking, events and no access control, and the keeper may pause it.\n"
        + """The visitor is given at deployment, described as "who may knock".
The guests is a set of addresses.
The helper is an address assigned later.
The knocks is a uint256.
The secret is a bytes32 given at deployment.
The keeper may open with code as a bytes32 when it is Closed, making it Opened,
  provided that code is not zero and `code == secret`, doing knocks is set to 0,
  announcing Unlocked, described as "Open up.".
The visitor or the keeper may knock when it is Closed or Opened, paying,
  provided that the payment is positive, doing knocks is increased by 1.
Anyone may close when it is Opened, making it Closed.
The keeper may invite with guest as an address when it is Closed,
  provided that guest is not a guests, doing guest becomes a guests
  and keeper is credited `knocks * 2`.
"""
    )
    assert spec.contract == "Door"
    assert spec.description == "A door"
    assert spec.states == ("Closed", "Opened")
    assert spec.roles["keeper"].init is RoleInit.DEPLOYER
    assert spec.roles["visitor"].init is RoleInit.CONSTRUCTOR
    assert spec.roles["guests"].kind is RoleKind.SET
    assert spec.roles["helper"].init is RoleInit.NONE
    assert spec.variables["secret"].constructor
    opener = spec.transition("open")
    assert opener.guards == ("code != bytes32(0)", "code == secret")
    assert opener.statements == ("knocks = 0",)
    assert opener.event == "Unlocked"
    assert opener.description == "Open up."
    knock = spec.transition("knock")
    assert knock.role == ("visitor", "keeper")
    assert knock.payable
    assert knock.from_ == ("Closed", "Opened")
    assert knock.to is None
    assert knock.guards == ("msg.value > 0",)
    assert spec.transition("close").role == ("anyone",)
    invite = spec.transition("invite")
    assert invite.guards == ("not guests[guest]",)
    assert invite.statements == ("guests[guest] = True", "credit(keeper, knocks * 2)")
    assert spec.plugins.locking is Locking.STORAGE
    assert spec.plugins.events
    assert not spec.plugins.counter
    assert not spec.plugins.access_control
    assert spec.plugins.pausable == "keeper"


def test_without_a_security_sentence_the_text_is_refused() -> None:
    """Access control is never off (nor on) by omission: the text must say which."""
    bare = HEAD.replace(" It uses access control.", "")
    message = _error(bare + "The keeper may open when it is Closed, making it Opened.")
    assert message.startswith("door.txt: no security sentence")
    message = _error(bare + "The keeper may open when it is Closed.\nIt uses events.")
    assert "must state 'access control' or 'no access control'" in message
    assert message.startswith("door.txt: line 5")


def test_comments_and_layout_do_not_matter() -> None:
    text = "# a comment\n" + HEAD.replace(" ", "  ") + "The keeper may open\n when it is Closed."
    assert parse_text(text).transition("open").from_ == ("Closed",)


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_text(text, source="door.txt")
    return str(info.value)


@pytest.mark.parametrize(
    ("sentence", "word"),
    [
        ("The keeper might open when it is Closed.", "might"),
        ("The keeper may open when it is Closed making it Opened.", "making"),
        ("The keeper may open when it is Closed, making Opened.", "Opened"),
        ("The keeper may open with x as a float when it is Closed.", "float"),
        ("The keeper may open when it is Closed, doing `x = 1`, `y = 2`.", "."),
        ("The keeper may open when it is Closed,, making it Opened.", ","),
    ],
)
def test_syntax_errors_point_at_the_word(sentence: str, word: str) -> None:
    message = _error(HEAD + sentence)
    column = sentence.rindex(word) + 1 if word in ".," else sentence.index(word) + 1
    assert message.startswith(f"door.txt: line 4, column {column}: unexpected word {word!r}")
    assert "expected" in message
    # the offending line is shown with a caret under the word
    shown, caret = message.splitlines()[1:3]
    assert shown.strip() == sentence
    assert caret.index("^") == shown.index(sentence) + column - 1


def test_an_error_on_a_later_line_of_a_sentence() -> None:
    message = _error(HEAD + "The keeper may open when it is Closed,\n  making Opened.")
    assert message.startswith("door.txt: line 5, column 10: unexpected word 'Opened'")


def test_states_in_any_case_and_an_object_phrase() -> None:
    spec = parse_text(
        HEAD + "The keeper may open the door when it is closed, making it opened.\n"
        "Once deadline has passed, it becomes closed when it is opened.\n"
        "The deadline is a uint256."
    )
    item = spec.transition("open")
    assert (item.from_, item.to) == (("Closed",), "Opened")
    assert spec.timed[0].to == "Closed"
    message = _error(HEAD + "The keeper may open when it is ajar.")
    assert message == (
        "door.txt: line 4, column 32: unknown state 'ajar' (the states are: Closed, Opened)"
    )


LICENCE = """This contract is called Licence. It uses access control.
Its states are Offered, Active, Suspended and Expired, starting in Offered.
The licensor is the deployer.
The licensee is given at deployment.
The licensee may accept the licence when it is offered, making it active.
The licensor may suspend the licence when it is active, making it suspended.
The licensor may resume the licence when it is suspended, making it active.
"""


def test_a_deadline_relative_to_a_function() -> None:
    spec = parse_text(
        LICENCE + "Once 30 days have passed since accept, it becomes expired "
        "when it is active or suspended, doing `expiredAt = 0`."
    )
    assert spec.variables["expiredAt"].type == "uint256"
    assert spec.transition("accept").statements == ("expiredAt = block.timestamp + 2592000",)
    (timed,) = spec.timed
    assert (timed.from_, timed.to, timed.after) == (("Active", "Suspended"), "Expired", "expiredAt")
    assert timed.statements == ("expiredAt = 0",)
    hours = parse_text(
        LICENCE + "Once 1 hour has passed since accept, it becomes Expired when it is Active."
    )
    assert hours.transition("accept").statements == ("expiredAt = block.timestamp + 3600",)


def test_a_relative_deadline_that_could_fire_before_its_function() -> None:
    message = _error(
        LICENCE + "Once 30 days have passed since accept, it becomes Expired when it is Offered."
    )
    assert message.startswith("door.txt: line 8, column 32: expiredAt is 0 until accept runs")
    assert "Offered is reachable without accept" in message
    # a timed transition reaches Active without accept too (issue 17, finding 9)
    by_time = _error(
        LICENCE
        + "The startAt is a uint256 given at deployment.\n"
        + "Once startAt has passed, it becomes Active when it is Offered.\n"
        + "Once 30 days have passed since accept, it becomes Expired when it is Active."
    )
    assert "expiredAt is 0 until accept runs, and Active is reachable without accept" in by_time
    assert "no function 'activate' to count from" in _error(
        LICENCE + "Once 3 days have passed since activate, it becomes Expired when it is Active."
    )
    assert "'expiredAt' is declared as a bool" in _error(
        LICENCE + "The expiredAt is a bool.\n"
        "Once 3 days have passed since accept, it becomes Expired when it is Active."
    )


def test_a_deadline_with_too_many_digits() -> None:
    sentence = (
        f"Once {'9' * 5000} days have passed since accept, it becomes Expired when it is Active."
    )
    assert _error(LICENCE + sentence).startswith(
        "door.txt: line 8, column 6: the number has too many digits"
    )


def test_the_expected_words_are_listed() -> None:
    message = _error(HEAD + "The keeper might open when it is Closed.")
    assert "'may'" in message
    assert "'or'" in message


def test_a_text_that_stops_mid_sentence() -> None:
    message = _error(HEAD + "The keeper may open when it is")
    assert re.match(r"door\.txt: line 4, column \d+: the text ends in the middle", message)


def test_unknown_name_in_a_template_names_line_and_column() -> None:
    message = _error(
        HEAD + "The keeper may open when it is Closed, provided that code is not zero."
    )
    assert message.startswith("door.txt: line 4, column 54: unknown name 'code'")


def test_template_type_errors() -> None:
    text = HEAD + "The label is a string.\nThe keeper may open when it is Closed, "
    assert "'label' is a string; it has no zero" in _error(
        text + "provided that label is not zero."
    )
    assert "'label' is not a uint256" in _error(text + "provided that label is positive.")
    assert "'keeper' is not a set of addresses" in _error(
        text + "provided that label is not a keeper."
    )


def test_semantic_errors_carry_the_line_and_the_field() -> None:
    message = _error(HEAD + "The keeper may open when it is Closed, making it Gone.")
    assert message == "door.txt: line 4, transitions[0]: unknown state 'Gone'"
    message = _error(HEAD + "The keeper may open when it is Closed,\n  provided that `1 +`.")
    assert message.startswith("door.txt: line 5, transitions[0].guards[0]: '1 +': syntax error")
    message = _error(HEAD + "The ghost may open when it is Closed.")
    assert message == "door.txt: line 4, transitions[0].role: unknown role 'ghost'"


def test_repeated_and_missing_sentences() -> None:
    assert "a second contract sentence (the first is on line 1)" in _error(
        HEAD + "This contract is called Other."
    )
    assert "'keeper' is already declared" in _error(HEAD + "The keeper is a uint256.")
    assert "no states sentence" in _error("This contract is called Door.\n")
    assert "input 'a' given twice" in _error(
        HEAD + "The keeper may open with a as a bool and a as a bool when it is Closed."
    )


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_text("/nonexistent/licence.txt")


def test_oversized_sources_are_refused() -> None:
    huge = "# " + "x" * 1_000_001
    for parse in (parse_text, parse_pnml, parse_ontology):
        with pytest.raises(SpecError, match="a contract source may have at most 1000000"):
            parse(huge)
