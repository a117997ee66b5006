"""Parse a contract spec from YAML: syntax, limits, schema and semantic checks, with lines.

Why its own module: parsing ends in :func:`~edgeshield.ledger._check.check_spec`, which reads
the spec model; keeping the model (``_spec``) free of the parser leaves no import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgeshield.errors import SpecError
from edgeshield.ledger._check import check_spec
from edgeshield.ledger._spec import MAX_YAML_CHARS, MAX_YAML_DEPTH, ContractSpec

__all__ = ["load_spec", "parse_spec", "read_source"]


def _line_map(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each YAML path to its 1-based line, so errors can say where they are."""
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=_SpecLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node | None, path: tuple[str | int, ...]) -> None:
        if node is None:
            return
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, str(key.value)))
                lines[(*path, str(key.value))] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    walk(root, ())
    return lines


def _locate(lines: Mapping[tuple[str | int, ...], int], path: tuple[str | int, ...]) -> str:
    dotted = ""
    for part in path:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    for end in range(len(path), -1, -1):
        line = lines.get(tuple("from" if p == "from_" else p for p in path[:end]))
        if line is not None:
            return f"line {line}, {dotted or '<root>'}"
    return dotted or "<root>"


class _SpecLoader(yaml.SafeLoader):
    """Safe YAML where only ``true`` and ``false`` are booleans (``yes``, ``True`` stay text).

    Why: YAML 1.1 reads ``yes``, ``On`` and ``TRUE`` as booleans; a spec flag must be spelled
    exactly, so every other spelling reaches validation as a string and is refused there. A
    key given twice in one mapping is refused too (plain YAML keeps the last one silently, so a
    second ``counter_exempt: false`` would switch off the first).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing a repeated key with the line of its second use."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: the base class says so
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} is given twice (first on line {first})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


def _check_yaml_limits(text: str, source: str) -> None:
    """Refuse an oversized or too deeply nested spec, and any anchor or alias.

    Why: all three are checked on the event stream, before a single object is built.
    """
    if len(text) > MAX_YAML_CHARS:
        raise SpecError(
            f"{source}: {len(text)} characters; a YAML spec may have at most {MAX_YAML_CHARS}"
        )
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark is not None else 0
                    raise SpecError(
                        f"{source}: line {line}: YAML nested more than {MAX_YAML_DEPTH} deep"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor is not None:
                line = event.start_mark.line + 1 if event.start_mark is not None else 0
                raise SpecError(
                    f"{source}: line {line}: YAML anchors and aliases are not allowed in a spec"
                )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise SpecError(f"{source}: {where}: invalid YAML: {exc}") from exc


def parse_spec(text: str, *, source: str = "<string>") -> ContractSpec:
    """Parse and validate a spec from YAML text.

    Why: every spec error, from YAML syntax to an unknown state in a transition, is reported
    as one :class:`SpecError` naming the source, the line and the path of the bad field.
    """
    _check_yaml_limits(text, source)
    try:
        raw = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise SpecError(f"{source}: {where}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: a spec must be a YAML mapping")
    lines = _line_map(text)
    try:
        spec = ContractSpec.model_validate({**raw, "source": source})
    except ValidationError as exc:
        problems = [
            f"{_locate(lines, tuple(err['loc']))}: {err['msg']}" for err in exc.errors()[:5]
        ]
        raise SpecError(f"{source}: " + "; ".join(problems)) from exc
    check_spec(spec, lines=lines)
    return spec


def read_source(path: Path, what: str = "spec") -> str:
    """The text of a spec file in any form; unreadable or non-UTF-8 bytes are a :class:`SpecError`.

    Why: a file is hostile input like its text; an undecodable byte must fail with the file
    named, not as an unexpected ``UnicodeDecodeError``.
    """
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start})") from exc


def load_spec(path: str | Path) -> ContractSpec:
    """Load and validate a spec file (see :func:`parse_spec`)."""
    path = Path(path)
    return parse_spec(read_source(path), source=str(path))
