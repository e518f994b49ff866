"""HTML -> Markdown for imported posts (HTML-only e-mails, Discourse's `cooked` HTML).

A small converter on the standard library's HTMLParser: the HTML becomes a tree, and
the tree is written out as Markdown, keeping what a post says (paragraphs, emphasis,
links, lists, quotes, code, headings, table rows) and dropping what the site would not
show (scripts, styles, forms; images become links). The result is rendered and
sanitized like any post, so this only has to be faithful, never safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "area", "base", "col", "source"}
_SKIPPED = {"script", "style", "head", "title", "template", "noscript", "button", "select",
            "textarea", "svg", "math", "iframe", "object", "video", "audio"}
_INLINE = {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "del", "dfn", "em", "font", "i",
           "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong",
           "sub", "sup", "time", "tt", "u", "var", "br", "img", "label"}
_EMPHASIS = {"strong": "**", "b": "**", "em": "*", "i": "*", "del": "~~", "s": "~~",
             "strike": "~~"}
_ESCAPED = re.compile(r"([\\`*_\[\]<])")
_LINE_START = re.compile(r"^(\s*)([#>+-]|\d+\.)(?=\s|$)", re.M)


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """Lenient: unclosed tags close with their parent, stray end tags are ignored."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def escape(text: str) -> str:
    """Text that Markdown shows as written."""
    return _LINE_START.sub(r"\1\\\2", _ESCAPED.sub(r"\\\1", text))


def convert(html: str) -> str:
    """Markdown for an HTML fragment or document."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    text = _blocks(builder.root)
    text = "\n".join(line.rstrip() if not line.endswith("  ") or not line.strip() else line
                     for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text + "\n" if text else ""


def _text(node: Node | str) -> str:
    if isinstance(node, str):
        return node
    return "".join(_text(child) for child in node.children)


def _inline(node: Node | str) -> str:
    """Inline content as one Markdown line (line breaks only from <br>)."""
    if isinstance(node, str):
        return escape(re.sub(r"\s+", " ", node))
    tag = node.tag
    if tag in _SKIPPED:
        return ""
    if tag == "br":
        return "  \n"
    if tag == "img":
        return _image(node)
    if tag == "code":
        code = _text(node).replace("\n", " ")
        fence = "``" if "`" in code else "`"
        return f"{fence}{code}{fence}" if code.strip() else ""
    inner = "".join(_inline(child) for child in node.children)
    if tag in _EMPHASIS and inner.strip():
        mark = _EMPHASIS[tag]
        lead, core, trail = _split_space(inner)
        return f"{lead}{mark}{core}{mark}{trail}"
    if tag == "a":
        href = node.attrs.get("href", "").strip()
        # An address is never published: a mailto link keeps only its text.
        if not href or href.lower().startswith(("mailto:", "javascript:", "#")) or \
                not inner.strip():
            return inner
        return f"[{inner.strip()}](<{href}>)"
    if tag not in _INLINE:  # a block inside inline content: keep its text apart
        return f" {inner} "
    return inner


def _split_space(text: str) -> tuple[str, str, str]:
    core = text.strip()
    start = text.index(core[0])
    return text[:start], core, text[start + len(core):]


def _image(node: Node) -> str:
    src, alt = node.attrs.get("src", "").strip(), node.attrs.get("alt", "").strip()
    if "emoji" in node.attrs.get("class", "") and alt:
        return alt  # Discourse emoji: the :name: is the text
    if not src or src.startswith("data:"):
        return escape(alt)
    return f"[{escape(alt or src.rsplit('/', 1)[-1] or 'image')}](<{src}>)"


def _blocks(node: Node) -> str:
    """The children of a block element as Markdown blocks separated by blank lines."""
    parts: list[str] = []
    line: list[str] = []

    def flush() -> None:
        text = "".join(line).strip(" ")
        if text.strip():
            parts.append(text.strip("\n"))
        line.clear()

    for child in node.children:
        if isinstance(child, str) or child.tag in _INLINE:
            line.append(_inline(child))
            continue
        flush()
        block = _block(child)
        if block.strip():
            parts.append(block.strip("\n"))
    flush()
    return "\n\n".join(parts)


def _block(node: Node) -> str:
    tag = node.tag
    if tag in _SKIPPED:
        return ""
    if re.fullmatch(r"h[1-6]", tag):
        return "#" * int(tag[1]) + " " + " ".join(_inline(node).split())
    if tag == "blockquote":
        return _prefixed(_blocks(node), "> ", "> ")
    if tag == "pre":
        code = _text(node).strip("\n")
        fence = "````" if "```" in code else "```"
        return f"{fence}\n{code}\n{fence}"
    if tag in ("ul", "ol"):
        return _list(node)
    if tag == "hr":
        return "* * *"
    if tag == "table":
        return _table(node)
    if tag == "aside" and "quote" in node.attrs.get("class", ""):
        return _discourse_quote(node)
    return _blocks(node)


def _prefixed(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    return "\n".join((first if n == 0 else rest) + line if line or rest.strip() else line
                     for n, line in enumerate(lines)).rstrip()


def _list(node: Node) -> str:
    start = node.attrs.get("start", "1")
    number = int(start) if start.isdigit() else 1
    items = []
    for child in node.children:
        if isinstance(child, str) or child.tag != "li":
            continue
        marker = f"{number}. " if node.tag == "ol" else "- "
        number += 1
        body = _blocks(child) or " "
        items.append(_prefixed(body, marker, "    "))  # Python-Markdown nests by 4 spaces
    return "\n".join(items)


def _table(node: Node) -> str:
    rows = []
    for row in _find(node, "tr"):
        cells = [" ".join(_inline(c).split()) for c in row.children
                 if isinstance(c, Node) and c.tag in ("td", "th")]
        rows.append(" | ".join(cells))
    return "  \n".join(r for r in rows if r.strip(" |"))


def _find(node: Node, tag: str) -> list[Node]:
    found = []
    for child in node.children:
        if isinstance(child, Node):
            found += [child] if child.tag == tag else _find(child, tag)
    return found


def _discourse_quote(node: Node) -> str:
    """Discourse's quote: `<aside class="quote" data-username=...>` with a title and a
    blockquote; kept as a Markdown quote led by who said it."""
    who = node.attrs.get("data-username", "")
    quotes = _find(node, "blockquote")
    body = "\n\n".join(_blocks(q) for q in quotes) if quotes else _blocks(node)
    lead = f"{escape(who)}:\n\n" if who else ""
    return _prefixed(lead + body, "> ", "> ")
