"""Petri nets in PNML (ISO/IEC 15909-2) as contract specs: read, check, derive the FSM, write.

Why: a process owner draws the licence life cycle as a Petri net in any PNML editor. Following
Zupan, Kumar et al., "Secure Smart Contract Generation Based on Petri Nets" (Blockchain
Technology for Industry 4.0, Springer, 2020), places are contract states and transitions are
contract functions. The net must be 1-safe; its reachability graph is explored before anything
is generated, so a place that can never be marked, a transition that can never fire, a place
that could get a second token, or a reachable dead marking that is not declared final is a
:class:`~edgeshield.errors.SpecError`. A state-machine net (one token, one input and one
output place per transition) maps place for place; a net with several tokens (concurrent
regions) is compiled through its reachability graph, one FSM state per reachable marking.
What a net cannot draw (roles, inputs, guards, statements, variables, plugins) sits in
PNML's standard extension point, ``<toolspecific tool="edgeshield">``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeshield.errors import SpecError
from edgeshield.ledger._parse import read_source
from edgeshield.ledger._spec import ContractSpec
from edgeshield.ledger.frontends._common import build_spec, check_size, normalise_text

__all__ = ["PNML_NS", "PTNET", "TOOL", "load_pnml", "parse_pnml"]

PNML_NS = "http://www.pnml.org/version-2009/grammar/pnml"
PTNET = "http://www.pnml.org/version-2009/grammar/ptnet"
TOOL = "edgeshield"
_N = f"{{{PNML_NS}}}"
_MAX_MARKINGS = 4096


@dataclass
class _Net:
    """The parsed net, with the source line of each element for error messages."""

    source: str
    name: str = ""
    places: list[str] = field(default_factory=list)
    initial: set[str] = field(default_factory=set)
    final: set[str] = field(default_factory=set)
    # transition id -> (label, inputs, outputs, toolspecific element or None, line)
    transitions: dict[str, tuple[str, list[str], list[str], ET.Element | None, int]] = field(
        default_factory=dict
    )
    tool: ET.Element | None = None
    lines: dict[int, int] = field(default_factory=dict)

    def line(self, element: ET.Element) -> int:
        return self.lines.get(id(element), 0)

    def fail(self, element: ET.Element | None, message: str) -> SpecError:
        where = f"line {self.line(element)}: " if element is not None else ""
        return SpecError(f"{self.source}: {where}{message}")


def _parse_xml(text: str, source: str) -> tuple[ET.Element, dict[int, int]]:
    check_size(text, source)
    lines: dict[int, int] = {}
    builder = ET.TreeBuilder()
    expat = xml.parsers.expat.ParserCreate(namespace_separator="}")
    keep: list[ET.Element] = []

    def qualified(name: str) -> str:
        return "{" + name if "}" in name else name

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = builder.start(qualified(tag), {qualified(k): v for k, v in attrs.items()})
        lines[id(element)] = expat.CurrentLineNumber
        keep.append(element)  # ids stay unique while the elements live

    def refuse(*_: object) -> None:
        raise SpecError(
            f"{source}: line {expat.CurrentLineNumber}: DOCTYPE and ENTITY declarations are "
            "not allowed in PNML"
        )

    expat.StartDoctypeDeclHandler = refuse
    expat.EntityDeclHandler = refuse
    expat.StartElementHandler = start
    expat.EndElementHandler = lambda tag: builder.end(qualified(tag))
    expat.CharacterDataHandler = builder.data
    try:
        expat.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        raise SpecError(
            f"{source}: line {exc.lineno}, column {exc.offset + 1}: not well-formed XML: "
            f"{xml.parsers.expat.ErrorString(exc.code)}"
        ) from exc
    root = builder.close()
    return root, lines


def _text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    inner = element.find(f"{_N}text")
    value = inner.text if inner is not None else element.text
    return (value or "").strip()


#: The tool data EdgeShield reads: per element, its attributes and its children with their
#: most allowed count (None: any number). Anything else inside a ``<toolspecific
#: tool="edgeshield">`` is refused, so a misspelt ``<gaurd>`` can never be dropped silently.
_SCHEMA: dict[str, tuple[frozenset[str], dict[str, int | None]]] = {
    "net": (
        frozenset({"tool", "version"}),
        {"description": 1, "role": None, "variable": None, "plugins": 1},
    ),
    "place": (frozenset({"tool", "version"}), {"final": 1}),
    "transition": (frozenset({"tool", "version"}), {"call": 1, "timed": 1}),
    "description": (frozenset(), {}),
    "role": (frozenset({"name", "kind", "init", "description"}), {}),
    "variable": (frozenset({"name", "type", "constructor", "description"}), {}),
    "plugins": (
        frozenset({"locking", "counter", "events", "access_control", "pausable", "timed"}),
        {},
    ),
    "final": (frozenset(), {}),
    "call": (
        frozenset({"role", "payable", "pause_exempt", "counter_exempt", "event", "description"}),
        {"input": None, "guard": None, "statement": None},
    ),
    "timed": (frozenset({"index", "after"}), {"statement": None}),
    "input": (frozenset({"name", "type"}), {}),
    "guard": (frozenset(), {}),
    "statement": (frozenset(), {}),
}


def _strict(element: ET.Element, kind: str, lines: dict[int, int], source: str) -> None:
    """Refuse unknown, repeated or misplaced elements and attributes in EdgeShield tool data."""
    attributes, children = _SCHEMA[kind]

    def fail(node: ET.Element, message: str) -> SpecError:
        return SpecError(f"{source}: line {lines.get(id(node), 0)}: {message}")

    for name in element.attrib:
        if name not in attributes:
            raise fail(element, f"unknown attribute {name!r} on <{element.tag.removeprefix(_N)}>")
    counts: dict[str, int] = {}
    for child in element:
        tag = child.tag.removeprefix(_N)
        if tag not in children:
            where = "toolspecific" if kind in ("net", "place", "transition") else kind
            raise fail(child, f"unknown element <{tag}> inside <{where}>")
        counts[tag] = counts.get(tag, 0) + 1
        limit = children[tag]
        if limit is not None and counts[tag] > limit:
            raise fail(child, f"<{tag}> is given twice; it may appear once")
        _strict(child, tag, lines, source)
    if kind == "transition" and len(counts) > 1:
        raise fail(element, "a transition has a <call> or a <timed>, not both")


def _tool(element: ET.Element) -> ET.Element | None:
    found = [c for c in element.findall(f"{_N}toolspecific") if c.get("tool") == TOOL]
    if len(found) > 1:
        raise SpecError(f'two <toolspecific tool="{TOOL}"> on one element')
    return found[0] if found else None


def _checked_tool(
    element: ET.Element, kind: str, lines: dict[int, int], source: str
) -> ET.Element | None:
    try:
        tool = _tool(element)
    except SpecError as exc:
        raise SpecError(f"{source}: line {lines.get(id(element), 0)}: {exc}") from exc
    if tool is not None:
        _strict(tool, kind, lines, source)
    return tool


def _read(text: str, source: str) -> _Net:
    root, lines = _parse_xml(text, source)
    net = _Net(source=source, lines=lines)
    if root.tag != f"{_N}pnml":
        raise net.fail(root, f'the root element must be <pnml xmlns="{PNML_NS}">')
    nets = root.findall(f"{_N}net")
    if len(nets) != 1:
        raise net.fail(root, f"exactly one <net> is required, found {len(nets)}")
    element = nets[0]
    if element.get("type") not in (PTNET, None):
        raise net.fail(element, f"only place/transition nets ({PTNET}) are supported")
    net.name = _text(element.find(f"{_N}name")) or element.get("id", "")
    net.tool = _checked_tool(element, "net", lines, source)
    nodes: list[ET.Element] = [element, *element.findall(f"{_N}page")]
    arcs: list[ET.Element] = []
    ids: set[str] = set()
    for container in nodes:
        for child in container:
            node_id = child.get("id", "")
            if child.tag in (f"{_N}place", f"{_N}transition", f"{_N}arc"):
                if not node_id:
                    raise net.fail(child, f"<{child.tag.removeprefix(_N)}> without an id")
                if node_id in ids:
                    raise net.fail(child, f"duplicate id {node_id!r}")
                ids.add(node_id)
            if child.tag == f"{_N}place":
                net.places.append(node_id)
                marking = _text(child.find(f"{_N}initialMarking")) or "0"
                if marking not in ("0", "1"):
                    raise net.fail(
                        child,
                        f"place {node_id!r}: initial marking {marking!r}; a "
                        "1-safe net has 0 or 1 token per place",
                    )
                if marking == "1":
                    net.initial.add(node_id)
                tool = _checked_tool(child, "place", lines, source)
                if tool is not None and tool.find(_N + "final") is not None:
                    net.final.add(node_id)
            elif child.tag == f"{_N}transition":
                label = _text(child.find(f"{_N}name")) or node_id
                tool = _checked_tool(child, "transition", lines, source)
                net.transitions[node_id] = (label, [], [], tool, lines.get(id(child), 0))
            elif child.tag == f"{_N}arc":
                arcs.append(child)
    for arc in arcs:
        src, dst = arc.get("source", ""), arc.get("target", "")
        weight = _text(arc.find(f"{_N}inscription")) or "1"
        if weight != "1":
            raise net.fail(arc, f"arc {arc.get('id')!r} has weight {weight}; only 1 is allowed")
        if src in net.transitions and dst in net.places:
            net.transitions[src][2].append(dst)
        elif src in net.places and dst in net.transitions:
            net.transitions[dst][1].append(src)
        else:
            raise net.fail(
                arc,
                f"arc {arc.get('id')!r} must join a place and a transition ({src!r} -> {dst!r})",
            )
    if not net.initial:
        raise net.fail(element, "no place has an initial token")
    for tid, (_, inputs, outputs, _, line) in net.transitions.items():
        if not inputs or not outputs:
            raise SpecError(
                f"{source}: line {line}: transition {tid!r} needs at least one "
                "input and one output place (a contract never creates or "
                "destroys its state)"
            )
    return net


Marking = frozenset[str]


def _explore(net: _Net) -> tuple[list[Marking], list[tuple[Marking, str, Marking]]]:
    """Reachability graph of a 1-safe net (breadth first, in document order)."""
    start: Marking = frozenset(net.initial)
    seen: list[Marking] = [start]
    index = {start: 0}
    edges: list[tuple[Marking, str, Marking]] = []
    queue = deque([start])
    while queue:
        marking = queue.popleft()
        for tid, (_, inputs, outputs, _, line) in net.transitions.items():
            if not set(inputs) <= marking:
                continue
            rest = marking - set(inputs)
            doubled = rest & set(outputs)
            if doubled:
                raise SpecError(
                    f"{net.source}: line {line}: the net is not 1-safe: firing {tid!r} puts a "
                    f"second token on {sorted(doubled)[0]!r}"
                )
            target = frozenset(rest | set(outputs))
            edges.append((marking, tid, target))
            if target not in index:
                if len(seen) >= _MAX_MARKINGS:
                    raise SpecError(f"{net.source}: more than {_MAX_MARKINGS} reachable markings")
                index[target] = len(seen)
                seen.append(target)
                queue.append(target)
    return seen, edges


def _state_names(net: _Net, markings: list[Marking]) -> dict[Marking, str]:
    order = {place: i for i, place in enumerate(net.places)}
    names: dict[Marking, str] = {}
    for marking in markings:
        parts = sorted(marking, key=order.__getitem__)
        name = "And".join(p[:1].upper() + p[1:] for p in parts)
        names[marking] = name
    return names


def _bool(value: str | None, element: ET.Element, net: _Net, what: str) -> bool:
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise net.fail(element, f"{what} must be true or false, not {value!r}")


def _details(net: _Net, tool: ET.Element | None, line: int) -> dict[str, Any]:
    """The function details of a transition from its <toolspecific> element."""
    entry: dict[str, Any] = {}
    if tool is None:
        return entry
    call = tool.find(_N + "call")
    timed = tool.find(_N + "timed")
    element = call if call is not None else timed
    if element is None:
        return entry
    if call is not None:
        roles = call.get("role", "").split()
        if roles:
            entry["role"] = roles
        if _bool(call.get("payable"), call, net, "payable"):
            entry["payable"] = True
        if _bool(call.get("pause_exempt"), call, net, "pause_exempt"):
            entry["pause_exempt"] = True
        if _bool(call.get("counter_exempt"), call, net, "counter_exempt"):
            entry["counter_exempt"] = True
        if call.get("event"):
            entry["event"] = call.get("event")
        if call.get("description"):
            entry["description"] = normalise_text(call.get("description", ""))
        inputs = {i.get("name", ""): i.get("type", "") for i in call.findall(_N + "input")}
        if inputs:
            entry["inputs"] = inputs
        guards = [(g.text or "").strip() for g in call.findall(_N + "guard")]
        if guards:
            entry["guards"] = guards
    elif element.get("after"):
        entry["after"] = element.get("after", "")
    statements = [(s.text or "").strip() for s in element.findall(_N + "statement")]
    if statements:
        entry["statements"] = statements
    entry["_line"] = net.line(element) or line
    return entry


def _header(net: _Net, raw: dict[str, Any], lines: dict[tuple[str | int, ...], int]) -> None:
    tool = net.tool
    if tool is None:
        raise SpecError(
            f'{net.source}: the net needs <toolspecific tool="{TOOL}"> with <plugins '
            'access_control="true|false"/> (access control is never off by omission)'
        )
    description = tool.find(_N + "description")
    if description is not None and (description.text or "").strip():
        raw["description"] = normalise_text(description.text or "")
    for role in tool.findall(_N + "role"):
        name = role.get("name", "")
        entry: dict[str, Any] = {}
        for key in ("kind", "init"):
            if role.get(key):
                entry[key] = role.get(key)
        if role.get("description"):
            entry["description"] = normalise_text(role.get("description", ""))
        raw["roles"][name] = entry
        lines[("roles", name)] = net.line(role)
    for variable in tool.findall(_N + "variable"):
        name = variable.get("name", "")
        entry = {"type": variable.get("type", "")}
        if _bool(variable.get("constructor"), variable, net, "constructor"):
            entry["constructor"] = True
        if variable.get("description"):
            entry["description"] = normalise_text(variable.get("description", ""))
        raw["variables"][name] = entry
        lines[("variables", name)] = net.line(variable)
    plugins = tool.find(_N + "plugins")
    if plugins is None:
        raise net.fail(tool, '<plugins access_control="true|false" .../> is required')
    if plugins is not None:
        if "access_control" not in plugins.attrib:
            raise net.fail(
                plugins,
                'access_control="true" or "false" must be stated (it is never off by omission)',
            )
        raw["plugins"] = {
            key: (value if key in ("locking", "pausable") else _bool(value, plugins, net, key))
            for key, value in plugins.attrib.items()
        }
        lines[("plugins",)] = net.line(plugins)


def _derive(net: _Net) -> tuple[dict[str, Any], dict[tuple[str | int, ...], int]]:
    markings, edges = _explore(net)
    names = _state_names(net, markings)
    lines: dict[tuple[str | int, ...], int] = {}
    marked = set().union(*markings)
    for place in net.places:
        if place not in marked:
            raise SpecError(f"{net.source}: place {place!r} can never be marked (unreachable)")
    fired = {tid for _, tid, _ in edges}
    for tid, (*_, line) in net.transitions.items():
        if tid not in fired:
            raise SpecError(f"{net.source}: line {line}: transition {tid!r} can never fire")
    enabled = {source for source, _, _ in edges}
    for marking in markings:
        if marking not in enabled and not marking & net.final:
            raise SpecError(
                f"{net.source}: deadlock: the reachable marking {{{', '.join(sorted(marking))}}} "
                "enables no transition and holds no place marked <final/>"
            )
    raw: dict[str, Any] = {
        "contract": net.name,
        "states": [names[m] for m in markings]
        if len(net.initial) > 1
        else [p[:1].upper() + p[1:] for p in net.places],
        "initial": names[markings[0]],
        "roles": {},
        "variables": {},
    }
    _header(net, raw, lines)
    # group the firings by function label (timed transitions by their <timed index>)
    groups: dict[str, list[tuple[str, str, str]]] = {}
    details: dict[str, dict[str, Any]] = {}
    for source, tid, reached in edges:
        label, _, _, tool, line = net.transitions[tid]
        entry = _details(net, tool, line)
        timed_element = tool.find(_N + "timed") if tool is not None else None
        key = label if timed_element is None else f"timed:{timed_element.get('index', '0')}"
        groups.setdefault(key, []).append((names[source], tid, names[reached]))
        if len(entry) > 1:
            if key in details and details[key]["_tid"] != tid:
                raise SpecError(
                    f"{net.source}: line {entry['_line']}: {key!r} has its details given twice "
                    f"(first on line {details[key]['_line']}); give them on one transition only"
                )
            details.setdefault(key, {**entry, "_tid": tid})
    transitions: list[dict[str, Any]] = []
    timed: list[dict[str, Any]] = []
    order = {tid: i for i, tid in enumerate(net.transitions)}
    for key in sorted(groups, key=lambda k: min(order[t] for _, t, _ in groups[k])):
        firings = sorted(
            groups[key], key=lambda f: (order[f[1]], _names_index(markings, names, f[0]))
        )
        info = dict(details.get(key, {}))
        line = info.pop("_line", 0)
        info.pop("_tid", None)
        for suffix, sources, target in _split(firings):
            if key.startswith("timed:"):
                path: tuple[str | int, ...] = ("timed", len(timed))
                item = {"from": sources, "to": target or sources[0], **info}
                timed.append(item)
            else:
                path = ("transitions", len(transitions))
                item = {"name": key + suffix, "from": sources, **info}
                if target is not None:
                    item["to"] = target
                transitions.append(item)
            lines[path] = line
    raw["transitions"] = transitions
    if timed:
        raw["timed"] = timed
    return raw, lines


def _names_index(markings: list[Marking], names: dict[Marking, str], name: str) -> int:
    """Position of a state name among the reachable markings (document order)."""
    for i, marking in enumerate(markings):
        if names[marking] == name:
            return i
    return len(markings)


def _split(firings: Iterable[tuple[str, str, str]]) -> list[tuple[str, list[str], str | None]]:
    """One FSM transition per distinct target; a group of pure self-loops has no target."""
    items = list(firings)
    sources = list(dict.fromkeys(s for s, _, _ in items))
    moves = {t for s, _, t in items if s != t}
    if not moves:
        return [("", sources, None)]
    if len(moves) == 1:
        (target,) = moves
        loops = {s for s, _, t in items if s == t}
        if loops <= {target}:
            return [("", sources, target)]
    by_target: dict[str, list[str]] = {}
    for source, _, target in items:
        by_target.setdefault(target, []).append(source)
    return [
        (f"To{target}", list(dict.fromkeys(srcs)), target) for target, srcs in by_target.items()
    ]


def parse_pnml(text: str, *, source: str = "<pnml>") -> ContractSpec:
    """Read a 1-safe Petri net in PNML, check its reachability graph, and derive the spec.

    Why: the net is checked (1-safe, every place reachable, every transition live at least
    once, no reachable dead marking unless declared final) before any contract is generated.
    """
    net = _read(text, source)
    raw, lines = _derive(net)
    return build_spec(raw, source=source, lines=lines)


def load_pnml(path: str | Path) -> ContractSpec:
    """Read and convert a PNML file (see :func:`parse_pnml`)."""
    path = Path(path)
    return parse_pnml(read_source(path), source=str(path))
