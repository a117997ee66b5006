"""Pay-per-use metering in controlled English: one sentence, the ModelLicence reporting function.

Why: "The licensee pays 0.001 ether per 1000 queries." is how a licence states its price; without
a template the owner would have to write the metering guards and statements as expressions. The
sentence expands into exactly the ``reportUsage`` transition of the shipped ModelLicence: the
reporter (default: the ``device`` role) reports ``count`` units while the licence is ``Active``;
``count * price`` is taken from ``prepaid`` and credited to the payee (default: the ``owner``),
and the units are added to a counter named after the unit. Amounts are converted to wei with
exact rational arithmetic; a price that is not a whole number of wei per unit is refused, never
rounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from lark import Token, Tree

from edgeshield.errors import SpecError
from edgeshield.ledger._spec import RESERVED, ContractSpec, RoleKind, TransitionSpec
from edgeshield.ledger.frontends._cnl_syntax import at_token

__all__ = [
    "DEFAULT_FUNCTION",
    "DEFAULT_PAYEE",
    "DEFAULT_REPORTER",
    "DEFAULT_STATE",
    "RESERVE",
    "WEI_PER",
    "Metering",
    "metering_sentence",
    "plural",
    "read_metering",
    "singular",
]

#: The function a metering sentence defines unless it says ``through <name>``.
DEFAULT_FUNCTION = "reportUsage"
#: The role that reports usage unless the sentence says ``reported by the <role>``.
DEFAULT_REPORTER = "device"
#: The role credited with the price unless the sentence says ``credited to the <role>``.
DEFAULT_PAYEE = "owner"
#: The state in which usage may be reported unless the sentence says ``when it is <states>``.
DEFAULT_STATE = "Active"
#: The uint256 variable holding the payer's prepayment, from which every use is paid.
RESERVE = "prepaid"
#: Wei in one unit of each denomination the grammar accepts.
WEI_PER = {"wei": 1, "gwei": 10**9, "ether": 10**18}

_UINT_MAX = 2**256 - 1
_MAX_AMOUNT_CHARS = 100  # more digits than any uint256 amount needs; keeps int() bounded
_IDENT = re.compile(r"[a-z][A-Za-z0-9]{0,39}")
# Solidity type names that the spec's reserved words do not list ("per byte" -> bytes)
_SOLIDITY_TYPE = re.compile(r"(bytes|string|address|bool|u?int|u?fixed)[0-9x]*")
_LITERAL = r"[1-9][0-9]*"


def plural(word: str) -> str:
    """English plural of a unit word (``query`` -> ``queries``, ``batch`` -> ``batches``)."""
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def singular(word: str) -> str | None:
    """A unit word whose :func:`plural` is ``word``, or None (the writer's inverse of it)."""
    candidates = []
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    if word.endswith("es") and word[:-2].endswith(("ss", "x", "z", "ch", "sh")):
        candidates.append(word[:-2])
    candidates.append(word[:-1])
    for candidate in candidates:
        if candidate and plural(candidate) == word:
            return candidate
    return None


@dataclass
class Metering:
    """One parsed metering sentence, waiting for the declarations it refers to."""

    index: int
    line: int
    column: int
    payer: Token
    unit: Token
    counter: str
    price: str  # a decimal wei literal or the name of a uint256 variable
    price_token: Token
    reporter: Token | None = None
    function: Token | None = None
    payee: Token | None = None
    states: list[str] | None = None
    description: str | None = None

    def _where(self, source: str) -> str:
        return f"{source}: line {self.line}, column {self.column}"

    def _role(
        self, token: Token | None, default: str, clause: str, roles: dict[str, Any], source: str
    ) -> str:
        if token is None:
            if default not in roles:
                raise SpecError(
                    f"{self._where(source)}: the metering sentence defaults to the "
                    f"{default} role, and this contract has none; add '{clause}' naming a role"
                )
            return default
        if str(token) not in roles:
            raise at_token(token, source, f"unknown role {str(token)!r}")
        return str(token)

    def expand(
        self,
        roles: dict[str, dict[str, Any]],
        variables: dict[str, dict[str, Any]],
        states: list[str],
        source: str,
    ) -> dict[str, Any]:
        """The transition this sentence stands for; declares the unit counter if it is new.

        Why: defaults and names are resolved once every sentence has been read, so the
        declarations may come before or after the metering sentence.
        """
        if str(self.payer) not in roles:
            raise at_token(self.payer, source, f"unknown role {str(self.payer)!r}")
        reporter = self._role(
            self.reporter, DEFAULT_REPORTER, ", reported by the <role>", roles, source
        )
        payee = self._role(self.payee, DEFAULT_PAYEE, ", credited to the <role>", roles, source)
        if roles[payee].get("kind") == "set":
            raise at_token(self.payee or self.payer, source, f"{payee!r} is a set of addresses")
        if self.states is None and DEFAULT_STATE not in states:
            raise SpecError(
                f"{self._where(source)}: the metering sentence defaults to the state "
                f"{DEFAULT_STATE}, and this contract has none; add ', when it is <state>'"
            )
        reserve = variables.get(RESERVE)
        if reserve is None or reserve["type"] != "uint256":
            raise at_token(
                self.payer,
                source,
                f"the {self.payer} pays from {RESERVE}, which is not declared as a uint256: "
                f"add 'The {RESERVE} is a uint256.' and a function that pays into it "
                "(e.g. '..., paying, doing the payment is added to prepaid')",
            )
        if not self.price.isdigit():
            declared = variables.get(self.price)
            if declared is None or declared["type"] != "uint256":
                raise at_token(
                    self.price_token, source, f"the price {self.price!r} is not a uint256 variable"
                )
        counter = self.counter
        if (
            not _IDENT.fullmatch(counter)
            or counter in RESERVED
            or _SOLIDITY_TYPE.fullmatch(counter)
        ):
            raise at_token(
                self.unit,
                source,
                f"the units are counted in a variable {counter!r}, which is not a usable "
                "name (reserved or too long); count in another unit word",
            )
        if counter in (RESERVE, self.price) or counter in roles:
            raise at_token(self.unit, source, f"the unit counter {counter!r} is already used")
        if counter not in variables:
            variables[counter] = {"type": "uint256", "description": f"{counter} reported so far"}
        elif variables[counter]["type"] != "uint256":
            raise at_token(self.unit, source, f"the unit counter {counter!r} is not a uint256")
        cost = f"count * {self.price}"
        entry: dict[str, Any] = {
            "name": DEFAULT_FUNCTION if self.function is None else str(self.function),
            "from": [DEFAULT_STATE] if self.states is None else self.states,
            "role": [reporter],
            "inputs": {"count": "uint256"},
            "guards": ["count > 0", f"{cost} <= {RESERVE}"],
            "statements": [
                f"{RESERVE} -= {cost}",
                f"{counter} += count",
                f"credit({payee}, {cost})",
            ],
        }
        if self.description is not None:
            entry["description"] = self.description
        return entry


def _literal_price(amount: Token, denomination: Token, per: int, unit: str, source: str) -> str:
    text = str(amount)
    if len(text) > _MAX_AMOUNT_CHARS:
        raise at_token(amount, source, f"the amount {text[:20]}... has too many digits")
    price = Fraction(text) * WEI_PER[str(denomination)] / per
    if price.denominator != 1:
        one = unit if per == 1 else singular(unit) or "unit"
        stated = f"{text} {denomination} per {'' if per == 1 else f'{per} '}{unit}"
        raise at_token(
            amount,
            source,
            f"{stated} is {price} wei per {one}, not a whole number of wei; state a price "
            "that divides exactly (amounts are never rounded)",
        )
    if price == 0:
        raise at_token(amount, source, "the price is zero; a metering sentence charges something")
    if price > _UINT_MAX:
        raise at_token(amount, source, f"{text} {denomination} does not fit in a uint256 of wei")
    return str(price.numerator)


def read_metering(
    tree: Tree[Token],
    index: int,
    states: Callable[[Tree[Token]], list[str]],
    description: Callable[[Tree[Token] | Token], str],
    source: str,
) -> Metering:
    """Read a ``metering_s`` parse tree; literal prices are checked and converted here.

    ``states`` turns a ``state_list`` tree into state names and ``description`` a
    ``description`` tree into its text (the parser's own helpers, so references agree).
    """
    payer, price, *rest = tree.children
    assert isinstance(payer, Token)
    assert isinstance(price, Tree)
    per_token: Token | None = None
    first = rest.pop(0)
    if isinstance(first, Token) and first.type == "INT":
        per_token, first = first, rest.pop(0)
    unit = first
    assert isinstance(unit, Token)
    if per_token is not None and len(per_token) > _MAX_AMOUNT_CHARS:
        raise at_token(per_token, source, "the number of units has too many digits")
    per = 1 if per_token is None else int(str(per_token))
    if per_token is not None and per == 0:
        raise at_token(per_token, source, "a price per 0 units has no meaning")
    amount, denomination = price.children
    assert isinstance(amount, Token)
    assert isinstance(denomination, Token)
    if amount.type == "AMOUNT":
        wei = _literal_price(amount, denomination, per, str(unit), source)
    else:
        if str(denomination) != "wei":
            raise at_token(
                denomination, source, "a price held in a variable is in wei: write 'wei'"
            )
        if per != 1:
            assert per_token is not None
            raise at_token(
                per_token,
                source,
                f"a price held in a variable is per single unit: write "
                f"'per {singular(str(unit)) or unit}' "
                f"(per {per} would need rounding)",
            )
        wei = str(amount)
    word = str(unit)
    meta = tree.meta
    metering = Metering(
        index=index,
        line=meta.line,
        column=meta.column,
        payer=payer,
        unit=unit,
        counter=plural(word) if per == 1 else word,
        price=wei,
        price_token=amount,
    )
    seen: dict[str, Tree[Token]] = {}
    for clause in rest:
        assert isinstance(clause, Tree)
        kind = str(clause.data)
        key = "reported" if kind.startswith("reported") else kind
        if key in seen:
            raise SpecError(
                f"{source}: line {clause.meta.line}, column {clause.meta.column}: "
                f"the {key.replace('_', ' ')} clause is given twice"
            )
        seen[key] = clause
        tokens = [child for child in clause.children if isinstance(child, Token)]
        if kind == "reported_by":
            metering.reporter = tokens[0]
            metering.function = tokens[1] if len(tokens) > 1 else None
        elif kind == "reported_through":
            metering.function = tokens[0]
        elif kind == "credited_to":
            metering.payee = tokens[0]
        elif kind == "metering_states":
            (listing,) = clause.children
            assert isinstance(listing, Tree)
            metering.states = states(listing)
        else:  # the description
            metering.description = description(clause)
    return metering


def _amount_words(wei: int) -> str:
    for name in ("ether", "gwei"):
        if wei % WEI_PER[name] == 0:
            return f"{wei // WEI_PER[name]} {name}"
    return f"{wei} wei"


def _payer(spec: ContractSpec) -> str | None:
    """The one role that pays into the reserve (payable, ``prepaid += msg.value``), if any."""
    payers = {
        item.role[0]
        for item in spec.transitions
        if item.payable and f"{RESERVE} += msg.value" in item.statements and len(item.role) == 1
    }
    payers.discard("anyone")
    return payers.pop() if len(payers) == 1 else None


def metering_sentence(spec: ContractSpec, item: TransitionSpec) -> str | None:
    """The metering sentence for ``item`` (without description and full stop), or None.

    Why: the writer uses the template wherever a transition is exactly what a metering
    sentence expands to, so that a round trip gives the same FSM and reads like the original.
    """
    if (
        item.inputs != {"count": "uint256"}
        or len(item.role) != 1
        or item.role[0] not in spec.roles
        or item.to is not None
        or item.payable
        or item.pause_exempt
        or item.counter_exempt
        or item.event is not None
        or len(item.guards) != 2
        or len(item.statements) != 3
    ):
        return None
    match = re.fullmatch(rf"count \* ({_LITERAL}|[a-z][A-Za-z0-9]*) <= {RESERVE}", item.guards[1])
    if match is None or item.guards[0] != "count > 0":
        return None
    price = match.group(1)
    cost = f"count * {price}"
    counted = re.fullmatch(r"([a-z][A-Za-z0-9]*) \+= count", item.statements[1])
    credited = re.fullmatch(
        rf"credit\(([a-z][A-Za-z0-9]*), {re.escape(cost)}\)", item.statements[2]
    )
    if counted is None or credited is None or item.statements[0] != f"{RESERVE} -= {cost}":
        return None
    counter, payee = counted.group(1), credited.group(1)
    unit = singular(counter)
    payer = _payer(spec)
    if (
        unit is None
        or payer is None
        or counter in (RESERVE, price)
        or not (price.isdigit() or price in spec.variables)
        or payee not in spec.roles
        or spec.roles[payee].kind is not RoleKind.ADDRESS
    ):
        return None
    amount = _amount_words(int(price)) if price.isdigit() else f"{price} wei"
    sentence = f"The {payer} pays {amount} per {unit}"
    if item.role[0] != DEFAULT_REPORTER or item.name != DEFAULT_FUNCTION:
        reporter = "" if item.role[0] == DEFAULT_REPORTER else f" by the {item.role[0]}"
        through = "" if item.name == DEFAULT_FUNCTION else f" through {item.name}"
        sentence += f", reported{reporter}{through}"
    if payee != DEFAULT_PAYEE:
        sentence += f", credited to the {payee}"
    if item.from_ != (DEFAULT_STATE,):
        states = list(item.from_)
        listing = states[0] if len(states) == 1 else ", ".join(states[:-1]) + " or " + states[-1]
        sentence += f", when it is {listing}"
    return sentence
