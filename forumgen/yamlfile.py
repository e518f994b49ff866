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


def _mapping(
    node: yaml.MappingNode,
    value: dict[Any, Any],
    first_line: int,
    duplicates: list[YamlError] | None,
) -> Mapping:
    result = Mapping({str(k): v for k, v in value.items()}, line=first_line + node.start_mark.line)
    first: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(key_node.value)
        line = first_line + key_node.start_mark.line
        if key in first:  # YAML loaders keep the last silently: a trap in hand edits
            duplicate = YamlError(line, f"duplicate key '{key}' (first on line {first[key]})")
            if duplicates is None:
                raise duplicate
            duplicates.append(duplicate)
        first.setdefault(key, line)
        result.lines[key] = line  # the last one's: its value is the one kept
        nested = result.values.get(key)
        if isinstance(value_node, yaml.MappingNode) and isinstance(nested, dict):
            result.children[key] = _mapping(value_node, nested, first_line, duplicates)
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
        line, reason = _locate(text, exc, first_line)
        raise YamlError(line, f"YAML syntax error: {reason}") from None
    except yaml.YAMLError as exc:
        raise YamlError(first_line, f"YAML error: {exc}") from None
    finally:
        loader.dispose()


def parse_mapping(
    text: str, first_line: int = 1, duplicates: list[YamlError] | None = None
) -> Mapping | None:
    """Parse a document expected to be a mapping; None if it is empty. A duplicate key is
    raised, or added to `duplicates` when given, for callers that go on to report the
    document's other problems too (the last value of the key is kept)."""
    node, value = parse(text, first_line)
    if node is None:
        return None
    if not isinstance(node, yaml.MappingNode) or not isinstance(value, dict):
        raise YamlError(first_line + node.start_mark.line, "expected key: value pairs")
    return _mapping(node, value, first_line, duplicates)


def parse_sequence_lines(text: str, first_line: int = 1) -> tuple[list[Any], list[int]] | None:
    """Parse a document expected to be a list; returns the items and each item's line."""
    node, value = parse(text, first_line)
    if node is None:
        return None
    if not isinstance(node, yaml.SequenceNode) or not isinstance(value, list):
        raise YamlError(first_line + node.start_mark.line, "expected a list")
    return value, [first_line + item.start_mark.line for item in node.value]


def _locate(text: str, exc: yaml.MarkedYAMLError, first_line: int) -> tuple[int, str]:
    """The line to blame for a syntax error, and why.

    PyYAML notices an unclosed quote or flow list only lines later (at the end of the
    text, or where a later quote happens to close it): point at where it was opened.
    """
    context, problem = exc.context or "", exc.problem or ""
    if "quoted" in context and exc.context_mark and re.search("end of stream|document", problem):
        return first_line + exc.context_mark.line, _unclosed(
            text, exc.context_mark, "is never closed"
        )
    problem_mark = exc.problem_mark
    if problem_mark:
        runaway = _runaway_quote(text, problem_mark)
    else:
        runaway = None
    if problem_mark and runaway:  # closed only by the next value's opening quote, lines later
        end = first_line + problem_mark.line
        return first_line + runaway.line, _unclosed(text, runaway, f"runs on to line {end}")
    opened = "flow" in context
    mark = (exc.context_mark if opened else None) or exc.problem_mark or exc.context_mark
    return first_line + (mark.line if mark else 0), _reason(exc)


def _unclosed(text: str, mark: yaml.Mark, what: str) -> str:
    lines = text.split("\n")
    if mark.line < len(lines):
        line = lines[mark.line]
    else:
        line = ""
    if line[mark.column : mark.column + 1] in ("'", '"'):
        quote = line[mark.column]
    else:
        quote = '"'
    return (
        f"unclosed quote: the {quote} opened here (column {mark.column + 1}) {what}: "
        f"end the text with {quote} on this line"
    )


def _runaway_quote(text: str, problem: yaml.Mark) -> yaml.Mark | None:
    """Where the quoted value that ends on the error's line began, if it spans lines: a
    value whose closing quote is missing takes everything up to the next quote."""
    found = None
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if token.start_mark.line > problem.line:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ('"', "'")
                and token.start_mark.line < token.end_mark.line == problem.line
            ):
                found = token.start_mark
    except yaml.YAMLError:
        pass  # the tokens up to the error are all that is needed
    return found


def _reason(exc: yaml.MarkedYAMLError) -> str:
    reason = exc.problem or exc.context or "invalid YAML"
    return re.sub(r"\s+", " ", reason).strip()


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with text holding YAML line breaks double-quoted."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # YAML reads NEL, LS and PS as line breaks (folding them into spaces), but PyYAML
    # writes them raw in every style except double quotes, where it escapes them.
    if any(c in value for c in "\x85\u2028\u2029"):
        style = '"'
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(values: Any) -> str:
    """Dump front matter: block style, keys in the given order, Unicode kept readable."""
    return yaml.dump(
        values,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10_000,
    )
