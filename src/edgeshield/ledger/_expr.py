"""The spec's small, safe expression language: parsed, type-checked, rendered and evaluated.

Why: guards and statements must not be a channel for arbitrary Solidity. They are parsed with
Python's own parser into a tiny whitelisted tree (arithmetic and comparisons on ``uint256``,
boolean logic, mapping lookups, ``keccak(...)``, ``credit(to, amount)``), type-checked against
the spec, then rendered to Solidity by the generator and evaluated by the Python reference
model from the same tree, so both sides agree by construction on what an expression means.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak as eth_keccak

__all__ = [
    "Assign",
    "Credit",
    "Environment",
    "Expr",
    "ExprError",
    "Panic",
    "Statement",
    "evaluate",
    "execute",
    "names_read",
    "parse_expression",
    "parse_statement",
    "render_expression",
    "render_statement",
]

UINT_MAX = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\x00" * 32
_GLOBALS = {
    ("msg", "sender"): "address",
    ("msg", "value"): "uint256",
    ("block", "timestamp"): "uint256",
    ("block", "number"): "uint256",
    ("block", "chainid"): "uint256",
}
#: ``address(this)``, the contract's own address, as a global (a commitment binds to it).
THIS = ("address", "this")
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "/", ast.Mod: "%"}
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


class ExprError(ValueError):
    """An expression or statement outside the language, or ill-typed."""


class Panic(Exception):  # noqa: N818 (mirrors Solidity's Panic(uint256))
    """Checked arithmetic failed, exactly where Solidity 0.8 would raise ``Panic(code)``."""

    def __init__(self, code: int) -> None:
        super().__init__(f"Panic(0x{code:02x})")
        self.code = code


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Names an expression may use, with their types; ``mutable`` are assignable names."""

    names: Mapping[str, str]
    mutable: frozenset[str]


@dataclass(frozen=True)
class Expr:
    """A typed expression node: ``kind`` says which, ``args`` its operands."""

    kind: str  # lit, name, global, index, arith, cmp, and, or, not, keccak
    type: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Assign:
    """``target = value`` or ``target op= value``; ``target`` is a name or an index node."""

    target: Expr
    op: str | None
    value: Expr


@dataclass(frozen=True)
class Credit:
    """``credit(to, amount)``: add to a pull-payment balance, never send ether directly."""

    to: Expr
    amount: Expr


Statement = Assign | Credit


def _value_type(map_type: str) -> tuple[str, str]:
    inner = map_type[len("mapping(") : -1]
    key, value = inner.split(" => ")
    return key, value


