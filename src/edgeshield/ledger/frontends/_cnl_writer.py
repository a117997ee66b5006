"""Write a spec in EdgeShield's controlled English (the inverse of :mod:`._cnl`)."""

from __future__ import annotations

import json

from edgeshield.ledger._spec import ContractSpec, RoleInit, RoleKind
from edgeshield.ledger.frontends._cnl_metering import metering_sentence
from edgeshield.ledger.frontends._common import normalise_text

__all__ = ["spec_to_text"]


def _listing(items: list[str], last: str) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def _article(type_: str) -> str:
    return f"an {type_}" if type_ == "address" else f"a {type_}"


def _described(text: str) -> str:
    return f", described as {json.dumps(normalise_text(text), ensure_ascii=False)}" if text else ""


def spec_to_text(spec: ContractSpec) -> str:
    """Write ``spec`` in controlled English (guards and statements as backtick expressions).

    Why: any YAML spec can be handed to a reader of the licence in sentences and read back
    to the same FSM. A transition that is exactly a pay-per-use metering function is written
    as the metering sentence ("The licensee pays pricePerUse wei per use ...").
    """
    lines = [
        f"This contract is called {spec.contract}{_described(spec.description)}.",
        f"Its states are {_listing(list(spec.states), 'and')}, starting in {spec.initial}.",
    ]
    for name, role in spec.roles.items():
        if role.kind is RoleKind.SET:
            kind = "a set of addresses"
        else:
            kind = {
                RoleInit.DEPLOYER: "the deployer",
                RoleInit.CONSTRUCTOR: "given at deployment",
                RoleInit.NONE: "an address assigned later",
            }[role.init]
        lines.append(f"The {name} is {kind}{_described(role.description)}.")
    for name, variable in spec.variables.items():
        given = " given at deployment" if variable.constructor else ""
        lines.append(
            f"The {name} is {_article(variable.type)}{given}{_described(variable.description)}."
        )
    for item in spec.transitions:
        metered = metering_sentence(spec, item)
        if metered is not None:
            lines.append(metered + _described(item.description) + ".")
            continue
        actor = (
            "Anyone"
            if item.role == ("anyone",)
            else " or ".join(f"the {role}" for role in item.role).replace("the", "The", 1)
        )
        inputs = " and ".join(f"{name} as {_article(type_)}" for name, type_ in item.inputs.items())
        sentence = f"{actor} may {item.name}" + (f" with {inputs}" if inputs else "")
        sentence += f" when it is {_listing(list(item.from_), 'or')}"
        if item.to is not None:
            sentence += f", making it {item.to}"
        if item.payable:
            sentence += ", paying"
        if item.pause_exempt:
            sentence += ", even when paused"
        if item.counter_exempt:
            sentence += ", whatever the counter"
        if item.guards:
            sentence += ", provided that " + " and ".join(f"`{g}`" for g in item.guards)
        if item.statements:
            sentence += ", doing " + _listing([f"`{s}`" for s in item.statements], "and")
        if item.event:
            sentence += f", announcing {item.event}"
        lines.append(sentence + _described(item.description) + ".")
    for entry in spec.timed:
        sentence = (
            f"Once {entry.after} has passed, it becomes {entry.to} "
            f"when it is {_listing(list(entry.from_), 'or')}"
        )
        if entry.statements:
            sentence += ", doing " + _listing([f"`{s}`" for s in entry.statements], "and")
        lines.append(sentence + ".")
    plugins = spec.plugins
    features = [f"{'no' if plugins.locking.value == 'none' else plugins.locking.value} locking"]
    features += [
        text
        for on, text in (
            (plugins.counter, "a transition counter"),
            (plugins.events, "events"),
            (plugins.access_control, "access control"),
            (plugins.timed, "timed transitions"),
        )
        if on
    ]
    features += [] if plugins.access_control else ["no access control"]
    pauser = f", and the {plugins.pausable} may pause it" if plugins.pausable else ""
    lines.append(f"It uses {_listing(features, 'and')}{pauser}.")
    return "\n".join(lines) + "\n"
