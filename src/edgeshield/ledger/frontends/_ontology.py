"""Licence-domain ontologies in Turtle as contract specs: SHACL rules, then the derived FSM.

Why: following Choudhury et al., "Auto-Generation of Smart Contracts from Domain-Specific
Ontologies and Semantic Rules" (IEEE Blockchain, 2018), a licence is described with domain
concepts (roles, assets and terms, permissions a role holds in some states, obligations that
fall due at a deadline) in RDF; SHACL shapes (``contract_shapes.ttl``, checked with pySHACL,
SPARQL-based constraints included) reject an ill-formed description naming the violated
shape; the FSM spec is then read off the validated graph (a SPARQL query finds the contract,
RDF lists keep the order of states, roles, variables and permissions): one function per
``es:Permission``, one timed transition per ``es:Obligation``.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any

from rdflib import RDF, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from edgeshield.errors import SpecError
from edgeshield.ledger._parse import read_source
from edgeshield.ledger._spec import ContractSpec, RoleInit, RoleKind
from edgeshield.ledger.frontends._common import build_spec, check_size, normalise_text

__all__ = ["ES", "SHAPES_FILE", "load_ontology", "parse_ontology", "spec_to_turtle"]

#: The EdgeShield contract vocabulary.
ES = Namespace("https://edgeshield.dev/ns/contract#")
#: SHACL shapes shipped in the package.
SHAPES_FILE = "contract_shapes.ttl"
_SH = Namespace("http://www.w3.org/ns/shacl#")
_ASSIGNMENT = {
    ES.AtDeployment: RoleInit.DEPLOYER,
    ES.AtConstruction: RoleInit.CONSTRUCTOR,
    ES.Later: RoleInit.NONE,
}


@functools.cache
def _shapes() -> Graph:
    text = resources.files("edgeshield.ledger.frontends").joinpath(SHAPES_FILE)
    return Graph().parse(data=text.read_text(encoding="utf-8"), format="turtle")


def _short(graph: Graph, node: Node | None) -> str:
    if node is None:
        return "?"
    if isinstance(node, URIRef):
        try:
            return graph.namespace_manager.normalizeUri(node)
        except ValueError:  # pragma: no cover - rdflib cannot shorten this IRI
            return f"<{node}>"
    return str(node)


def _validate(graph: Graph, text: str, source: str) -> None:
    from pyshacl import validate  # late import: pySHACL loads owlrl, slow to import

    conforms, results, _ = validate(graph, shacl_graph=_shapes(), advanced=True)
    if conforms:
        return
    shapes = _shapes()
    problems: list[tuple[int, str]] = []
    for result in results.subjects(RDF.type, _SH.ValidationResult):
        shape = results.value(result, _SH.sourceShape)
        if isinstance(shape, BNode):  # a property shape: name the node shape holding it
            owner = shapes.value(None, _SH.property, shape)
            shape = owner if owner is not None else shape
        focus = results.value(result, _SH.focusNode)
        path = results.value(result, _SH.resultPath)
        message = results.value(result, _SH.resultMessage)
        where = _node(graph, focus) + (f" {_short(graph, path)}" if path is not None else "")
        line = _line_of(graph, text, focus, path)
        at = f"line {line}: " if line else ""
        problems.append((line, f"{at}shape {_short(shapes, shape)} violated at {where}: {message}"))
    unique = sorted(set(problems))
    raise SpecError(f"{source}: " + "; ".join(problem for _, problem in unique[:5]))


def _node(graph: Graph, node: Node | None, depth: int = 0) -> str:
    """A node as the author wrote it: a blank node by the property that holds it."""
    if isinstance(node, BNode) and depth < 8:  # bounded: blank nodes may form a cycle
        holders = list(graph.subject_predicates(node))
        if len(holders) == 1:
            holder, predicate = holders[0]
            return f"[the {_short(graph, predicate)} of {_node(graph, holder, depth + 1)}]"
    return _short(graph, node)


def _line_of(graph: Graph, text: str, focus: Node | None, path: Node | None) -> int:
    """The line where ``focus`` (and on it ``path``) is written; 0 where it cannot be found.

    Why: rdflib keeps no positions, so a SHACL violation would name a node but not where to
    look; the node is found as a statement's subject (or, for a blank node, by the property
    that holds it), the property as the first use of its name within that statement.
    """
    block = _block(graph, text, focus, depth=0)
    if block is None:
        return 0
    start, end = block
    if path is not None:
        found = re.compile(r"(?<![\w:])" + re.escape(_short(graph, path)) + r"(?![\w-])").search(
            text, start, end
        )
        if found is not None:
            start = found.start()
    return text.count("\n", 0, start) + 1


def _block(graph: Graph, text: str, node: Node | None, *, depth: int) -> tuple[int, int] | None:
    """Where the statement describing ``node`` starts and ends in ``text`` (approximately)."""
    if isinstance(node, URIRef):
        name = re.escape(_short(graph, node))
        # a subject: at the start of a line and followed by a predicate (not a list item)
        subject = r"(?m)^[ \t]*" + name + r"[ \t]+(?=a\b|[\w-]*:[\w-]|<)"
        found = re.compile(subject).search(text)
        if found is None:
            return None
        end = re.compile(r"\.[ \t]*(?:#[^\n]*)?(?:\n|$)").search(text, found.end())
        return found.start(), len(text) if end is None else end.end()
    if isinstance(node, BNode) and depth < 8:
        holders = list(graph.subject_predicates(node))
        if len(holders) != 1:
            return None
        holder, predicate = holders[0]
        outer = _block(graph, text, holder, depth=depth + 1)
        if outer is None:
            return None
        name = re.escape(_short(graph, predicate))
        found = re.compile(r"(?<![\w:])" + name + r"(?![\w-])").search(text, *outer)
        return outer if found is None else (found.start(), outer[1])
    return None


#: Every es: term a contract description may use; any other (a misspelt ``es:gaurds``) is refused.
_KNOWN = frozenset(
    ES[name]
    for name in [
        "Contract",
        "State",
        "Role",
        "RoleSet",
        "Variable",
        "Asset",
        "Term",
        "Record",
        "Permission",
        "Obligation",
        "AtDeployment",
        "AtConstruction",
        "Later",
        "name",
        "description",
        "states",
        "initialState",
        "roles",
        "variables",
        "permissions",
        "obligations",
        "security",
        "assignment",
        "datatype",
        "setAtConstruction",
        "inState",
        "leadsTo",
        "grantedTo",
        "grantedToAnyone",
        "inputs",
        "guards",
        "statements",
        "requiresPayment",
        "exemptFromPause",
        "exemptFromCounter",
        "event",
        "deadline",
        "locking",
        "transitionCounter",
        "events",
        "accessControl",
        "timedTransitions",
        "pausableBy",
    ]
)
_MAX_LIST = 10_000


def _check_terms(graph: Graph, source: str) -> None:
    """Refuse es: terms outside the vocabulary (a misspelt property would be ignored)."""
    unknown = sorted(
        {
            _short(graph, term)
            for triple in graph
            for term in triple
            if isinstance(term, URIRef) and term.startswith(str(ES)) and term not in _KNOWN
        }
    )
    if unknown:
        raise SpecError(
            f"{source}: unknown term(s) of the es: vocabulary: {', '.join(unknown[:5])}"
        )


def _items(graph: Graph, node: Node | None, source: str = "<turtle>") -> list[Node]:
    """A single node, or the members of an RDF list, in order (a cyclic list is refused)."""
    if node is None:
        return []
    if node != RDF.nil and graph.value(node, RDF.first) is None:
        return [node]
    items: list[Node] = []
    seen: set[Node] = set()
    while node != RDF.nil:
        if node in seen or len(items) >= _MAX_LIST:
            raise SpecError(
                f"{source}: the RDF list at {_short(graph, node)} is cyclic or too long"
            )
        seen.add(node)
        first = graph.value(node, RDF.first)
        rest = graph.value(node, RDF.rest)
        if first is None or rest is None:
            raise SpecError(f"{source}: the RDF list at {_short(graph, node)} is malformed")
        items.append(first)
        node = rest
    return items


def _name(graph: Graph, node: Node, source: str) -> str:
    value = graph.value(node, ES.name)
    if value is None:
        raise SpecError(f"{source}: {_short(graph, node)} has no es:name")
    return str(value)


def _text(graph: Graph, node: Node, prop: URIRef) -> str | None:
    value = graph.value(node, prop)
    return None if value is None else str(value)


def _flag(graph: Graph, node: Node, prop: URIRef, source: str = "<turtle>") -> bool:
    """An absent flag is false; a present one is exactly ``true`` or ``false`` (xsd:boolean)."""
    value = graph.value(node, prop)
    if value is None:
        return False
    if (
        isinstance(value, Literal)
        and value.datatype == XSD.boolean
        and str(value)
        in (
            "true",
            "false",
        )
    ):
        return str(value) == "true"
    raise SpecError(
        f"{source}: {_short(graph, node)} {_short(graph, prop)} must be true or false "
        f"(an xsd:boolean), not {value.n3()}"
    )


def _strings(graph: Graph, node: Node, prop: URIRef, source: str) -> list[str]:
    return [str(item) for item in _items(graph, graph.value(node, prop), source)]


def _contract(graph: Graph, source: str) -> Node:
    rows = list(graph.query("SELECT ?c WHERE { ?c a es:Contract }", initNs={"es": ES}))
    if len(rows) != 1:
        raise SpecError(f"{source}: exactly one es:Contract is required, found {len(rows)}")
    node: Node = rows[0][0]  # type: ignore[index]
    return node


def _derive(graph: Graph, source: str) -> dict[str, Any]:
    contract = _contract(graph, source)
    states = [
        _name(graph, s, source) for s in _items(graph, graph.value(contract, ES.states), source)
    ]
    raw: dict[str, Any] = {
        "contract": _name(graph, contract, source),
        "states": states,
        "initial": _name(graph, graph.value(contract, ES.initialState), source),  # type: ignore[arg-type]
        "roles": {},
        "variables": {},
        "transitions": [],
    }
    description = _text(graph, contract, ES.description)
    if description:
        raw["description"] = normalise_text(description)
    for role in _items(graph, graph.value(contract, ES.roles), source):
        entry: dict[str, Any] = {}
        if (role, RDF.type, ES.RoleSet) in graph:
            entry["kind"] = RoleKind.SET.value
        assignment = graph.value(role, ES.assignment)
        if assignment is not None and _ASSIGNMENT[assignment] is not RoleInit.NONE:  # type: ignore[index]
            entry["init"] = _ASSIGNMENT[assignment].value  # type: ignore[index]
        if (text := _text(graph, role, ES.description)) is not None:
            entry["description"] = normalise_text(text)
        raw["roles"][_name(graph, role, source)] = entry
    for variable in _items(graph, graph.value(contract, ES.variables), source):
        entry = {"type": _text(graph, variable, ES.datatype)}
        if _flag(graph, variable, ES.setAtConstruction, source):
            entry["constructor"] = True
        if (text := _text(graph, variable, ES.description)) is not None:
            entry["description"] = normalise_text(text)
        raw["variables"][_name(graph, variable, source)] = entry
    for permission in _items(graph, graph.value(contract, ES.permissions), source):
        raw["transitions"].append(_permission(graph, permission, source))
    timed = []
    for obligation in _items(graph, graph.value(contract, ES.obligations), source):
        deadline = graph.value(obligation, ES.deadline)
        item: dict[str, Any] = {
            "from": [
                _name(graph, s, source)
                for s in _items(graph, graph.value(obligation, ES.inState), source)
            ],
            "to": _name(graph, graph.value(obligation, ES.leadsTo), source),  # type: ignore[arg-type]
            "after": _name(graph, deadline, source) if deadline is not None else "",
        }
        statements = _strings(graph, obligation, ES.statements, source)
        if statements:
            item["statements"] = statements
        timed.append(item)
    if timed:
        raw["timed"] = timed
    security = graph.value(contract, ES.security)
    if security is not None:
        pauser = graph.value(security, ES.pausableBy)
        raw["plugins"] = {
            "locking": _text(graph, security, ES.locking) or "none",
            "counter": _flag(graph, security, ES.transitionCounter, source),
            "events": _flag(graph, security, ES.events, source),
            "access_control": _flag(graph, security, ES.accessControl, source),
            "timed": _flag(graph, security, ES.timedTransitions, source),
            "pausable": None if pauser is None else _name(graph, pauser, source),
        }
    return raw


def _permission(graph: Graph, node: Node, source: str) -> dict[str, Any]:
    item: dict[str, Any] = {"name": _name(graph, node, source)}
    item["from"] = [
        _name(graph, s, source) for s in _items(graph, graph.value(node, ES.inState), source)
    ]
    target = graph.value(node, ES.leadsTo)
    if target is not None:
        item["to"] = _name(graph, target, source)
    if _flag(graph, node, ES.grantedToAnyone, source):
        item["role"] = ["anyone"]
    else:
        item["role"] = [
            _name(graph, r, source) for r in _items(graph, graph.value(node, ES.grantedTo), source)
        ]
    inputs = {
        _name(graph, i, source): _text(graph, i, ES.datatype) or ""
        for i in _items(graph, graph.value(node, ES.inputs), source)
    }
    if inputs:
        item["inputs"] = inputs
    for key, prop in (("guards", ES.guards), ("statements", ES.statements)):
        values = _strings(graph, node, prop, source)
        if values:
            item[key] = values
    if _flag(graph, node, ES.requiresPayment, source):
        item["payable"] = True
    if _flag(graph, node, ES.exemptFromPause, source):
        item["pause_exempt"] = True
    if _flag(graph, node, ES.exemptFromCounter, source):
        item["counter_exempt"] = True
    if (event := _text(graph, node, ES.event)) is not None:
        item["event"] = event
    if (text := _text(graph, node, ES.description)) is not None:
        item["description"] = normalise_text(text)
    return item


def _turtle_error(message: str) -> str:
    """Line, reason and the offending word from rdflib's Turtle syntax error."""
    found = re.search(r"at line (\d+) of <[^>]*>:\s*(.*?)(?: at \^|$)", message, re.S)
    if found is None:
        return message.splitlines()[0] if message else "syntax error"
    detail = f"line {found[1]}: {found[2].strip()}"
    around = re.search(r"b'(.*?)'\^b'(.*?)'", message, re.S)
    if around is not None:
        after = around[2].split("\\n")[0].split()
        before = around[1].split("\\n")[-1].strip()
        detail += f", at {after[0]!r}" if after else f", after {before[-30:]!r}"
    return detail