def _expr(node: ast.expr, env: Environment) -> Expr:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return Expr("lit", "bool", (node.value,))
        if isinstance(node.value, int):
            if not 0 <= node.value <= UINT_MAX:
                raise ExprError(f"integer literal {node.value} is outside uint256")
            return Expr("lit", "uint256", (node.value,))
        raise ExprError(f"literal {node.value!r} is not allowed (only integers and booleans)")
    if isinstance(node, ast.Name):
        if node.id not in env.names:
            raise ExprError(f"unknown name {node.id!r}")
        return Expr("name", env.names[node.id], (node.id,))
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in _GLOBALS:
            pair = (node.value.id, node.attr)
            return Expr("global", _GLOBALS[pair], pair)
        raise ExprError(
            f"{ast.unparse(node)!r} is not allowed (only msg.sender, msg.value, "
            "block.timestamp, block.number, block.chainid)"
        )
    if isinstance(node, ast.Subscript):
        if not isinstance(node.value, ast.Name) or node.value.id not in env.names:
            raise ExprError(f"{ast.unparse(node.value)!r} is not a mapping")
        map_type = env.names[node.value.id]
        if not map_type.startswith("mapping("):
            raise ExprError(f"{node.value.id!r} is not a mapping")
        key_type, value_type = _value_type(map_type)
        index = _expr(node.slice, env)
        if index.type != key_type:
            raise ExprError(f"{node.value.id!r} is keyed by {key_type}, not {index.type}")
        return Expr("index", value_type, (node.value.id, index))
    if isinstance(node, ast.BinOp):
        op = _ARITH.get(type(node.op))
        if op is None:
            raise ExprError(f"operator in {ast.unparse(node)!r} is not allowed")
        left, right = _expr(node.left, env), _expr(node.right, env)
        if left.type != "uint256" or right.type != "uint256":
            raise ExprError(f"{op!r} needs uint256 operands in {ast.unparse(node)!r}")
        if left.kind == "lit" and right.kind == "lit":
            # solc folds literal-only arithmetic as exact rationals (5 / 2 * 2 == 5, 1 - 2 + 3
            # does not underflow) where the model and the EVM floor and check each step:
            # one semantics means refusing them
            raise ExprError(
                f"{ast.unparse(node)!r} has only literal operands; write its value instead"
            )
        return Expr("arith", "uint256", (op, left, right))
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ExprError(f"chained comparison {ast.unparse(node)!r} is not allowed")
        op = _CMP.get(type(node.ops[0]))
        if op is None:
            raise ExprError(f"comparison in {ast.unparse(node)!r} is not allowed")
        left, right = _expr(node.left, env), _expr(node.comparators[0], env)
        if left.type != right.type:
            raise ExprError(
                f"cannot compare {left.type} with {right.type} in {ast.unparse(node)!r}"
            )
        if op in ("==", "!=") and left.type not in ("uint256", "bool", "address", "bytes32"):
            raise ExprError(f"cannot compare values of type {left.type}")
        if op not in ("==", "!=") and left.type != "uint256":
            raise ExprError(f"{op!r} needs uint256 operands in {ast.unparse(node)!r}")
        return Expr("cmp", "bool", (op, left, right))
    if isinstance(node, ast.BoolOp):
        items = tuple(_expr(value, env) for value in node.values)
        if any(item.type != "bool" for item in items):
            raise ExprError(f"and/or need bool operands in {ast.unparse(node)!r}")
        return Expr("and" if isinstance(node.op, ast.And) else "or", "bool", items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        operand = _expr(node.operand, env)
        if operand.type != "bool":
            raise ExprError(f"'not' needs a bool operand in {ast.unparse(node)!r}")
        return Expr("not", "bool", (operand,))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        name, args = node.func.id, node.args
        if name == "keccak" and args:
            items = tuple(_expr(arg, env) for arg in args)
            if any(item.type.startswith("mapping(") for item in items):
                raise ExprError("keccak() cannot hash a mapping")
            return Expr("keccak", "bytes32", items)
        if name == "address" and len(args) == 1 and isinstance(args[0], ast.Name):
            if args[0].id != "this":
                raise ExprError("address() only takes the literal 0 or this")
            return Expr("global", "address", THIS)
        if name in ("address", "bytes32") and len(args) == 1:
            arg = args[0]
            if isinstance(arg, ast.Constant) and arg.value == 0 and arg.value is not False:
                return Expr("lit", name, (ZERO_ADDRESS if name == "address" else ZERO_BYTES32,))
            raise ExprError(f"{name}() only takes the literal 0")
    raise ExprError(f"{ast.unparse(node)!r} is not allowed in the expression language")


#: Longest guard or statement accepted (keeps parsing and the generated code bounded).
MAX_LENGTH = 1000
_MAX_NODES = 200


def _parse(text: str, mode: str) -> ast.AST:
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode=mode)
    except SyntaxError as exc:
        raise ExprError(f"syntax error at column {exc.offset}: {exc.msg}") from exc
    except (RecursionError, MemoryError) as exc:
        raise ExprError("expression nested too deeply") from exc
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise ExprError(f"more than {_MAX_NODES} syntax nodes")
    return tree


