"""YAML parsing that remembers line numbers and keeps dates as text.

Every error we print names a line, so we parse to a node tree (which carries marks)
rather than straight to Python values. Timestamps stay strings: PyYAML would otherwise
turn `2024-01-01 10:00` into a naive datetime and lose the author's offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (it is in the wheels): several times
# faster on archives of many small files, with the same nodes and marks.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type, misc]
    """The safe loader without the implicit timestamp type."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class YamlError(Exception):
    """A YAML problem with the 1-based line it happened on."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"{line}: {message}")


@dataclass
class Mapping:
    """A parsed YAML mapping with the line of each key; nested mappings keep theirs too."""

    values: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)
    line: int = 1
    children: dict[str, Mapping] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


def _mapping(node: yaml.MappingNode, value: dict[Any, Any], first_line: int) -> Mapping:
    result = Mapping({str(k): v for k, v in value.items()}, line=first_line + node.start_mark.line)
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(key_node.value)
        line = first_line + key_node.start_mark.line
        if key in result.lines:  # YAML loaders keep the last silently: a trap in hand edits
            raise YamlError(line, f"duplicate key '{key}' (first on line {result.lines[key]})")
        result.lines[key] = line
        nested = result.values.get(key)
        if isinstance(value_node, yaml.MappingNode) and isinstance(nested, dict):
            result.children[key] = _mapping(value_node, nested, first_line)
    return result


def parse(text: str, first_line: int = 1) -> tuple[yaml.Node | None, Any]:
    """Parse a YAML document; `first_line` is where it starts in its file."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        # An unclosed flow list or quote is noticed lines later: point at where it began.
        opened = exc.context and ("flow" in exc.context or "quoted" in exc.context)
        mark = (exc.context_mark if opened else None) or exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        raise YamlError(line, f"YAML syntax error: {_reason(exc)}") from None
    except yaml.YAMLError as exc:
        raise YamlError(first_line, f"YAML error: {exc}") from None
    finally:
        loader.dispose()


def parse_mapping(text: str, first_line: int = 1) -> Mapping | None:
    """Parse a document expected to be a mapping; None if it is empty."""
    node, value = parse(text, first_line)
    if node is None:
        return None
    if not isinstance(node, yaml.MappingNode) or not isinstance(value, dict):
        raise YamlError(first_line + node.start_mark.line, "expected key: value pairs")
    return _mapping(node, value, first_line)


def parse_sequence_lines(text: str, first_line: int = 1) -> tuple[list[Any], list[int]] | None:
    """Parse a document expected to be a list; returns the items and each item's line."""
    node, value = parse(text, first_line)
    if node is None:
        return None
    if not isinstance(node, yaml.SequenceNode) or not isinstance(value, list):
        raise YamlError(first_line + node.start_mark.line, "expected a list")
    return value, [first_line + item.start_mark.line for item in node.value]


def _reason(exc: yaml.MarkedYAMLError) -> str:
    reason = exc.problem or exc.context or "invalid YAML"
    return re.sub(r"\s+", " ", reason).strip()


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with text holding YAML line breaks double-quoted."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # YAML reads NEL, LS and PS as line breaks (folding them into spaces), but PyYAML
    # writes them raw in every style except double quotes, where it escapes them.
    style = '"' if any(c in value for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(values: Any) -> str:
    """Dump front matter: block style, keys in the given order, Unicode kept readable."""
    return yaml.dump(values, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=10_000)
