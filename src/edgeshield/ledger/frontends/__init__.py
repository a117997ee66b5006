"""Front ends that compile other contract descriptions to the ledger's FSM spec.

Controlled English (:func:`parse_text`, a Lark grammar), Petri nets in PNML
(:func:`parse_pnml`) and licence-domain ontologies in Turtle with SHACL rules
(:func:`parse_ontology`) each yield the same :class:`~edgeshield.ledger.ContractSpec` that a
YAML file gives; the writers turn any spec into the PNML and Turtle forms.
"""

from __future__ import annotations

from edgeshield.ledger.frontends._cnl import load_text, parse_text
from edgeshield.ledger.frontends._cnl_writer import spec_to_text
from edgeshield.ledger.frontends._common import canonical_form, spec_to_yaml
from edgeshield.ledger.frontends._load import load_contract
from edgeshield.ledger.frontends._ontology import load_ontology, parse_ontology, spec_to_turtle
from edgeshield.ledger.frontends._pnml import load_pnml, parse_pnml
from edgeshield.ledger.frontends._pnml_writer import spec_to_pnml

__all__ = [
    "canonical_form",
    "load_contract",
    "load_ontology",
    "load_pnml",
    "load_text",
    "parse_ontology",
    "parse_pnml",
    "parse_text",
    "spec_to_pnml",
    "spec_to_text",
    "spec_to_turtle",
    "spec_to_yaml",
]