def parse_expression(text: str, env: Environment, *, want: str | None = None) -> Expr:
    """Parse and type-check one expression; ``want`` is the required result type."""
    tree = _parse(text, "eval")
    assert isinstance(tree, ast.Expression)
    expr = _expr(tree.body, env)
    if want is not None and expr.type != want:
        raise ExprError(f"expected a {want} expression, got {expr.type}")
    return expr


def _target(node: ast.expr, env: Environment) -> Expr:
    root = node.value if isinstance(node, ast.Subscript) else node
    if not isinstance(root, ast.Name):
        raise ExprError(f"cannot assign to {ast.unparse(node)!r}")
    if root.id not in env.mutable:
        raise ExprError(f"{root.id!r} cannot be assigned (inputs and globals are read-only)")
    target = _expr(node, env)
    if target.type.startswith("mapping("):
        raise ExprError(f"cannot assign a whole mapping {root.id!r}")
    return target


def parse_statement(text: str, env: Environment) -> Statement:
    """Parse and type-check one statement: an assignment, ``+=``/``-=``, or ``credit()``."""
    tree = _parse(text, "exec")
    assert isinstance(tree, ast.Module)
    if len(tree.body) != 1:
        raise ExprError("exactly one statement per entry")
    node = tree.body[0]
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = _target(node.targets[0], env), _expr(node.value, env)
        if target.type != value.type:
            raise ExprError(f"cannot assign {value.type} to {target.type}")
        return Assign(target, None, value)
    if isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
        target, value = _target(node.target, env), _expr(node.value, env)
        if target.type != "uint256" or value.type != "uint256":
            raise ExprError("+= and -= need uint256 operands")
        return Assign(target, _ARITH[type(node.op)], value)
    if (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "credit"
    ):
        call = node.value
        if len(call.args) != 2 or call.keywords:
            raise ExprError("credit() takes (address, uint256)")
        to, amount = _expr(call.args[0], env), _expr(call.args[1], env)
        if to.type != "address" or amount.type != "uint256":
            raise ExprError("credit() takes (address, uint256)")
        return Credit(to, amount)
    raise ExprError(f"{ast.unparse(node)!r} is not a statement of the language")


# --- rendering to Solidity ------------------------------------------------------------------


def render_expression(expr: Expr) -> str:
    """Solidity source for ``expr``, fully parenthesised (precedence never matters)."""
    kind, args = expr.kind, expr.args
    if kind == "lit":
        value = args[0]
        if expr.type == "bool":
            return "true" if value else "false"
        if expr.type == "address":
            return "address(0)"
        if expr.type == "bytes32":
            return "bytes32(0)"
        return str(value)
    if kind == "name":
        return str(args[0])
    if kind == "global":
        return "address(this)" if args == THIS else f"{args[0]}.{args[1]}"
    if kind == "index":
        return f"{args[0]}[{render_expression(args[1])}]"
    if kind in ("arith", "cmp"):
        return f"({render_expression(args[1])} {args[0]} {render_expression(args[2])})"
    if kind in ("and", "or"):
        joiner = " && " if kind == "and" else " || "
        return "(" + joiner.join(render_expression(item) for item in args) + ")"
    if kind == "not":
        return f"!{render_expression(args[0])}"
    if kind == "keccak":
        return "keccak256(abi.encode(" + ", ".join(render_expression(a) for a in args) + "))"
    raise AssertionError(kind)


def render_statement(statement: Statement) -> str:
    """Solidity source for one statement (a credit goes to the pull-payment ledger)."""
    if isinstance(statement, Credit):
        to, amount = render_expression(statement.to), render_expression(statement.amount)
        return f"credits[{to}] += {amount};"
    target, value = render_expression(statement.target), render_expression(statement.value)
    if value.startswith("(") and value.endswith(")") and statement.value.kind == "arith":
        value = value[1:-1]
    operator = "=" if statement.op is None else f"{statement.op}="
    return f"{target} {operator} {value};"


# --- evaluation in Python (the reference model) ----------------------------------------------

Lookup = Callable[[str], Any]