def parse_ontology(text: str, *, source: str = "<turtle>") -> ContractSpec:
    """Read a licence-domain ontology in Turtle, validate it with SHACL, derive the spec.

    Why: a Turtle syntax error names its line; a violated rule names its SHACL shape and the
    offending node; what passes is held to the same checks as every other spec form.
    """
    check_size(text, source)
    graph = Graph()
    try:
        graph.parse(data=text, format="turtle")
    except Exception as exc:  # rdflib raises several unrelated types for bad Turtle
        raise SpecError(f"{source}: invalid Turtle: {_turtle_error(str(exc))}") from exc
    _validate(graph, text, source)
    _check_terms(graph, source)
    raw = _derive(graph, source)
    return build_spec(raw, source=source, lines=_source_lines(text, raw))


def _source_lines(text: str, raw: dict[str, Any]) -> dict[tuple[str | int, ...], int]:
    """Where each permission, and each of its guards and statements, is written in ``text``.

    Why: rdflib keeps no positions, so an ill-typed guard would be reported by its place in
    the spec alone; the permission is found by its ``es:name`` and each expression by its
    literal within the permission's block (an expression written with another quoting or
    escaping falls back to the permission's line).
    """
    found: dict[tuple[str | int, ...], int] = {}

    def line_at(index: int) -> int:
        return text.count("\n", 0, index) + 1

    for index, item in enumerate(raw.get("transitions", [])):
        match = re.search(r"es:name\s+" + re.escape(_lit(item["name"])), text)
        if match is None:
            continue
        start = match.start()
        end = text.find(" .\n", start)
        end = len(text) if end < 0 else end
        found[("transitions", index)] = line_at(start)
        for field in ("guards", "statements"):
            for number, expression in enumerate(item.get(field, ())):
                at = text.find(_lit(expression), start, end)
                if at >= 0:
                    found[("transitions", index, field, number)] = line_at(at)
    return found


