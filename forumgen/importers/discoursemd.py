"""Discourse's own Markdown -> plain CommonMark/GFM that the site renders.

Discourse adds to Markdown: `[quote="name, post:N, topic:M"]` and `[details="Summary"]`
BBCode, `:emoji:` names and `@username` mentions. A raw post holds them as written (see
discourseraw); what htmltomd makes of a cooked post holds its quotes and mentions in the
same form, so both go through here. Quotes become Markdown quotes led by who wrote them
(linked to the quoted post on the new site), details a <details> block, emoji the
Unicode character, mentions a link to the author's page.

Code is never touched: fenced and indented code blocks and code spans keep every
character (a `:smile:` or `@name` in code is code).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import emoji

from .htmltomd import details, escape
from .mdcode import chunks, outside_code

# Names of Discourse's emoji set that the emoji package does not know by the same name.
_DISCOURSE_EMOJI = {
    "slight_smile": "🙂",
    "slight_frown": "🙁",
    "rolling_eyes": "🙄",
    "upside_down": "🙃",
    "nerd": "🤓",
    "hugging": "🤗",
    "money_mouth": "🤑",
    "zipper_mouth": "🤐",
    "head_bandage": "🤕",
    "thermometer_face": "🤒",
}
_SKIN_TONE = 0x1F3FB - 2  # :t2: .. :t6: -> U+1F3FB .. U+1F3FF

# What the inline changes leave alone besides code: links and images (their text and
# address), autolinks and HTML tags, bare addresses, and the BBCode tags themselves.
_PROTECTED = re.compile(
    r"!?\[[^\]\n]*\]\([^)\n]*\)|<[^<>\n]+>|\w+://[^\s<>()]+"
    r"|\[/?(?:quote|details)\b[^\]\n]*\]",
    re.I,
)
_EMOJI = re.compile(r"(?<![\w\\]):([a-z0-9_+-]+):(?:t([2-6]):)?(?!\w)")
_MENTION = re.compile(r"(?<![\w@/.`\\-])@(\w(?:[\w.-]*\w)?)")
_OPEN = re.compile(r"^([ \t>]*)\[(quote|details)(?:=(\"[^\"\n]*\"|[^\]\n]*))?\][ \t]*", re.I)
_CLOSE = re.compile(r"\[/(quote|details)\]", re.I)


@dataclass(frozen=True)
class Targets:
    """Where the references of posts lead on the new site."""

    post: Callable[[int, int | None], str | None]
    """(Discourse topic id, post number) -> the post's address (its topic's when the post
    was not imported), or None for a topic not imported."""
    author: Callable[[str], str | None]
    """username -> the author's page, or None when nobody of that name is in the site."""
    wrote: str = "{name} wrote:"
    """The line leading a quote."""


def to_commonmark(text: str, targets: Targets) -> str:
    """A post in Discourse's Markdown as plain CommonMark/GFM."""
    text = outside_code(text, lambda part: _inline(part, targets))
    return _bbcode(text.split("\n"), targets)


# Emoji and mentions ----------------------------------------------------------------------


def _inline(text: str, targets: Targets) -> str:
    out, done = [], 0
    for match in _PROTECTED.finditer(text):
        out += [_words(text[done : match.start()], targets), match.group(0)]
        done = match.end()
    out.append(_words(text[done:], targets))
    return "".join(out)


def _words(text: str, targets: Targets) -> str:
    def mention(match: re.Match[str]) -> str:
        page = targets.author(match.group(1))
        if page:
            return f"[{escape(match.group(0))}](<{page}>)"
        return match.group(0)

    return _MENTION.sub(mention, _EMOJI.sub(_emoji, text))


def _emoji(match: re.Match[str]) -> str:
    name, tone = match.group(1), match.group(2)
    found = emoji.emojize(f":{name}:", language="alias")
    if found == f":{name}:":
        found = _DISCOURSE_EMOJI.get(name, "")
    if not found:
        return match.group(0)  # not an emoji Discourse would know either: text
    return found + (chr(_SKIN_TONE + int(tone)) if tone else "")


# Quotes and details -----------------------------------------------------------------------


@dataclass
class _Block:
    kind: str
    argument: str
    prefix: str
    """What leads its lines (list indentation, '> '), its parent's prefix included."""
    opening: str
    """The opening tag as written, kept if the block is never closed."""
    lines: list[str]
    """Its lines without the prefix."""
    joined: bool
    """Whether its first line was on the line of the opening tag."""


