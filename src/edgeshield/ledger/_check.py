"""Semantic checks of a spec beyond its shape, and the parsed form the generator consumes.

Why: a spec that pydantic accepts can still name an unknown state, reuse a name, or carry an
ill-typed guard; each such case must fail at load time with the line and field it comes from,
never later as a Solidity compiler error or, worse, as a contract that compiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgeshield.errors import SpecError
from edgeshield.ledger._expr import (
    Assign,
    Credit,
    Environment,
    Expr,
    ExprError,
    Statement,
    parse_expression,
    parse_statement,
)
from edgeshield.ledger._spec import RESERVED_TYPES, ContractSpec, RoleInit, RoleKind

__all__ = [
    "ANYONE",
    "Analysed",
    "ParsedTimed",
    "ParsedTransition",
    "analyse",
    "check_spec",
    "constructor_checks",
]

#: Role name meaning "no access restriction".
ANYONE = "anyone"


@dataclass(frozen=True, kw_only=True)
class ParsedTransition:
    """A transition's guards and statements as typed trees."""

    name: str
    guards: tuple[Expr, ...]
    statements: tuple[Statement, ...]


@dataclass(frozen=True, kw_only=True)
class ParsedTimed:
    """A timed transition's statements as typed trees."""

    statements: tuple[Statement, ...]


@dataclass(frozen=True, kw_only=True)
class Analysed:
    """A spec with every expression parsed: what the generator and the model run."""

    spec: ContractSpec
    transitions: Mapping[str, ParsedTransition]
    timed: tuple[ParsedTimed, ...]


def _walk(node: Expr | Statement) -> list[Expr]:
    if isinstance(node, Credit):
        return _walk(node.to) + _walk(node.amount)
    if isinstance(node, Assign):
        return _walk(node.target) + _walk(node.value)
    found = [node]
    for arg in node.args:
        if isinstance(arg, Expr):
            found.extend(_walk(arg))
    return found


def _uses(node: Expr | Statement, key: tuple[str, str]) -> bool:
    return any(item.kind == "global" and item.args == key for item in _walk(node))


def environment(spec: ContractSpec, inputs: Mapping[str, str]) -> Environment:
    """Names visible in a transition with ``inputs``: variables, roles, inputs."""
    names: dict[str, str] = {name: var.type for name, var in spec.variables.items()}
    for name, role in spec.roles.items():
        names[name] = "address" if role.kind is RoleKind.ADDRESS else "mapping(address => bool)"
    mutable = frozenset(names)
    names.update(inputs)
    return Environment(names=names, mutable=mutable)


def _fail(
    spec: ContractSpec,
    lines: Mapping[tuple[str | int, ...], int] | None,
    path: tuple[str | int, ...],
    message: str,
) -> SpecError:
    dotted = ""
    for part in path:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    line = None
    if lines:
        for end in range(len(path), -1, -1):
            line = lines.get(path[:end])
            if line is not None:
                break
    where = f"line {line}, {dotted}" if line is not None else dotted
    return SpecError(f"{spec.source}: {where}: {message}")


def _check_names(spec: ContractSpec, lines: Mapping[tuple[str | int, ...], int] | None) -> None:
    states = set(spec.states)
    if spec.initial not in states:
        raise _fail(spec, lines, ("initial",), f"unknown state {spec.initial!r}")
    taken: dict[str, str] = {}
    for kind, names in (("variable", spec.variables), ("role", spec.roles)):
        for name in names:
            if name in taken:
                raise _fail(spec, lines, (kind + "s", name), f"{name!r} is already a {taken[name]}")
            taken[name] = kind
    if ANYONE in taken:
        raise _fail(spec, lines, ("roles", ANYONE), f"{ANYONE!r} is reserved")
    events: set[str] = set()
    for index, item in enumerate(spec.transitions):
        path: tuple[str | int, ...] = ("transitions", index)
        if item.name in taken:
            raise _fail(
                spec, lines, (*path, "name"), f"{item.name!r} is already a {taken[item.name]}"
            )
        taken[item.name] = "transition"
        if item.event_name in events or item.event_name in spec.states:
            raise _fail(spec, lines, (*path, "event"), f"event {item.event_name!r} is not unique")
        if item.event_name in RESERVED_TYPES or item.event_name == spec.contract:
            raise _fail(
                spec,
                lines,
                (*path, "event"),
                f"event {item.event_name!r} is a name the generator declares itself",
            )
        events.add(item.event_name)
        if not item.from_:
            raise _fail(spec, lines, (*path, "from"), "at least one source state is required")
        for state in (*item.from_, *(() if item.to is None else (item.to,))):
            if state not in states:
                raise _fail(spec, lines, path, f"unknown state {state!r}")
        if not item.role:
            raise _fail(spec, lines, (*path, "role"), f"name a role, or {ANYONE!r}")
        for role in item.role:
            if role != ANYONE and role not in spec.roles:
                raise _fail(spec, lines, (*path, "role"), f"unknown role {role!r}")
        if ANYONE in item.role and len(item.role) > 1:
            raise _fail(spec, lines, (*path, "role"), f"{ANYONE!r} cannot be combined")
        for name in item.inputs:
            if name in taken and taken[name] != "transition":
                raise _fail(
                    spec, lines, (*path, "inputs", name), f"input {name!r} shadows a {taken[name]}"
                )
    for role_name, role_spec in spec.roles.items():
        if role_spec.kind is RoleKind.SET and role_spec.init is not RoleInit.NONE:
            raise _fail(
                spec, lines, ("roles", role_name, "init"), "a set role starts empty (init: none)"
            )
    pauser = spec.plugins.pausable
    if pauser is not None and pauser not in spec.roles:
        raise _fail(spec, lines, ("plugins", "pausable"), f"unknown role {pauser!r}")


