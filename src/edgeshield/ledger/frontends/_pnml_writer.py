"""Write a spec as a state-machine Petri net in PNML (the inverse of :mod:`._pnml`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edgeshield.ledger._spec import ContractSpec, RoleInit, RoleKind
from edgeshield.ledger.frontends._common import normalise_text
from edgeshield.ledger.frontends._pnml import PNML_NS, PTNET, TOOL

__all__ = ["spec_to_pnml"]

_N = f"{{{PNML_NS}}}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag if tag.startswith("{") else _N + tag, attrs)
    if text is not None:
        element.text = text
    return element


def _named(parent: ET.Element, tag: str, ident: str, label: str) -> ET.Element:
    element = _sub(parent, tag, id=ident)
    _sub(_sub(element, "name"), "text", label)
    return element


def spec_to_pnml(spec: ContractSpec) -> str:
    """Write ``spec`` as a state-machine PNML net (deterministic; states with no way out final).

    Why: any YAML spec can be opened in a Petri-net editor and read back to the same FSM.
    """
    ET.register_namespace("", PNML_NS)
    root = ET.Element(f"{_N}pnml")
    net = ET.SubElement(root, f"{_N}net", {"id": spec.contract, "type": PTNET})
    _sub(_sub(net, f"{_N}name"), f"{_N}text", spec.contract)
    tool = _sub(net, f"{_N}toolspecific", tool=TOOL, version="1")
    if spec.description:
        _sub(tool, "description", normalise_text(spec.description))
    for name, role in spec.roles.items():
        attrs = {"name": name}
        if role.kind is not RoleKind.ADDRESS:
            attrs["kind"] = role.kind.value
        if role.init is not RoleInit.NONE:
            attrs["init"] = role.init.value
        if role.description:
            attrs["description"] = normalise_text(role.description)
        _sub(tool, "role", **attrs)
    for name, variable in spec.variables.items():
        attrs = {"name": name, "type": variable.type}
        if variable.constructor:
            attrs["constructor"] = "true"
        if variable.description:
            attrs["description"] = normalise_text(variable.description)
        _sub(tool, "variable", **attrs)
    plugins = spec.plugins.model_dump(mode="json")
    _sub(
        tool,
        "plugins",
        **{
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in plugins.items()
            if v is not None
        },
    )
    page = _sub(net, f"{_N}page", id="page")
    exits = {s for t in spec.transitions for s in t.from_ if t.to not in (None, s)}
    exits |= {s for t in spec.timed for s in t.from_}
    loops = {s for t in spec.transitions for s in t.from_}
    for state in spec.states:
        place = _named(page, f"{_N}place", state, state)
        if state == spec.initial:
            _sub(_sub(place, f"{_N}initialMarking"), f"{_N}text", "1")
        if state not in exits and state not in loops:
            _sub(_sub(place, f"{_N}toolspecific", tool=TOOL, version="1"), "final")
    arcs: list[tuple[str, str]] = []
    for item in spec.transitions:
        for position, state in enumerate(item.from_):
            tid = f"{item.name}.{state}"
            element = _named(page, f"{_N}transition", tid, item.name)
            if position == 0:
                call = _sub(_sub(element, f"{_N}toolspecific", tool=TOOL, version="1"), "call")
                call.set("role", " ".join(item.role))
                if item.payable:
                    call.set("payable", "true")
                if item.pause_exempt:
                    call.set("pause_exempt", "true")
                if item.counter_exempt:
                    call.set("counter_exempt", "true")
                if item.event:
                    call.set("event", item.event)
                if item.description:
                    call.set("description", normalise_text(item.description))
                for name, type_ in item.inputs.items():
                    _sub(call, "input", name=name, type=type_)
                for guard in item.guards:
                    _sub(call, "guard", guard)
                for statement in item.statements:
                    _sub(call, "statement", statement)
            arcs += [(state, tid), (tid, item.target(state))]
    for index, entry in enumerate(spec.timed):
        for position, state in enumerate(entry.from_):
            tid = f"timed{index}.{state}"
            element = _named(page, f"{_N}transition", tid, f"timed{index}")
            timed = _sub(
                _sub(element, f"{_N}toolspecific", tool=TOOL, version="1"),
                "timed",
                index=str(index),
            )
            if position == 0:
                timed.set("after", entry.after)
                for statement in entry.statements:
                    _sub(timed, "statement", statement)
            arcs += [(state, tid), (tid, entry.to)]
    for number, (src, dst) in enumerate(arcs, start=1):
        _sub(page, f"{_N}arc", id=f"arc{number}", source=src, target=dst)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