def _bbcode(lines: list[str], targets: Targets) -> str:
    """[quote] and [details] blocks (nested too) as Markdown; a tag never closed, or
    closed by the other kind, stays as written, as on Discourse."""
    stack = [_Block("", "", "", "", [], False)]
    for code, chunk in chunks(lines):
        for line in chunk:
            if code:
                stack[-1].lines.append(_unprefixed(line, stack[-1].prefix))
            else:
                _tags(line, stack, targets)
    while len(stack) > 1:  # never closed: as written
        block = stack.pop()
        own = block.prefix[len(stack[-1].prefix) :]
        lines = [own + line if line else line for line in block.lines]
        if block.joined:
            lines[0] = block.opening + block.lines[0]
        if block.joined:
            stack[-1].lines += lines
        else:
            stack[-1].lines += [block.opening, *lines]
    return "\n".join(stack[0].lines).lstrip("\n")


def _tags(line: str, stack: list[_Block], targets: Targets) -> None:
    """One line of text: the tags it opens and closes, and the text between them."""
    rest = line
    if not line.strip(" \t>"):
        _blank(stack[-1].lines, _unprefixed(line, stack[-1].prefix))
    while rest.strip(" \t>"):
        top = stack[-1]
        opened = _OPEN.match(rest)
        if opened:
            argument = (opened.group(3) or "").strip().strip('"')
            if opened.group(1).startswith(top.prefix):
                prefix = opened.group(1)
            else:
                prefix = top.prefix
            opening, rest = _unprefixed(opened.group(0), top.prefix), rest[opened.end() :]
            if not rest.strip(" \t>"):
                opening, rest = opening + rest, ""
            stack.append(_Block(opened.group(2).lower(), argument, prefix, opening, [], bool(rest)))
            rest = prefix + rest
            continue
        closed = _CLOSE.search(rest)
        if closed is None:
            top.lines.append(_unprefixed(rest, top.prefix))
            return
        if rest[: closed.start()].strip(" \t>"):
            top.lines.append(_unprefixed(rest[: closed.start()], top.prefix))
        if len(stack) > 1 and top.kind == closed.group(1).lower():
            stack.pop()
            own = top.prefix[len(stack[-1].prefix) :]
            _blank(stack[-1].lines, own.rstrip())
            stack[-1].lines += [
                own + line if line else own.rstrip() for line in _written(top, targets).split("\n")
            ]
            stack[-1].lines.append(own.rstrip())
        else:
            top.lines.append(closed.group(0))
        rest = stack[-1].prefix + rest[closed.end() :]


def _blank(lines: list[str], blank: str) -> None:
    """A blank line between blocks, unless there is one already (outside code, one is as
    good as many)."""
    if lines and lines[-1].strip(" \t>"):
        lines.append(blank)


def _unprefixed(line: str, prefix: str) -> str:
    if line.rstrip() == prefix.rstrip():
        return ""
    if prefix and line.startswith(prefix):
        return line[len(prefix) :]
    return line


def _written(block: _Block, targets: Targets) -> str:
    body = "\n".join(block.lines).strip("\n")
    if block.kind == "details":
        return details(block.argument or "Details", body)
    lead = _attribution(block.argument, targets)
    text = "\n\n".join(part for part in (lead, body) if part)
    return "\n".join("> " + line if line.strip() else ">" for line in text.split("\n"))


def _attribution(argument: str, targets: Targets) -> str:
    """`name, post:N, topic:M` -> 'name wrote:', the name linked to the quoted post."""
    fields = {}
    names = []
    for part in argument.split(","):
        key, _, value = part.strip().partition(":")
        if key in ("post", "topic", "username", "full") and value:
            fields[key] = value.strip()
        elif part.strip():
            names.append(part.strip())
    name = ", ".join(names) or fields.get("username", "")
    if not name:
        return ""
    topic, post = fields.get("topic", ""), fields.get("post", "")
    address = None
    if topic.isdigit():
        address = targets.post(int(topic), int(post) if post.isdigit() else None)
    if address:
        shown = f"[{escape(name)}](<{address}>)"
    else:
        shown = escape(name)
    return targets.wrote.format(name=shown)
