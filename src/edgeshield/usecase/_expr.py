"""Derived-feature expressions of a dataset schema: a tiny arithmetic language, parsed here.

Why: a schema file comes from whoever supplies the data, so its expressions must not be able
to run code. They are tokenized and parsed by hand (no ``eval``, no Python parser) into a tree
of four node kinds: numbers, column names, unary minus and the four operators ``+ - * /``,
with parentheses. The only named constant is ``pi``. Evaluation is left to right with the
usual precedence, on float64 arrays, so ``a * b * (2 * pi / 60)`` gives the same bits as the
same numpy expression.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "BinaryOp",
    "Expr",
    "ExprError",
    "Name",
    "Negate",
    "Number",
    "evaluate",
    "names",
    "parse",
]

FloatArray = npt.NDArray[np.float64]

CONSTANTS: Mapping[str, float] = {"pi": math.pi}
"""Named constants an expression may use; a column cannot take one of these names."""

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/()]))"
)


class ExprError(ValueError):
    """An expression outside the language; ``offset`` is the 0-based character it fails at."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Number:
    """A numeric literal or a named constant."""

    value: float


@dataclass(frozen=True)
class Name:
    """A reference to a column (or an earlier derived feature) by its schema name."""

    name: str


@dataclass(frozen=True)
class Negate:
    """Unary minus."""

    operand: Expr


@dataclass(frozen=True)
class BinaryOp:
    """One of ``+ - * /`` applied to two operands."""

    op: str
    left: Expr
    right: Expr


Expr = Number | Name | Negate | BinaryOp


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """Split ``text`` into ``(kind, token, offset)``; anything else is an :class:`ExprError`."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            bad = len(text) - len(text[pos:].lstrip())
            raise ExprError(f"unexpected character {text[bad]!r}", bad)
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


#: Bounds on one expression: a derived feature is a short formula, and every tree walk
#: (names, evaluation) recurses once per level.
MAX_TOKENS = 128
MAX_DEPTH = 32


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule.

    ``expr := term (('+'|'-') term)*``; ``term := factor (('*'|'/') factor)*``;
    ``factor := '-' factor | '+' factor | number | name | '(' expr ')'``.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        if len(self.tokens) > MAX_TOKENS:
            raise ExprError(
                f"{len(self.tokens)} tokens; a derived feature may have at most {MAX_TOKENS}",
                self.tokens[MAX_TOKENS][2],
            )

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _fail(self, what: str) -> ExprError:
        token = self._peek()
        if token is None:
            return ExprError(f"{what} expected at the end", len(self.text))
        return ExprError(f"{what} expected, found {token[1]!r}", token[2])

    def parse(self) -> Expr:
        if not self.tokens:
            raise ExprError("empty expression", 0)
        tree = self._expr()
        if self._peek() is not None:
            raise self._fail("an operator")
        return tree

    def _expr(self) -> Expr:
        tree = self._term()
        while (token := self._peek()) is not None and token[1] in ("+", "-"):
            self.index += 1
            tree = BinaryOp(token[1], tree, self._term())
        return tree

    def _term(self) -> Expr:
        tree = self._factor()
        while (token := self._peek()) is not None and token[1] in ("*", "/"):
            self.index += 1
            tree = BinaryOp(token[1], tree, self._factor())
        return tree

    def _factor(self) -> Expr:
        token = self._peek()
        if token is None:
            raise self._fail("a number, a column name or '('")
        kind, text, _ = token
        self.index += 1
        if kind == "number":
            return Number(float(text))
        if kind == "name":
            return Number(CONSTANTS[text]) if text in CONSTANTS else Name(text)
        if text in "+-(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprError(f"nested more than {MAX_DEPTH} deep", token[2])
        if text in "+-":
            operand = self._factor()
            self.depth -= 1
            return Negate(operand) if text == "-" else operand
        if text == "(":
            inner = self._expr()
            self.depth -= 1
            closing = self._peek()
            if closing is None or closing[1] != ")":
                raise self._fail("')'")
            self.index += 1
            return inner
        self.index -= 1
        raise self._fail("a number, a column name or '('")


def parse(text: str) -> Expr:
    """Parse one expression.

    Raises
    ------
    ExprError
        The text is not in the language; the error carries the offending character's offset.
    """
    return _Parser(text).parse()


def names(tree: Expr) -> tuple[str, ...]:
    """Column names an expression reads, in first-use order, without repeats."""
    if isinstance(tree, Name):
        return (tree.name,)
    if isinstance(tree, Negate):
        return names(tree.operand)
    if isinstance(tree, BinaryOp):
        return tuple(dict.fromkeys((*names(tree.left), *names(tree.right))))
    return ()


def evaluate(tree: Expr, columns: Mapping[str, FloatArray], rows: int) -> FloatArray:
    """Value of ``tree`` per row, given each referenced column as a float64 array."""
    if isinstance(tree, Number):
        return np.full(rows, tree.value, dtype=np.float64)
    if isinstance(tree, Name):
        return np.asarray(columns[tree.name], dtype=np.float64)
    if isinstance(tree, Negate):
        return -evaluate(tree.operand, columns, rows)
    left, right = _operand(tree.left, columns, rows), _operand(tree.right, columns, rows)
    if tree.op == "+":
        result = left + right
    elif tree.op == "-":
        result = left - right
    elif tree.op == "*":
        result = left * right
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            result = left / right
    return np.asarray(np.broadcast_to(result, (rows,)), dtype=np.float64)


def _operand(tree: Expr, columns: Mapping[str, FloatArray], rows: int) -> FloatArray | float:
    """A constant sub-tree stays a Python float, so ``2 * pi / 60`` folds like numpy's."""
    if not names(tree):
        return _constant(tree)
    return evaluate(tree, columns, rows)


def _constant(tree: Expr) -> float:
    if isinstance(tree, Number):
        return tree.value
    if isinstance(tree, Negate):
        return -_constant(tree.operand)
    if isinstance(tree, BinaryOp):
        left, right = _constant(tree.left), _constant(tree.right)
        if tree.op == "+":
            return left + right
        if tree.op == "-":
            return left - right
        if tree.op == "*":
            return left * right
        return left / right if right != 0 else math.nan
    raise TypeError(tree)  # pragma: no cover - a Name is never constant
