"""Load a contract spec from any of its four forms, chosen by the file's suffix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeshield.errors import SpecError
from edgeshield.ledger._parse import load_spec
from edgeshield.ledger._spec import ContractSpec
from edgeshield.ledger.frontends._cnl import load_text
from edgeshield.ledger.frontends._ontology import load_ontology
from edgeshield.ledger.frontends._pnml import load_pnml

__all__ = ["SUFFIXES", "load_contract"]

#: File suffix -> loader: YAML spec, controlled English, PNML net, Turtle ontology.
SUFFIXES: dict[str, Callable[[str | Path], ContractSpec]] = {
    ".yaml": load_spec,
    ".yml": load_spec,
    ".txt": load_text,
    ".pnml": load_pnml,
    ".ttl": load_ontology,
}


def load_contract(path: str | Path) -> ContractSpec:
    """Load a spec from ``.yaml``, ``.txt`` (controlled English), ``.pnml`` or ``.ttl``.

    Why: ``verify`` and the other commands accept a contract in whichever form it is kept.
    """
    path = Path(path)
    loader = SUFFIXES.get(path.suffix.lower())
    if loader is None:
        raise SpecError(
            f"{path}: unknown contract form {path.suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    return loader(path)
