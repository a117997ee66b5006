"""Controlled English for contract specs: a Lark grammar whose sentences build the FSM spec.

Why: the owner of a licence can read and write "The owner may suspend when it is Active,
making it Suspended." but not a YAML state machine. Following Tateishi et al., "Automatic
smart contract generation using controlled natural language and template" (IBM Journal of
Research and Development, 2019), the text is parsed deterministically by a real grammar
(``licence.lark``, Earley with a dynamic lexer so that keywords stay usable as names), and
guards and statements come either from a small library of English templates ("count is
positive", "the payment is added to prepaid") or, for anything else, from the ledger's safe
expression language quoted in backticks. Pay-per-use metering has a sentence of its own ("The
licensee pays 0.001 ether per 1000 queries.", see :mod:`._cnl_metering`). Every error names the
line, the column and the word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from edgeshield.errors import SpecError
from edgeshield.ledger._parse import read_source
from edgeshield.ledger._spec import ContractSpec
from edgeshield.ledger.frontends._cnl_metering import Metering, read_metering
from edgeshield.ledger.frontends._cnl_syntax import (
    GRAMMAR_FILE,
    at_token,
    parser,
    quoted_string,
    syntax_error,
)
from edgeshield.ledger.frontends._common import build_spec, check_size

__all__ = ["GRAMMAR_FILE", "load_text", "parse_text"]

_ZERO = {"uint256": "0", "address": "address(0)", "bytes32": "bytes32(0)"}
_SECONDS = {"second": 1, "minute": 60, "hour": 3_600, "day": 86_400, "week": 604_800}
# Transition clauses that switch a security pattern off for one transition: spec key, wording.
_EXEMPTIONS = {
    "even_when_paused": ("pause_exempt", ", even when paused"),
    "whatever_the_counter": ("counter_exempt", ", whatever the counter"),
}


@dataclass
class _Builder:
    """Collects sentences into a raw spec and a line map."""

    source: str
    raw: dict[str, Any] = field(default_factory=dict)
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    timed: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[tuple[tuple[str | int, ...], Tree[Token], dict[str, str]]] = field(
        default_factory=list
    )
    seen: dict[str, int] = field(default_factory=dict)
    since: list[tuple[Token, str, int, int]] = field(default_factory=list)
    metering: list[Metering] = field(default_factory=list)

    def once(self, key: str, tree: Tree[Token]) -> None:
        line, column = tree.meta.line, tree.meta.column
        if key in self.seen:
            raise SpecError(
                f"{self.source}: line {line}, column {column}: a second {key} sentence "
                f"(the first is on line {self.seen[key]})"
            )
        self.seen[key] = line
        self.lines[(key,)] = line

    # -- sentences ---------------------------------------------------------------------------

    def contract(self, tree: Tree[Token]) -> None:
        name = tree.children[0]
        assert isinstance(name, Token)
        self.once("contract", tree)
        self.raw["contract"] = str(name)
        for child in tree.children[1:]:
            self.raw["description"] = self.description(child)

    def states(self, tree: Tree[Token]) -> None:
        names, initial = tree.children
        assert isinstance(names, Tree)
        assert isinstance(initial, Token)
        self.once("states", tree)
        self.raw["states"] = self.state_list(names)
        self.raw["initial"] = str(initial)
        self.lines[("initial",)] = initial.line or 0

    def role(self, tree: Tree[Token]) -> None:
        name, kind, *rest = tree.children
        assert isinstance(name, Token)
        assert isinstance(kind, Tree)
        self.declare(name)
        entry: dict[str, Any] = {
            "role_deployer": {"init": "deployer"},
            "role_constructor": {"init": "constructor"},
            "role_later": {},
            "role_set": {"kind": "set"},
        }[str(kind.data)]
        for child in rest:
            entry["description"] = self.description(child)
        self.roles[str(name)] = entry
        self.lines[("roles", str(name))] = name.line or 0

    def variable(self, tree: Tree[Token]) -> None:
        name, type_, *rest = tree.children
        assert isinstance(name, Token)
        assert isinstance(type_, Token)
        self.declare(name)
        entry: dict[str, Any] = {"type": str(type_)}
        for child in rest:
            if isinstance(child, Tree) and child.data == "at_deployment":
                entry["constructor"] = True
            else:
                entry["description"] = self.description(child)
        self.variables[str(name)] = entry
        self.lines[("variables", str(name))] = name.line or 0

    def declare(self, name: Token) -> None:
        if str(name) in self.roles or str(name) in self.variables:
            raise at_token(name, self.source, f"{str(name)!r} is already declared")

    def transition(self, tree: Tree[Token]) -> None:
        index = len(self.transitions)
        path: tuple[str | int, ...] = ("transitions", index)
        actor, name, *rest = tree.children
        assert isinstance(actor, Tree)
        assert isinstance(name, Token)
        entry: dict[str, Any] = {"name": str(name)}
        self.lines[path] = tree.meta.line
        self.lines[(*path, "name")] = name.line or 0
        if actor.data == "anyone":
            entry["role"] = ["anyone"]
        else:
            entry["role"] = [str(token) for token in actor.children]
        self.lines[(*path, "role")] = actor.meta.line
        scope = self.scope()
        for child in rest:
            assert isinstance(child, Tree)
            kind = str(child.data)
            if kind == "inputs":
                inputs: dict[str, str] = {}
                for param in child.children:
                    assert isinstance(param, Tree)
                    pname, ptype = param.children
                    assert isinstance(pname, Token)
                    if str(pname) in inputs:
                        raise at_token(pname, self.source, f"input {str(pname)!r} given twice")
                    inputs[str(pname)] = str(ptype)
                    self.lines[(*path, "inputs", str(pname))] = pname.line or 0
                entry["inputs"] = inputs
                scope = {**scope, **inputs}
            elif kind == "object":
                continue
            elif kind == "state_list":
                entry["from"] = self.state_refs(child)
                self.lines[(*path, "from")] = child.meta.line
            elif kind == "paying":
                entry["payable"] = True
            elif kind in _EXEMPTIONS:
                key, clause = _EXEMPTIONS[kind]
                if entry.get(key):
                    raise SpecError(
                        f"{self.source}: line {child.meta.line}, column {child.meta.column}: "
                        f"'{clause}' is given twice"
                    )
                entry[key] = True
                self.lines[(*path, key)] = child.meta.line
            elif kind == "making":
                target = child.children[0]
                assert isinstance(target, Token)
                entry["to"] = self.state_ref(target)
            elif kind == "provided":
                guards = entry.setdefault("guards", [])
                for guard in child.children:
                    assert isinstance(guard, Tree)
                    self.deferred.append(((*path, "guards", len(guards)), guard, scope))
                    self.lines[(*path, "guards", len(guards))] = guard.meta.line
                    guards.append(None)
            elif kind == "doing":
                self.statements(child, entry, path, scope)
            elif kind == "announcing":
                entry["event"] = str(child.children[0])
            elif kind == "description":
                entry["description"] = self.description(child)
        self.transitions.append(entry)

    def statements(
        self,
        tree: Tree[Token],
        entry: dict[str, Any],
        path: tuple[str | int, ...],
        scope: dict[str, str],
    ) -> None:
        (inner,) = tree.children if tree.data == "doing" else (tree,)
        assert isinstance(inner, Tree)
        items = entry.setdefault("statements", [])
        for statement in inner.children:
            assert isinstance(statement, Tree)
            self.deferred.append(((*path, "statements", len(items)), statement, scope))
            self.lines[(*path, "statements", len(items))] = statement.meta.line
            items.append(None)

    def metering_entry(self, tree: Tree[Token]) -> None:
        """``The licensee pays 0.001 ether per 1000 queries.``: expanded once all is read."""
        index = len(self.transitions)
        item = read_metering(tree, index, self.state_refs, self.description, self.source)
        self.metering.append(item)
        self.transitions.append({})  # keeps the sentence's place among the transitions
        path: tuple[str | int, ...] = ("transitions", index)
        for key in ((), ("name",), ("role",), ("from",), ("inputs", "count")):
            self.lines[(*path, *key)] = tree.meta.line
        for kind in ("guards", "statements"):
            for position in range(3):
                self.lines[(*path, kind, position)] = tree.meta.line

    def expand_metering(self) -> None:
        """Resolve every metering sentence's defaults and names into its transition."""
        states: list[str] = self.raw.get("states", [])
        for item in self.metering:
            entry = item.expand(self.roles, self.variables, states, self.source)
            clash = [t for t in self.transitions if t.get("name") == entry["name"]]
            if clash:
                raise SpecError(
                    f"{self.source}: line {item.line}, column {item.column}: a function "
                    f"{entry['name']!r} already exists; name this one with "
                    "', reported through <name>'"
                )
            self.transitions[item.index] = entry

    def timed_entry(self, tree: Tree[Token]) -> None:
        index = len(self.timed)
        path: tuple[str | int, ...] = ("timed", index)
        after, target, states, *rest = tree.children
        assert isinstance(after, Token)
        assert isinstance(states, Tree)
        assert isinstance(target, Token)
        entry: dict[str, Any] = {"from": self.state_refs(states), "to": self.state_ref(target)}
        entry["after"] = str(after)
        self.lines[path] = tree.meta.line
        self.lines[(*path, "after")] = after.line or 0
        for child in rest:
            assert isinstance(child, Tree)
            self.statements(child, entry, path, self.scope())
        self.timed.append(entry)

    def since_entry(self, tree: Tree[Token]) -> None:
        """A deadline relative to a function: ``Once 30 days have passed since accept, ...``."""
        amount, unit, function, target, states, *rest = tree.children
        assert isinstance(amount, Token)
        assert isinstance(function, Token)
        assert isinstance(target, Token)
        assert isinstance(states, Tree)
        to = self.state_ref(target)
        variable = to[0].lower() + to[1:] + "At"
        declared = self.variables.get(variable)
        if declared is None:
            self.variables[variable] = {
                "type": "uint256",
                "description": f"when the contract becomes {to} ({amount} {unit} after {function})",
            }
            self.lines[("variables", variable)] = tree.meta.line
        elif declared["type"] != "uint256":
            raise at_token(target, self.source, f"{variable!r} is declared as a {declared['type']}")
        if len(amount) > 80:  # int() refuses over 4300 digits; no uint256 needs more than 78
            raise at_token(amount, self.source, "the number has too many digits")
        seconds = int(str(amount)) * _SECONDS[str(unit).removesuffix("s")]
        self.since.append((function, variable, seconds, len(self.timed)))
        index = len(self.timed)
        path: tuple[str | int, ...] = ("timed", index)
        entry: dict[str, Any] = {"from": self.state_refs(states), "to": to, "after": variable}
        self.lines[path] = tree.meta.line
        for child in rest:
            assert isinstance(child, Tree)
            self.statements(child, entry, path, self.scope())
        self.timed.append(entry)

    def link_since(self) -> None:
        """Set each relative deadline in its function; refuse one that could fire before it."""
        for function, variable, seconds, index in self.since:
            matches = [t for t in self.transitions if t["name"] == str(function)]
            if not matches:
                raise at_token(
                    function, self.source, f"no function {str(function)!r} to count from"
                )
            matches[0].setdefault("statements", []).append(
                f"{variable} = block.timestamp + {seconds}"
            )
            # before the function has run the deadline is 0: the timed transition must not be
            # able to fire in any state reachable without it (timed transitions move too)
            start = self.raw.get("initial")
            reachable, frontier = {start}, [start]
            moves = [t for t in self.transitions if t["name"] != str(function)] + self.timed
            while frontier:
                state = frontier.pop()
                for item in moves:
                    if state in item.get("from", []):
                        following = item.get("to", state)
                        if following not in reachable:
                            reachable.add(following)
                            frontier.append(following)
            early = [s for s in self.timed[index]["from"] if s in reachable]
            if early:
                raise at_token(
                    function,
                    self.source,
                    f"{variable} is 0 until {function} runs, and {early[0]} is reachable "
                    f"without {function}: the contract would become {self.timed[index]['to']} "
                    "there at once",
                )

    def security(self, tree: Tree[Token]) -> None:
        features, *rest = tree.children
        assert isinstance(features, Tree)
        self.once("plugins", tree)
        plugins: dict[str, Any] = {
            "locking": "none",
            "counter": False,
            "events": False,
            "timed": False,
        }
        stated: set[str] = set()
        for feature in features.children:
            assert isinstance(feature, Tree)
            kind = str(feature.data)
            key = (
                "access_control"
                if kind == "no_access_control"
                else ("locking" if kind == "locking" else kind.removesuffix("_plugin"))
            )
            if key in stated:
                raise SpecError(
                    f"{self.source}: line {tree.meta.line}, column {tree.meta.column}: "
                    f"{key.replace('_', ' ')} is named twice in the security sentence"
                )
            stated.add(key)
            if kind == "locking":
                word = str(feature.children[0])
                plugins["locking"] = "none" if word == "no" else word
            else:
                plugins[key] = kind != "no_access_control"
        if "access_control" not in stated:
            raise SpecError(
                f"{self.source}: line {tree.meta.line}, column {tree.meta.column}: the security "
                "sentence must state 'access control' or 'no access control' (it is never off "
                "by omission)"
            )
        for child in rest:
            assert isinstance(child, Tree)
            pauser = child.children[0]
            plugins["pausable"] = str(pauser)
            assert isinstance(pauser, Token)
            self.lines[("plugins", "pausable")] = pauser.line or 0
        self.raw["plugins"] = plugins

    # -- pieces ------------------------------------------------------------------------------

    def description(self, tree: Tree[Token] | Token) -> str:
        assert isinstance(tree, Tree)
        token = tree.children[0]
        assert isinstance(token, Token)
        return quoted_string(token)

    @staticmethod
    def state_list(tree: Tree[Token]) -> list[str]:
        return [str(token) for token in tree.children if isinstance(token, Token)]

    def state_ref(self, token: Token) -> str:
        """A declared state named by ``token``, matched without regard to case."""
        declared: list[str] = self.raw.get("states", [])
        word = str(token)
        if word in declared:
            return word
        folded = [state for state in declared if state.lower() == word.lower()]
        if folded:
            return folded[0]
        if word[:1].isupper():
            return word  # the spec check reports the unknown state with its line
        known = ", ".join(declared) or "none declared yet"
        raise at_token(token, self.source, f"unknown state {word!r} (the states are: {known})")

    def state_refs(self, tree: Tree[Token]) -> list[str]:
        return [self.state_ref(t) for t in tree.children if isinstance(t, Token)]

    def scope(self) -> dict[str, str]:
        names = {name: entry["type"] for name, entry in self.variables.items()}
        for name, entry in self.roles.items():
            names[name] = "mapping(address => bool)" if entry.get("kind") == "set" else "address"
        return names

    # -- templates ---------------------------------------------------------------------------

    def typed(self, token: Token, scope: dict[str, str]) -> str:
        if str(token) not in scope:
            raise at_token(token, self.source, f"unknown name {str(token)!r} (declare it first)")
        return scope[str(token)]

    def value(self, tree: Tree[Token] | Token) -> str:
        assert isinstance(tree, Tree)
        token = tree.children[0]
        text = str(token)
        return text[1:-1].strip() if tree.data == "code_value" else text

    def render(self, tree: Tree[Token], scope: dict[str, str]) -> str:
        kind, args = str(tree.data), tree.children
        first = args[0] if args else None
        if kind == "code":
            return str(first)[1:-1].strip()
        if kind == "payment_positive":
            return "msg.value > 0"
        assert isinstance(first, Token)
        if kind == "not_zero":
            type_ = self.typed(first, scope)
            if type_ not in _ZERO:
                raise at_token(first, self.source, f"{str(first)!r} is a {type_}; it has no zero")
            return f"{first} != {_ZERO[type_]}"
        if kind == "positive":
            if self.typed(first, scope) != "uint256":
                raise at_token(first, self.source, f"{str(first)!r} is not a uint256")
            return f"{first} > 0"
        if kind in ("not_member", "make_member"):
            member, group = first, args[1]
            assert isinstance(group, Token)
            if self.typed(group, scope) not in ("mapping(address => bool)",):
                raise at_token(group, self.source, f"{str(group)!r} is not a set of addresses")
            if kind == "not_member":
                return f"not {group}[{member}]"
            return f"{group}[{member}] = True"
        if kind == "add_payment":
            return f"{first} += msg.value"
        value = self.value(args[1])
        if kind == "set_to":
            return f"{first} = {value}"
        if kind == "increase":
            return f"{first} += {value}"
        if kind == "decrease":
            return f"{first} -= {value}"
        if kind == "credit":
            return f"credit({first}, {value})"
        raise AssertionError(kind)  # pragma: no cover - the grammar has no other forms

    def finish(self) -> dict[str, Any]:
        self.expand_metering()
        self.link_since()
        for path, tree, scope in self.deferred:
            _, index, kind, position = path
            owner = self.transitions if path[0] == "transitions" else self.timed
            assert isinstance(index, int)
            assert isinstance(kind, str)
            assert isinstance(position, int)
            owner[index][kind][position] = self.render(tree, scope)
        for key in ("contract", "states", "plugins"):
            if key not in self.seen:
                example = {
                    "contract": "This contract is called Name.",
                    "states": "Its states are A and B, starting in A.",
                    "plugins": "It uses transient locking and access control.",
                }[key]
                label = "security" if key == "plugins" else key
                raise SpecError(f"{self.source}: no {label} sentence (e.g. {example!r})")
        raw = dict(self.raw)
        raw["roles"] = self.roles
        raw["variables"] = self.variables
        raw["transitions"] = self.transitions
        if self.timed:
            raw["timed"] = self.timed
        return raw


def parse_text(text: str, *, source: str = "<text>") -> ContractSpec:
    """Parse a contract written in EdgeShield's controlled English into a checked spec.

    Why: the same FSM the YAML form gives, from sentences a business owner can read; every
    error is one :class:`~edgeshield.errors.SpecError` with line, column and the word.
    """
    check_size(text, source)
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise syntax_error(exc, text, source) from exc
    builder = _Builder(source=source)
    handlers = {
        "contract_s": builder.contract,
        "states_s": builder.states,
        "role_s": builder.role,
        "variable_s": builder.variable,
        "transition_s": builder.transition,
        "timed_s": builder.timed_entry,
        "since_s": builder.since_entry,
        "security_s": builder.security,
        "metering_s": builder.metering_entry,
    }
    for sentence in tree.children:
        assert isinstance(sentence, Tree)
        handlers[str(sentence.data)](sentence)
    return build_spec(builder.finish(), source=source, lines=builder.lines)


def load_text(path: str | Path) -> ContractSpec:
    """Read and parse a controlled-English contract file (see :func:`parse_text`)."""
    path = Path(path)
    return parse_text(read_source(path), source=str(path))