def analyse(
    spec: ContractSpec, lines: Mapping[tuple[str | int, ...], int] | None = None
) -> Analysed:
    """Check ``spec`` and parse all its expressions (raises :class:`SpecError`)."""
    _check_names(spec, lines)
    parsed: dict[str, ParsedTransition] = {}
    for index, item in enumerate(spec.transitions):
        env = environment(spec, item.inputs)
        guards: list[Expr] = []
        statements: list[Statement] = []
        for kind, texts in (("guards", item.guards), ("statements", item.statements)):
            for position, text in enumerate(texts):
                path: tuple[str | int, ...] = ("transitions", index, kind, position)
                try:
                    if kind == "guards":
                        node: Expr | Statement = parse_expression(text, env, want="bool")
                        guards.append(node)  # type: ignore[arg-type]
                    else:
                        node = parse_statement(text, env)
                        statements.append(node)
                except ExprError as exc:
                    raise _fail(spec, lines, path, f"{text!r}: {exc}") from exc
                if not item.payable and _uses(node, ("msg", "value")):
                    raise _fail(
                        spec,
                        lines,
                        path,
                        "msg.value is always 0 in a transition that is not payable",
                    )
        if len(guards) > 255:
            raise _fail(spec, lines, ("transitions", index, "guards"), "at most 255 guards")
        parsed[item.name] = ParsedTransition(
            name=item.name, guards=tuple(guards), statements=tuple(statements)
        )
    timed: list[ParsedTimed] = []
    env = environment(spec, {})
    for index, entry in enumerate(spec.timed):
        path = ("timed", index)
        for state in (*entry.from_, entry.to):
            if state not in spec.states:
                raise _fail(spec, lines, path, f"unknown state {state!r}")
        if env.names.get(entry.after) != "uint256" or entry.after in spec.roles:
            raise _fail(
                spec,
                lines,
                (*path, "after"),
                f"{entry.after!r} must be a uint256 variable holding a timestamp",
            )
        statements = []
        for position, text in enumerate(entry.statements):
            try:
                statement = parse_statement(text, env)
            except ExprError as exc:
                raise _fail(
                    spec, lines, (*path, "statements", position), f"{text!r}: {exc}"
                ) from exc
            if _uses(statement, ("msg", "sender")) or _uses(statement, ("msg", "value")):
                raise _fail(
                    spec,
                    lines,
                    (*path, "statements", position),
                    "a timed transition has no caller: msg.* is not allowed",
                )
            statements.append(statement)
        timed.append(ParsedTimed(statements=tuple(statements)))
    return Analysed(spec=spec, transitions=parsed, timed=tuple(timed))


def check_spec(
    spec: ContractSpec, lines: Mapping[tuple[str | int, ...], int] | None = None
) -> None:
    """Raise :class:`SpecError` if ``spec`` is not a well-formed contract FSM."""
    analyse(spec, lines)
    for index, item in enumerate(spec.transitions):
        if item.pause_exempt and spec.plugins.pausable is None:
            raise _fail(
                spec,
                lines,
                ("transitions", index, "pause_exempt"),
                f"{item.name} is pause_exempt but the contract is not pausable",
            )
        if item.counter_exempt and not spec.plugins.counter:
            raise _fail(
                spec,
                lines,
                ("transitions", index, "counter_exempt"),
                f"{item.name} is counter_exempt but the contract has no transition counter",
            )
        if item.counter_exempt and item.to is None:
            # without a fixed target the outcome depends on the state it is taken in, which is
            # what the counter protects the caller from (a top-up into a suspended licence)
            raise _fail(
                spec,
                lines,
                ("transitions", index, "counter_exempt"),
                f"{item.name} is counter_exempt but has no fixed target state ('to')",
            )


def constructor_checks(spec: ContractSpec) -> dict[str, str]:
    """What the constructor refuses, per argument: ``"address"``, ``"zero"`` or ``"deadline"``.

    Why: a constructor argument sets something no transition can repair, and its zero value is
    what an unset variable holds anyway, so passing it is a mistake that would otherwise only
    show later (a licence at price 0, a device at address 0, a zero model digest). An address
    must not be the zero address (``ZeroAddress()``); a ``uint256`` or ``bytes32`` must not be
    zero, and a deadline of a timed transition must lie after the deployment's block
    (``InvalidArgument(position)``, the argument's 0-based position). ``bool`` and ``string``
    arguments are not checked.
    """
    deadlines = {t.after for t in spec.timed} if spec.plugins.timed else set()
    checks: dict[str, str] = {}
    for name, type_ in spec.constructor_inputs.items():
        if type_ == "address":
            checks[name] = "address"
        elif name in deadlines:
            checks[name] = "deadline"
        elif type_ in ("uint256", "bytes32"):
            checks[name] = "zero"
    return checks
