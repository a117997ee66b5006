"""Controlled English: the pay-per-use sentence ("The licensee pays 0.001 ether per ...")."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_kit import DEVICE, LICENSEE, OWNER, STRANGER

from edgeshield.cli import run
from edgeshield.errors import ContractRevertError, SpecError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    ContractSpec,
    SpecContract,
    canonical_form,
    compile_solidity,
    load_spec,
    load_text,
    parse_spec,
    parse_text,
    spec_to_text,
    specs_dir,
)
from edgeshield.ledger.frontends._cnl_metering import plural, singular

ISSUE_SENTENCE = "The licensee pays 0.001 ether per 1000 queries."
HEAD = """This contract is called QueryLicence. It uses access control.
Its states are Offered, Active and Revoked, starting in Offered.
The owner is the deployer.
The licensee is given at deployment.
The device is given at deployment.
The prepaid is a uint256.
The licensee may accept when it is Offered, making it Active, paying,
  doing the payment is added to prepaid.
"""
LINE = HEAD.count("\n") + 1  # the line of a sentence appended to HEAD
EXAMPLE = specs_dir() / "examples" / "query_licence.txt"
ETHER_MAX = str((2**256 - 1) // 10**18)  # the most whole ether a uint256 of wei holds


def _parse(sentence: str) -> ContractSpec:
    return parse_text(HEAD + sentence, source="q.txt")


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_text(text, source="q.txt")
    return str(info.value)


def test_the_issue_sentence_gives_the_metering_transition() -> None:
    spec = _parse(ISSUE_SENTENCE)
    item = spec.transition("reportUsage")
    assert item.role == ("device",)
    assert item.from_ == ("Active",)
    assert item.to is None
    assert not item.payable
    assert item.inputs == {"count": "uint256"}
    price = 10**15 // 1000  # 0.001 ether per 1000 queries, in wei per query
    assert item.guards == ("count > 0", f"count * {price} <= prepaid")
    assert item.statements == (
        f"prepaid -= count * {price}",
        "queries += count",
        f"credit(owner, count * {price})",
    )
    assert spec.variables["queries"].type == "uint256"
    assert spec.variables["queries"].description == "queries reported so far"
    # deterministic: the same text gives the same FSM, byte for byte
    assert _parse(ISSUE_SENTENCE).digest() == spec.digest()


@pytest.mark.parametrize(
    ("price", "wei", "counter"),
    [
        ("0.001 ether per 1000 queries", 10**12, "queries"),
        ("1 ether per query", 10**18, "queries"),
        ("2 gwei per use", 2 * 10**9, "uses"),
        ("1.5 gwei per 10 inferences", 150_000_000, "inferences"),
        ("0.25 ether per 4 kilobytes", 62_500_000_000_000_000, "kilobytes"),
        ("7 wei per batch", 7, "batches"),
        ("1000 wei per 1000 tokens", 1, "tokens"),
        ("0.000000000000000001 ether per day", 1, "days"),
        (f"{ETHER_MAX} ether per call", int(ETHER_MAX) * 10**18, "calls"),
    ],
)
def test_amounts_are_converted_exactly_to_wei_per_unit(price: str, wei: int, counter: str) -> None:
    item = _parse(f"The licensee pays {price}.").transition("reportUsage")
    assert item.guards[1] == f"count * {wei} <= prepaid"
    assert item.statements[1] == f"{counter} += count"


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("1 wei per 1000 queries", "1 wei per 1000 queries is 1/1000 wei per query, not a whole"),
        ("1.5 wei per query", "1.5 wei per query is 3/2 wei per query, not a whole number of wei"),
        ("0.0000000000000000001 ether per use", "is 1/10 wei per use, not a whole number"),
        ("0 ether per query", "the price is zero"),
        ("0.000 gwei per query", "the price is zero"),
        (f"{int(ETHER_MAX) + 1} ether per call", "does not fit in a uint256"),
    ],
)
def test_a_price_that_is_not_whole_wei_is_refused_at_the_amount(price: str, message: str) -> None:
    text = f"The licensee pays {price}."
    error = _error(HEAD + text)
    assert error.startswith(f"q.txt: line {LINE}, column {text.index(price) + 1}: ")
    assert message in error


@pytest.mark.parametrize(
    ("sentence", "word"),
    [
        ("The licensee pays 0.001 dollars per 1000 queries.", "dollars"),
        ("The licensee pays 0.001 ether for 1000 queries.", "for"),
        ("The licensee pays 0.001 ether per 1000 queries reported by the device.", "reported"),
        ("The licensee pays 0.001 ether per 1000 queries, paid by the device.", "paid"),
        ("The licensee pays 0.001 ether per 1000 queries, credited the owner.", "the"),
        ("The licensee pays 0.001 ether per 1000.", "."),
        ("The licensee pays 0.001 ether per 1000 queries,, when it is Active.", ","),
    ],
)
def test_a_malformed_metering_sentence_points_at_the_word(sentence: str, word: str) -> None:
    message = _error(HEAD + sentence)
    column = sentence.rindex(word) + 1  # each word is the last of its kind in the sentence
    assert message.startswith(f"q.txt: line {LINE}, column {column}: unexpected word {word!r}")
    shown, caret = message.splitlines()[1:3]
    assert shown.strip() == sentence
    assert caret.index("^") == shown.index(sentence) + column - 1


@pytest.mark.parametrize(
    ("sentence", "word", "message"),
    [
        ("The licensee pays 1 ether per 0 queries.", "0", "a price per 0 units has no meaning"),
        (f"The licensee pays 1 ether per {'9' * 5000} queries.", "9", "has too many digits"),
        (f"The licensee pays {'9' * 5000} ether per query.", "9", "has too many digits"),
        ("The licensee pays price wei per query.", "price", "'price' is not a uint256 variable"),
        ("The licensee pays gas ether per query.", "ether", "a price held in a variable is in wei"),
        ("The customer pays 1 ether per query.", "customer", "unknown role 'customer'"),
        (
            "The licensee pays 1 ether per query, reported by the robot.",
            "robot",
            "unknown role 'robot'",
        ),
        (
            "The licensee pays 1 ether per query, credited to the vendor.",
            "vendor",
            "unknown role 'vendor'",
        ),
        (
            "The licensee pays 1 ether per query, when it is gone.",
            "gone",
            "unknown state 'gone' (the states are: Offered, Active, Revoked)",
        ),
        ("The licensee pays 1 ether per credit.", "credit", "a variable 'credits', which is not"),
        ("The licensee pays 1 ether per 10 prepaid.", "prepaid", "'prepaid' is already used"),
        ("The licensee pays 1 ether per 10 gas.", "gas", "the unit counter 'gas' is not a uint256"),
        ("The licensee pays 1 ether per byte.", "byte", "a variable 'bytes', which is not"),
    ],
)
def test_semantic_errors_point_at_the_word(sentence: str, word: str, message: str) -> None:
    error = _error(HEAD + "The gas is a bool.\n" + sentence)
    assert error.startswith(f"q.txt: line {LINE + 1}, column {sentence.index(word) + 1}: ")
    assert message in error


def test_a_price_variable_is_per_single_unit() -> None:
    text = HEAD + "The fee is a uint256 given at deployment.\n"
    item = parse_text(text + "The licensee pays fee wei per use.").transition("reportUsage")
    assert item.guards[1] == "count * fee <= prepaid"
    sentence = "The licensee pays fee wei per 10 uses."
    error = _error(text + sentence)
    assert error.startswith(f"q.txt: line {LINE + 1}, column {sentence.index('10') + 1}: ")
    assert "a price held in a variable is per single unit: write 'per use'" in error


@pytest.mark.parametrize(
    ("removed", "added", "message"),
    [
        (
            "The device is given at deployment.\n",
            "",
            "defaults to the device role, and this contract has none; "
            "add ', reported by the <role>'",
        ),
        (
            "The owner is the deployer.\n",
            "The vendor is the deployer.\n",
            "defaults to the owner role, and this contract has none; "
            "add ', credited to the <role>'",
        ),
        (
            "Active",
            "",
            "defaults to the state Active, and this contract has none; add ', when it is <state>'",
        ),
        ("The prepaid is a uint256.\n", "", "add 'The prepaid is a uint256.'"),
    ],
)
def test_a_missing_default_names_the_clause_to_add(removed: str, added: str, message: str) -> None:
    head = HEAD.replace(removed, "Live" if removed == "Active" else "") + added
    error = _error(head + "The licensee pays 1 ether per query.")
    assert error.startswith("q.txt: line ")
    assert message in error


def test_clauses_override_the_defaults_in_any_order() -> None:
    text = (
        HEAD.replace("Offered, Active and Revoked", "Offered, Active, Paused and Revoked")
        + "The treasury is given at deployment.\n"
        "The licensee pays 2 gwei per inference, when it is Active or Paused,\n"
        "  credited to the treasury, reported by the licensee through reportInferences,\n"
        '  described as "Self-reported inferences.".'
    )
    item = parse_text(text).transition("reportInferences")
    assert item.role == ("licensee",)
    assert item.from_ == ("Active", "Paused")
    assert item.statements[2] == "credit(treasury, count * 2000000000)"
    assert item.description == "Self-reported inferences."


def test_a_clause_given_twice_and_a_second_metering_function() -> None:
    twice = "The licensee pays 1 ether per query, reported by the device, reported through x."
    assert f"line {LINE}, column {twice.rindex(', reported') + 1}: the reported clause is" in (
        _error(HEAD + twice)
    )
    two = HEAD + "The licensee pays 1 ether per query.\nThe licensee pays 1 wei per call."
    assert f"line {LINE + 1}, column 1: a function 'reportUsage' already exists" in _error(two)
    spec = parse_text(two.replace("per call.", "per call, reported through reportCalls."))
    assert [item.name for item in spec.transitions] == ["accept", "reportUsage", "reportCalls"]
    assert spec.variables["calls"].type == "uint256"


def test_a_declared_counter_is_used_and_must_be_a_uint256() -> None:
    spec = _parse('The queries is a uint256, described as "mine".\n' + ISSUE_SENTENCE)
    assert spec.variables["queries"].description == "mine"
    # declared after the sentence works too: names are resolved once everything is read
    assert list(_parse(ISSUE_SENTENCE + "\nThe queries is a uint256.").variables) == [
        "prepaid",
        "queries",
    ]
    error = _error(HEAD + "The queries is a bool.\n" + ISSUE_SENTENCE)
    assert "the unit counter 'queries' is not a uint256" in error


@pytest.mark.parametrize(
    ("unit", "counter"),
    [
        ("use", "uses"),
        ("query", "queries"),
        ("day", "days"),
        ("batch", "batches"),
        ("box", "boxes"),
        ("kilobyte", "kilobytes"),
        ("status", "statuses"),
    ],
)
def test_unit_plurals_and_their_inverse(unit: str, counter: str) -> None:
    assert plural(unit) == counter
    back = singular(counter)
    assert back is not None
    assert plural(back) == counter
    if unit != "status":  # "statuses" reads back as "statuse": still the same counter
        assert back == unit


def test_model_licence_uses_the_sentence_and_is_still_the_yaml_fsm() -> None:
    folder = specs_dir()
    text = (folder / "model_licence.txt").read_text(encoding="utf-8")
    assert "The licensee pays pricePerUse wei per use, reported by the device" in text
    assert "The device may reportUsage" not in text
    reference = load_spec(folder / "model_licence.yaml")
    assert canonical_form(load_text(folder / "model_licence.txt")) == canonical_form(reference)


@pytest.mark.parametrize("source", ["yaml", "example", "clauses"])
def test_the_writer_uses_the_sentence_and_round_trips(source: str) -> None:
    if source == "yaml":
        spec = load_spec(specs_dir() / "model_licence.yaml")
        expected = "The licensee pays pricePerUse wei per use, described as"
    elif source == "example":
        spec = load_text(EXAMPLE)
        expected = "The licensee pays 1000 gwei per query."
    else:
        spec = parse_text(
            HEAD + "The treasury is given at deployment.\n"
            "The licensee pays 3 wei per batch, reported by the licensee through reportBatches,"
            " credited to the treasury, when it is Offered or Active."
        )
        expected = (
            "The licensee pays 3 wei per batch, reported by the licensee through "
            "reportBatches, credited to the treasury, when it is Offered or Active."
        )
    text = spec_to_text(spec)
    assert expected in text
    assert "count * " not in text  # no backtick metering left
    assert canonical_form(parse_text(text)) == canonical_form(spec)


def test_the_writer_keeps_expressions_when_the_pattern_does_not_fit() -> None:
    spec = _parse("The licensee pays 1 ether per query.")
    data = canonical_form(spec)
    data["transitions"][1]["statements"][1] = "queries += count * 2"  # not the template any more
    changed = ContractSpec.model_validate(data)
    text = spec_to_text(changed)
    assert " pays " not in text
    assert "`queries += count * 2`" in text
    assert canonical_form(parse_text(text)) == canonical_form(changed)


def test_from_text_generates_compiles_and_meters_exactly(
    chain: Chain, compiler: CompilerConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's contract from the issue sentence debits 0.001 ether for 1000 queries."""
    solidity, spec_file = tmp_path / "query.sol", tmp_path / "query.yaml"
    assert f"\n{ISSUE_SENTENCE}\n" in EXAMPLE.read_text(encoding="utf-8")
    args = ["ledger", "from-text", str(EXAMPLE), "-o", str(solidity)]
    assert run([*args, "--spec-output", str(spec_file)]) == 0
    assert "# QueryLicence: 3 states, 4 transitions," in capsys.readouterr().out
    spec = parse_spec(spec_file.read_text(encoding="utf-8"))
    assert canonical_form(spec) == canonical_form(load_text(EXAMPLE))
    compiled = compile_solidity(solidity.read_text(encoding="utf-8"), "QueryLicence", compiler)
    owner, licensee, device = (chain.accounts[i] for i in (OWNER, LICENSEE, DEVICE))
    deployed = chain.deploy(compiled, [licensee, device], sender=owner)
    licence = SpecContract(spec, deployed)
    deposit = 10**16  # 0.01 ether
    licence.transition("accept", sender=licensee, value=deposit)
    before = licence.credits(owner)
    licence.transition("reportUsage", {"count": 1000}, sender=device)
    assert licence.get("prepaid") == deposit - 10**15  # exactly 0.001 ether for 1000 queries
    assert licence.credits(owner) - before == 10**15
    assert licence.get("queries") == 1000
    licence.transition("reportUsage", {"count": 1}, sender=device)
    assert licence.get("prepaid") == deposit - 10**15 - 10**12
    with pytest.raises(ContractRevertError, match="does not hold"):
        licence.transition("reportUsage", {"count": 10**4}, sender=device)  # 0.01 ether > left
    with pytest.raises(ContractRevertError, match="needs role device"):
        licence.transition("reportUsage", {"count": 1}, sender=chain.accounts[STRANGER])
    assert licence.get("queries") == 1001