def _arith(op: str, left: int, right: int) -> int:
    if op == "+":
        result = left + right
    elif op == "-":
        result = left - right
    elif op == "*":
        result = left * right
    else:
        if right == 0:
            raise Panic(0x12)
        result = left // right if op == "/" else left % right
    if not 0 <= result <= UINT_MAX:
        raise Panic(0x11)
    return result


def evaluate(expr: Expr, scope: Mapping[str, Any], glob: Mapping[str, Any]) -> Any:
    """Value of ``expr`` with Solidity 0.8 semantics (checked arithmetic, short circuits).

    Operands are evaluated in solc's order, so that when two of them would fail the model
    reports the same ``Panic`` code as the contract: a binary operator's right operand before
    its left (solc's legacy code generator, which the compiler settings use), ``and``/``or``
    left to right with short circuits, ``keccak`` arguments left to right, and in a statement
    the right-hand side before the target's index.

    ``scope`` maps names to values (mappings are ``dict`` with a zero default); ``glob`` maps
    ``"msg.sender"``-style keys. Raises :class:`Panic` where Solidity would.
    """
    kind, args = expr.kind, expr.args
    if kind == "lit":
        return args[0]
    if kind == "name":
        return scope[args[0]]
    if kind == "global":
        return glob[f"{args[0]}.{args[1]}"]
    if kind == "index":
        table = scope[args[0]]
        return table.get(_key(evaluate(args[1], scope, glob)), _zero(expr.type))
    if kind == "arith":
        right = evaluate(args[2], scope, glob)  # solc: the right operand first
        return _arith(args[0], evaluate(args[1], scope, glob), right)
    if kind == "cmp":
        right = evaluate(args[2], scope, glob)
        left = evaluate(args[1], scope, glob)
        if expr.args[1].type == "address":
            left, right = str(left).lower(), str(right).lower()
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[args[0]]
    if kind == "and":
        return all(evaluate(item, scope, glob) for item in args)
    if kind == "or":
        return any(evaluate(item, scope, glob) for item in args)
    if kind == "not":
        return not evaluate(args[0], scope, glob)
    if kind == "keccak":
        values = [evaluate(item, scope, glob) for item in args]
        return eth_keccak(abi_encode([item.type for item in args], values))
    raise AssertionError(kind)


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _zero(type_: str) -> Any:
    return {"uint256": 0, "bool": False, "address": ZERO_ADDRESS, "bytes32": ZERO_BYTES32}[type_]


def execute(
    statement: Statement,
    scope: dict[str, Any],
    glob: Mapping[str, Any],
    credits: dict[str, int],
) -> None:
    """Apply one statement to ``scope`` (and ``credits``) in place, as the contract would."""
    if isinstance(statement, Credit):
        # ``credits[to] += amount``: solc evaluates the right-hand side before the target
        amount = evaluate(statement.amount, scope, glob)
        to = str(evaluate(statement.to, scope, glob)).lower()
        credits[to] = _arith("+", credits.get(to, 0), amount)
        return
    target = statement.target
    value = evaluate(statement.value, scope, glob)
    if target.kind == "index":
        table = scope[target.args[0]]
        key = _key(evaluate(target.args[1], scope, glob))
        if statement.op is not None:
            value = _arith(statement.op, table.get(key, 0), value)
        table[key] = value
    else:
        name = target.args[0]
        if statement.op is not None:
            value = _arith(statement.op, scope[name], value)
        scope[name] = value


def names_read(node: Expr | Statement) -> set[str]:
    """Every variable or mapping name an expression or statement mentions."""
    if isinstance(node, Assign):
        return names_read(node.target) | names_read(node.value)
    if not isinstance(node, Expr):  # Credit
        return names_read(node.to) | names_read(node.amount)
    found = {str(node.args[0])} if node.kind in ("name", "index") else set()
    for arg in node.args:
        if isinstance(arg, Expr):
            found |= names_read(arg)
    return found
