"""The controlled-English parser (Lark, ``licence.lark``) and its positioned errors.

Why apart: the sentence builder in :mod:`._cnl` and the metering sentence share one parser and
one way of pointing at the word that does not fit (line, column, the word, what was expected).
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from edgeshield.errors import SpecError
from edgeshield.ledger.frontends._common import normalise_text

__all__ = ["GRAMMAR_FILE", "at_token", "parser", "quoted_string", "syntax_error"]

#: The grammar file shipped inside the package (documented in docs/contracts.md).
GRAMMAR_FILE = "licence.lark"

_FRIENDLY = {
    "TYPENAME": "a capitalised name",
    "NAME": "a lower-case name",
    "TYPE": "a type (uint256, bool, address, bytes32, string, mapping(K => V))",
    "CODE": "an `expression`",
    "STRING": 'a "quoted description"',
    "INT": "a number",
    "AMOUNT": "an amount (0.001)",
    "ETHER_UNIT": "wei, gwei or ether",
    "LOCKING": "transient, storage or no",
}


@functools.cache
def parser() -> Lark:
    """The Earley parser of the shipped grammar (built once)."""
    grammar = resources.files("edgeshield.ledger.frontends").joinpath(GRAMMAR_FILE)
    return Lark(
        grammar.read_text(encoding="utf-8"),
        parser="earley",
        lexer="dynamic",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _word_at(text: str, pos: int) -> str:
    end = pos
    while end < len(text) and not text[end].isspace() and (end == pos or text[end] not in ".,"):
        end += 1
    return text[pos:end] or text[pos : pos + 1]


def _expected(names: set[str] | frozenset[str]) -> str:
    earley = parser()
    shown: set[str] = set()
    for name in names:
        if name in _FRIENDLY:
            shown.add(_FRIENDLY[name])
            continue
        try:
            pattern = earley.get_terminal(name).pattern
        except KeyError:
            shown.add(name.lower())
            continue
        shown.add(f"'{pattern.value}'" if pattern.type == "str" else name.lower())
    return ", ".join(sorted(shown))


def syntax_error(exc: UnexpectedInput, text: str, source: str) -> SpecError:
    """Lark's parse error as a SpecError naming the line, the column and the word."""
    if isinstance(exc, UnexpectedEOF):
        lines = text.rstrip().splitlines() or [""]
        where = f"line {len(lines)}, column {len(lines[-1]) + 1}"
        return SpecError(
            f"{source}: {where}: the text ends in the middle of a sentence; "
            f"expected {_expected(set(exc.expected))}"
        )
    if isinstance(exc, UnexpectedCharacters):
        word, expected = _word_at(text, exc.pos_in_stream or 0), set(exc.allowed or ())
    elif isinstance(exc, UnexpectedToken):
        word, expected = str(exc.token), set(exc.expected)
    else:  # pragma: no cover - lark raises only the three kinds above
        word, expected = "?", set()
    line, column = exc.line, exc.column
    pointer = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
    return SpecError(
        f"{source}: line {line}, column {column}: unexpected word {word!r}; "
        f"expected {_expected(expected)}\n    {pointer}\n    {' ' * (column - 1)}^"
    )


def at_token(token: Token, source: str, message: str) -> SpecError:
    """An error at a token: the source, its line and column, then the message."""
    return SpecError(f"{source}: line {token.line}, column {token.column}: {message}")


def quoted_string(token: Token) -> str:
    """A quoted description's text, unescaped and normalised."""
    return normalise_text(json.loads(str(token), strict=False))
