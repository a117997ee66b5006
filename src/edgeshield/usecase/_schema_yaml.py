"""Read a YAML document into plain values while remembering the line of every key path.

Why: a schema error must say where it is (``schema.yaml:12: columns.torque.range: ...``), and
``yaml.safe_load`` forgets positions. This walks PyYAML's composed node tree instead, builds
plain dicts, lists and scalars with the safe constructor, records ``path -> line`` and refuses
duplicate keys (which ``safe_load`` would silently collapse to the last one).
"""

from __future__ import annotations

from typing import Any

import yaml

from edgeshield.errors import ConfigError

__all__ = ["Located", "Path", "load_located"]

Path = tuple[str | int, ...]


class Located:
    """Plain values of a document plus the 1-based line of each key path within it."""

    def __init__(self, value: Any, lines: dict[Path, int], source: str) -> None:
        self.value = value
        self.lines = lines
        self.source = source

    def where(self, path: Path) -> str:
        """``source:line: key.path`` for messages; the nearest enclosing line when unknown."""
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        return f"{self.source}:{line}: {dotted}" if line else f"{self.source}: {dotted}"


class _Walker:
    """Turns composed nodes into plain values; each node may be visited once (no aliases)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path, int] = {}
        self.seen: set[int] = set()
        self.constructor = yaml.SafeLoader("")

    def plain(self, node: yaml.Node, path: Path) -> Any:
        """The plain value of ``node`` found at ``path``."""
        line = node.start_mark.line + 1
        if id(node) in self.seen:
            raise ConfigError(f"{self.source}:{line}: anchors and aliases are not supported")
        self.seen.add(id(node))
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = (
                self.constructor.construct_object(key_node)
                if isinstance(key_node, yaml.ScalarNode)
                else None
            )
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise ConfigError(f"{self.source}:{line}: keys must be text")
            name = str(key)
            if name in out:
                dotted = ".".join(str(p) for p in (*path, name))
                raise ConfigError(f"{self.source}:{line}: {dotted}: duplicate key")
            self.lines[(*path, name)] = line
            out[name] = self.plain(value_node, (*path, name))
        return out


#: A schema is four levels deep; thousands of levels only exhaust the parser's recursion.
MAX_DEPTH = 32


def _refuse_deep_nesting(text: str, source: str) -> None:
    """Count nesting on PyYAML's event stream, before any node is composed."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark is not None else 0
                raise ConfigError(f"{source}:{line}: YAML nested more than {MAX_DEPTH} deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_located(text: str, source: str) -> Located:
    """Parse one YAML document (safe types only) with the line of every key path.

    Raises
    ------
    ConfigError
        The text is not YAML, holds several documents, anchors to unsafe types or duplicate
        keys; the message starts with ``source:line``.
    """
    try:
        _refuse_deep_nesting(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if node is None:
        raise ConfigError(f"{source}: the schema file is empty")
    walker = _Walker(source)
    try:
        value = walker.plain(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    return Located(value, walker.lines, source)
