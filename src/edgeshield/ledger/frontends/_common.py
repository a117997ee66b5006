"""What the front ends share: validating a raw spec with source positions, canonical forms.

Why: every front end (controlled English, PNML, Turtle) builds the same raw mapping that a YAML
spec file holds and hands it to the ledger's own validation (pydantic models, then the semantic
checks of :mod:`edgeshield.ledger._check`), so each form is held to exactly the rules of the
YAML form; only the positions in error messages are the front end's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from edgeshield.errors import SpecError
from edgeshield.ledger._check import check_spec
from edgeshield.ledger._spec import ContractSpec

__all__ = [
    "MAX_SOURCE_CHARS",
    "Lines",
    "build_spec",
    "canonical_form",
    "check_size",
    "normalise_text",
    "spec_to_yaml",
]

#: Longest contract source a front end accepts (parsers of untrusted text stay bounded).
MAX_SOURCE_CHARS = 1_000_000

#: Spec path (as in ``("transitions", 2, "guards", 0)``) to a 1-based line of the source.
Lines = Mapping[tuple[str | int, ...], int]


def check_size(text: str, source: str) -> None:
    """Refuse a source longer than :data:`MAX_SOURCE_CHARS` before parsing it."""
    if len(text) > MAX_SOURCE_CHARS:
        raise SpecError(
            f"{source}: {len(text)} characters; a contract source may have at most "
            f"{MAX_SOURCE_CHARS}"
        )


def normalise_text(text: str) -> str:
    """Collapse runs of whitespace in a description (front ends and YAML folding agree)."""
    return " ".join(text.split())


def _where(lines: Lines, loc: tuple[str | int, ...]) -> str:
    path = tuple("from" if part == "from_" else part for part in loc)
    dotted = ""
    for part in path:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return f"line {line}, {dotted or '<root>'}"
    return dotted or "<root>"


def build_spec(raw: Mapping[str, Any], *, source: str, lines: Lines) -> ContractSpec:
    """Validate a raw spec mapping exactly as :func:`edgeshield.ledger.parse_spec` does.

    Why: one validation path for every form; a problem is reported as one
    :class:`~edgeshield.errors.SpecError` naming the source, its line and the spec field.
    """
    try:
        spec = ContractSpec.model_validate({**raw, "source": source})
    except ValidationError as exc:
        problems = [f"{_where(lines, tuple(err['loc']))}: {err['msg']}" for err in exc.errors()[:5]]
        raise SpecError(f"{source}: " + "; ".join(problems)) from exc
    check_spec(spec, lines=lines)
    return spec


def _normalised(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if key == "description" and isinstance(value, str):
        return normalise_text(value)
    return value


def canonical_form(spec: ContractSpec) -> dict[str, Any]:
    """The spec as plain JSON data, descriptions whitespace-normalised.

    Why: two specs are the same FSM exactly when their canonical forms are equal, whichever
    front end they came from (YAML folds long descriptions with a trailing newline, the other
    forms do not; that is the only difference this form hides).
    """
    data = spec.model_dump(mode="json", by_alias=True)
    result: dict[str, Any] = _normalised(data)
    return result


def spec_to_yaml(spec: ContractSpec) -> str:
    """The spec in the ledger's YAML form (defaults omitted), for showing and saving."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.pop("source", None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