def load_ontology(path: str | Path) -> ContractSpec:
    """Read and convert a Turtle file (see :func:`parse_ontology`)."""
    path = Path(path)
    return parse_ontology(read_source(path), source=str(path))


# --- writing ---------------------------------------------------------------------------------


def _lit(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(Literal(value).n3())


def _list(items: list[str]) -> str:
    return "( " + " ".join(items) + " )"


def spec_to_turtle(spec: ContractSpec) -> str:
    """Write ``spec`` as a licence-domain ontology in Turtle (deterministic, readable).

    Why: any YAML spec can be edited with ontology tools and read back to the same FSM.
    Variables set at construction are written as ``es:Term``, the others as ``es:Record``.
    """
    lines = [
        f"# {spec.contract} as a licence-domain ontology (EdgeShield contract vocabulary).",
        "@prefix es: <https://edgeshield.dev/ns/contract#> .",
        f"@prefix : <https://edgeshield.dev/contracts/{spec.contract}#> .",
        "",
        ":contract a es:Contract ;",
        f"    es:name {_lit(spec.contract)} ;",
    ]
    if spec.description:
        lines.append(f"    es:description {_lit(normalise_text(spec.description))} ;")
    lines += [
        f"    es:states {_list([':' + s for s in spec.states])} ;",
        f"    es:initialState :{spec.initial} ;",
        f"    es:roles {_list([':' + r for r in spec.roles])} ;",
        f"    es:variables {_list([':' + v for v in spec.variables])} ;",
        f"    es:permissions {_list([':' + t.name for t in spec.transitions])} ;",
    ]
    if spec.timed:
        lines.append(
            f"    es:obligations {_list([f':timed{i}' for i in range(len(spec.timed))])} ;"
        )
    plugins = spec.plugins
    security = [
        f"es:locking {_lit(plugins.locking.value)}",
        f"es:transitionCounter {_lit(plugins.counter)}",
        f"es:events {_lit(plugins.events)}",
        f"es:accessControl {_lit(plugins.access_control)}",
        f"es:timedTransitions {_lit(plugins.timed)}",
    ]
    if plugins.pausable:
        security.append(f"es:pausableBy :{plugins.pausable}")
    lines.append("    es:security [\n        " + " ;\n        ".join(security) + "\n    ] .")
    lines.append("")
    for state in spec.states:
        lines.append(f":{state} a es:State ; es:name {_lit(state)} .")
    lines.append("")
    for name, role in spec.roles.items():
        kind = "es:RoleSet" if role.kind is RoleKind.SET else "es:Role"
        parts = [
            f":{name} a es:Role{', es:RoleSet' if kind == 'es:RoleSet' else ''}",
            f"es:name {_lit(name)}",
        ]
        for node, init in _ASSIGNMENT.items():
            if init is role.init and init is not RoleInit.NONE:
                parts.append(f"es:assignment es:{node.removeprefix(str(ES))}")
        if role.description:
            parts.append(f"es:description {_lit(normalise_text(role.description))}")
        lines.append(" ;\n    ".join(parts) + " .")
    lines.append("")
    for name, variable in spec.variables.items():
        kind = "es:Term" if variable.constructor else "es:Record"
        parts = [f":{name} a {kind}", f"es:name {_lit(name)}", f"es:datatype {_lit(variable.type)}"]
        if variable.constructor:
            parts.append("es:setAtConstruction true")
        if variable.description:
            parts.append(f"es:description {_lit(normalise_text(variable.description))}")
        lines.append(" ;\n    ".join(parts) + " .")
    lines.append("")
    for item in spec.transitions:
        parts = [f":{item.name} a es:Permission", f"es:name {_lit(item.name)}"]
        if item.role == ("anyone",):
            parts.append("es:grantedToAnyone true")
        else:
            roles = [":" + r for r in item.role]
            parts.append(f"es:grantedTo {roles[0] if len(roles) == 1 else _list(roles)}")
        states = [":" + s for s in item.from_]
        parts.append(f"es:inState {states[0] if len(states) == 1 else _list(states)}")
        if item.to is not None:
            parts.append(f"es:leadsTo :{item.to}")
        if item.payable:
            parts.append("es:requiresPayment true")
        if item.pause_exempt:
            parts.append("es:exemptFromPause true")
        if item.counter_exempt:
            parts.append("es:exemptFromCounter true")
        if item.inputs:
            inputs = [
                f"[ es:name {_lit(n)} ; es:datatype {_lit(t)} ]" for n, t in item.inputs.items()
            ]
            parts.append(f"es:inputs {_list(inputs)}")
        if item.guards:
            parts.append(f"es:guards {_list([_lit(g) for g in item.guards])}")
        if item.statements:
            parts.append(f"es:statements {_list([_lit(s) for s in item.statements])}")
        if item.event:
            parts.append(f"es:event {_lit(item.event)}")
        if item.description:
            parts.append(f"es:description {_lit(normalise_text(item.description))}")
        lines.append(" ;\n    ".join(parts) + " .")
        lines.append("")
    for index, entry in enumerate(spec.timed):
        states = [":" + s for s in entry.from_]
        parts = [
            f":timed{index} a es:Obligation",
            f"es:deadline :{entry.after}",
            f"es:inState {states[0] if len(states) == 1 else _list(states)}",
            f"es:leadsTo :{entry.to}",
        ]
        if entry.statements:
            parts.append(f"es:statements {_list([_lit(s) for s in entry.statements])}")
        lines.append(" ;\n    ".join(parts) + " .")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
