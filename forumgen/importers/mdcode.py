"""Where the code is in a Markdown text, so that what an importer changes in a post's text
leaves its code alone: fenced and indented code blocks (inside quotes and list items too)
and code spans, found the way CommonMark finds them, closely enough for that purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

_FENCE = re.compile(r"^([ \t>]*)(`{3,}|~{3,})(.*)$")
_LIST_ITEM = re.compile(r"^[ \t>]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_INDENTED = re.compile(r"^(?: {4}|\t)")


def outside_code(text: str, change: Callable[[str], str]) -> str:
    """`text` with `change` applied to all but its code blocks and code spans."""
    out = []
    for code, lines in chunks(text.split("\n")):
        chunk = "\n".join(lines)
        out.append(chunk if code else _outside_spans(chunk, change))
    return "\n".join(out)


def chunks(lines: list[str]) -> Iterator[tuple[bool, list[str]]]:
    """Runs of lines: (True, a fenced or indented code block) or (False, other lines)."""
    text: list[str] = []
    in_list = False
    previous_blank = True
    n = 0
    while n < len(lines):
        line = lines[n]
        fence = _FENCE.match(line)
        if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
            end = _fence_end(lines, n, fence.group(2))
            yield from [(False, text)] if text else []
            yield True, lines[n:end]
            text, n, previous_blank = [], end, False
            continue
        if previous_blank and not in_list and line.strip() and _INDENTED.match(line):
            end = n
            while end < len(lines) and (_INDENTED.match(lines[end]) or not lines[end].strip()):
                end += 1
            while end > n and not lines[end - 1].strip():  # trailing blank lines are text
                end -= 1
            yield from [(False, text)] if text else []
            yield True, lines[n:end]
            text, n, previous_blank = [], end, False
            continue
        if _LIST_ITEM.match(line):
            in_list = True
        elif line.strip() and previous_blank and not line[:1].isspace():
            in_list = False
        previous_blank = not line.strip()
        text.append(line)
        n += 1
    yield from [(False, text)] if text else []


def _fence_end(lines: list[str], start: int, fence: str) -> int:
    """The index after the closing fence (the end of the text when there is none)."""
    for n in range(start + 1, len(lines)):
        found = _FENCE.match(lines[n])
        if (
            found
            and found.group(2)[0] == fence[0]
            and len(found.group(2)) >= len(fence)
            and not found.group(3).strip()
        ):
            return n + 1
    return len(lines)


def _outside_spans(text: str, change: Callable[[str], str]) -> str:
    """`change` applied around the code spans of `text` (a span ends at a run of as many
    backticks as it opened with, and within its paragraph)."""
    out, done, at = [], 0, 0
    while (tick := text.find("`", at)) >= 0:
        run = len(text[tick:]) - len(text[tick:].lstrip("`"))
        closing = re.compile(rf"(?<!`)`{{{run}}}(?!`)")
        end = closing.search(text, tick + run)
        if (
            tick > 0
            and text[tick - 1] == "\\"
            or end is None
            or re.search(r"\n[ \t>]*\n", text[tick : end.start()])
        ):
            at = tick + run
            continue
        out += [change(text[done:tick]), text[tick : end.end()]]
        done = at = end.end()
    out.append(change(text[done:]))
    return "".join(out)
