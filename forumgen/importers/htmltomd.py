"""HTML -> Markdown for imported posts (HTML-only e-mails, Discourse's `cooked` HTML).

A small converter on the standard library's HTMLParser: the HTML becomes a tree, and
the tree is written out as CommonMark/GFM, keeping what a post says and how it is laid
out (paragraphs, emphasis, strikethrough, links, nested lists, quotes, code blocks with
their language, headings, tables, folded <details>) and dropping what the site would
not show (scripts, styles, forms; images become links, link previews their link). The
result is rendered and sanitized like any post, so this only has to be faithful, never
safe.
"""

from __future__ import annotations

import html as entities
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "area", "base", "col", "source"}
_SKIPPED = {
    "script",
    "style",
    "head",
    "title",
    "template",
    "noscript",
    "button",
    "select",
    "textarea",
    "svg",
    "math",
    "iframe",
    "object",
    "video",
    "audio",
}
_INLINE = {
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "cite",
    "code",
    "del",
    "dfn",
    "em",
    "font",
    "i",
    "ins",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "time",
    "tt",
    "u",
    "var",
    "br",
    "img",
    "label",
}
_EMPHASIS = {"strong": "**", "b": "**", "em": "*", "i": "*", "del": "~~", "s": "~~", "strike": "~~"}
_LISTS = {"ul", "ol"}
_ESCAPED = re.compile(r"([\\`*_\[\]<])")
# What would start a block at the beginning of a line: a heading, quote or list marker
# (its punctuation escaped), a thematic break or setext underline ('=' has no escape in
# Python-Markdown, so it becomes an entity), a ~~~ fence.
_LINE_START = re.compile(r"^(\s*)([#>+-](?=\s|$)|-+\s*$)", re.M)
_ORDERED = re.compile(r"^(\s*\d+)([.)])(?=\s|$)", re.M)
_ENTITY_START = re.compile(r"^(\s*)([=~])(?==*\s*$|~~)", re.M)
# Fence info strings that name no language (Discourse marks unmarked fences "auto").
_NO_LANGUAGE = {"auto", "nohighlight", "plaintext"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()


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


def parse(html: str) -> Node:
    """The tree of an HTML fragment or document."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def escape(text: str) -> str:
    """Text that Markdown shows as written."""
    text = _LINE_START.sub(r"\1\\\2", _ESCAPED.sub(r"\\\1", text))
    text = _ORDERED.sub(r"\1\\\2", text)
    return _ENTITY_START.sub(lambda m: f"{m.group(1)}&#{ord(m.group(2))};", text)


def convert(html: str, discourse: bool = False) -> str:
    """Markdown for an HTML fragment or document. With `discourse` (Discourse's cooked
    HTML), its quotes come out as its own [quote] BBCode and its mentions as plain
    @names, as they are in raw posts, for discoursemd to make plain."""
    text = _Writer(discourse).blocks(parse(html))
    text = "\n".join(_trimmed(line) for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text + "\n" if text else ""


def text_of(node: Node | str) -> str:
    if isinstance(node, str):
        return node
    return "".join(text_of(child) for child in node.children)


def find(node: Node, tag: str) -> list[Node]:
    """The descendants of `node` with this tag, in document order (not inside each other)."""
    found = []
    for child in node.children:
        if isinstance(child, Node):
            if child.tag == tag:
                found += [child]
            else:
                found += find(child, tag)
    return found


def _split_space(text: str) -> tuple[str, str, str]:
    core = text.strip()
    start = text.index(core[0])
    return text[:start], core, text[start + len(core) :]


def _link(name: str, href: str) -> str:
    return f"[{name}](<{href}>)"


def _is_onebox(node: Node) -> bool:
    """A link preview (Discourse's oneboxes, its quote-like previews of its own topics)."""
    classes = node.classes
    if node.tag == "a":  # an inline onebox, or a link whose preview failed: a link as it is
        return False
    return any(c == "onebox" or c.endswith("-onebox") for c in classes) or (
        node.tag == "aside" and "quote" in classes and "data-username" not in node.attrs
    )


def _onebox(node: Node) -> str:
    """A preview as the link it previews, named by the title it shows."""
    links = [a for a in _all(node, "a") if a.attrs.get("href", "").strip()]
    href = node.attrs.get("data-onebox-src") or (links[0].attrs["href"] if links else "")
    titled = [a for a in links if a.attrs["href"] == href and text_of(a).strip()]
    headings = [h for tag in ("h3", "h4") for h in _all(node, tag) if text_of(h).strip()]
    if headings:
        name = text_of(headings[0])
    elif titled:
        name = text_of(titled[0])
    else:
        name = node.attrs.get("data-video-title") or href
    href = href.strip()
    if href:
        return _link(escape(" ".join(name.split())), href)
    return escape(name.strip())


def _all(node: Node, tag: str) -> list[Node]:
    found = []
    for child in node.children:
        if isinstance(child, Node):
            found += ([child] if child.tag == tag else []) + _all(child, tag)
    return found


def _lightbox(node: Node) -> str | None:
    """Discourse's enlargeable image (`div.lightbox-wrapper > a.lightbox[href][title] >
    img + div.meta`): one link to the full image named by its title, without the size
    and file data of the meta line."""
    anchors = [a for a in _all(node, "a") if "lightbox" in a.classes]
    if not anchors:
        return None
    anchor = anchors[0]
    images = _all(anchor, "img")
    href = anchor.attrs.get("href", "").strip() or (
        images[0].attrs.get("src", "").strip() if images else ""
    )
    name = (
        anchor.attrs.get("title", "").strip()
        or (images[0].attrs.get("alt", "").strip() if images else "")
        or "image"
    )
    if href:
        return _link(escape(name), href)
    return escape(name)


class _Writer:
    def __init__(self, discourse: bool) -> None:
        self.discourse = discourse

    # Inline content ------------------------------------------------------------------

    def inline(self, node: Node | str) -> str:
        """Inline content as one Markdown line (line breaks only from <br>)."""
        if isinstance(node, str):
            return escape(re.sub(r"\s+", " ", node))
        tag = node.tag
        if tag in _SKIPPED:
            return ""
        if _is_onebox(node):
            return _onebox(node)
        if "lightbox-wrapper" in node.classes:
            return _lightbox(node) or ""
        if tag == "br":
            return "  \n"
        if tag == "img":
            return self.image(node)
        if tag == "code":
            code = text_of(node).replace("\n", " ")
            fence = "``" if "`" in code else "`"
            if code.strip():
                return f"{fence}{code}{fence}"
            return ""
        inner = "".join(self.inline(child) for child in node.children)
        if tag in _EMPHASIS and inner.strip():
            mark = _EMPHASIS[tag]
            lead, core, trail = _split_space(inner)
            return f"{lead}{mark}{core}{mark}{trail}"
        if tag == "a":
            return self.anchor(node, inner)
        if tag not in _INLINE:  # a block inside inline content: keep its text apart
            return f" {inner} "
        return inner

    def anchor(self, node: Node, inner: str) -> str:
        href = node.attrs.get("href", "").strip()
        if self.discourse and {"mention", "mention-group"} & set(node.classes):
            return text_of(node).strip()  # linked again by discoursemd if the author is here
        if "lightbox" in node.classes:
            return _lightbox(Node("div", children=[node])) or inner
        # An address is never published: a mailto link keeps only its text.
        if (
            not href
            or href.lower().startswith(("mailto:", "javascript:", "#"))
            or not inner.strip()
        ):
            return inner
        return _link(inner.strip(), href)

    def image(self, node: Node) -> str:
        src, alt = node.attrs.get("src", "").strip(), node.attrs.get("alt", "").strip()
        if "emoji" in node.classes and alt:
            return alt  # Discourse emoji: the :name: is the text
        if not src or src.startswith("data:"):
            return escape(alt)
        return _link(escape(alt or src.rsplit("/", 1)[-1] or "image"), src)

    # Blocks ----------------------------------------------------------------------------

    def blocks(self, node: Node, tight: bool = False) -> str:
        """The children of a block element as Markdown blocks separated by blank lines
        (in a tight list item, a nested list follows its line directly)."""
        parts: list[tuple[str, str]] = []
        line: list[str] = []

        def flush() -> None:
            text = "".join(line).strip(" ")
            if text.strip():
                parts.append(("line", text.strip("\n")))
            line.clear()

        for child in node.children:
            if isinstance(child, str) or (child.tag in _INLINE and not _is_onebox(child)):
                line.append(self.inline(child))
                continue
            flush()
            block = self.block(child)
            if block.strip():
                parts.append((child.tag if _interrupts(child) else "block", block.strip("\n")))
        flush()
        out = ""
        for n, (kind, text) in enumerate(parts):
            if n:
                if tight and kind in _LISTS and parts[n - 1][0] == "line":
                    out += "\n"
                else:
                    out += "\n\n"
            out += text
        return out

    def block(self, node: Node) -> str:
        tag = node.tag
        if tag in _SKIPPED:
            return ""
        if _is_onebox(node):
            return _onebox(node)
        if "lightbox-wrapper" in node.classes:
            return _lightbox(node) or ""
        if re.fullmatch(r"h[1-6]", tag):
            return "#" * int(tag[1]) + " " + " ".join(self.inline(node).split())
        if tag == "blockquote":
            return _prefixed(self.blocks(node), "> ", "> ")
        if tag == "pre":
            return _fenced(node)
        if tag in _LISTS:
            return self.list(node)
        if tag == "hr":
            return "* * *"
        if tag == "table":
            return self.table(node)
        if tag == "details":
            return self.details(node)
        if tag == "aside" and "quote" in node.classes:
            return self.quote(node)
        return self.blocks(node)

    def list(self, node: Node) -> str:
        start = node.attrs.get("start", "1")
        number = int(start) if start.isdigit() else 1
        items = [c for c in node.children if isinstance(c, Node) and c.tag == "li"]
        # Loose (items apart, in paragraphs) as Discourse wrote it: <li><p>.
        loose = any(isinstance(c, Node) and c.tag == "p" for item in items for c in item.children)
        written = []
        for item in items:
            if node.tag == "ol":
                marker = f"{number}. "
            else:
                marker = "- "
            number += 1
            body = self.blocks(item, tight=not loose) or " "
            # Nested blocks line up with the item's text, as CommonMark wants, and by at
            # least four spaces, as Python-Markdown wants.
            written.append(_prefixed(body, marker, " " * max(len(marker), 4)))
        return ("\n\n" if loose else "\n").join(written)

    def table(self, node: Node) -> str:
        """A GFM pipe table: the first row is its header."""
        rows: list[list[str]] = []
        aligns: list[str] = []
        for row in find(node, "tr"):
            cells = [c for c in row.children if isinstance(c, Node) and c.tag in ("td", "th")]
            if not aligns:
                aligns = [_align(c) for c in cells]
            rows.append(
                [" ".join(self.inline(c).replace("|", "\\|").split()) or " " for c in cells]
            )
        width = max((len(r) for r in rows), default=0)
        if not width:
            return ""
        aligns += ["---"] * (width - len(aligns))
        rows = [r + [" "] * (width - len(r)) for r in rows]
        lines = [rows[0], aligns, *rows[1:]]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)

    def details(self, node: Node) -> str:
        """A folded section: its summary stays visible, its content renders as Markdown
        (`markdown="1"` asks Python-Markdown to; CommonMark does it anyway, and the
        sanitizer drops the attribute)."""
        summaries = [c for c in node.children if isinstance(c, Node) and c.tag == "summary"]
        if summaries:
            summary = " ".join(text_of(summaries[0]).split())
        else:
            summary = ""
        rest = Node("div", children=[c for c in node.children if c not in summaries])
        return details(summary or "Details", self.blocks(rest))

    def quote(self, node: Node) -> str:
        """Discourse's quote: `<aside class="quote" data-username=...>` with a title and a
        blockquote; kept as a quote led by who said it."""
        who = node.attrs.get("data-username", "")
        quotes = find(node, "blockquote")
        if quotes:
            body = "\n\n".join(self.blocks(q) for q in quotes)
        else:
            body = self.blocks(node)
        if self.discourse:
            fields = [re.sub(r'["\]\n]', "", who)] + [
                f"{key}:{node.attrs[f'data-{key}']}"
                for key in ("post", "topic")
                if node.attrs.get(f"data-{key}", "").isdigit()
            ]
            return f'[quote="{", ".join(fields)}"]\n{body}\n[/quote]'
        lead = f"{escape(who)}:\n\n" if who else ""
        return _prefixed(lead + body, "> ", "> ")


def details(summary: str, body: str) -> str:
    """A <details> block whose body is Markdown, in both of the site's engines."""
    return (
        f'<details markdown="1"><summary>{entities.escape(summary)}</summary>\n\n'
        f"{body.strip(chr(10))}\n\n</details>"
    )


def _interrupts(node: Node) -> str:
    """A list that may follow a line of text directly (CommonMark lets an ordered list
    interrupt a paragraph only when it starts at 1)."""
    if node.tag == "ul":
        return "ul"
    if node.tag == "ol" and node.attrs.get("start", "1") == "1":
        return "ol"
    return ""


def _align(cell: Node) -> str:
    style = cell.attrs.get("align", "") or cell.attrs.get("style", "")
    found = re.search(r"(left|right|center)", style)
    return {"left": ":---", "right": "---:", "center": ":---:"}.get(
        found.group(1) if found else "", "---"
    )


def _fenced(node: Node) -> str:
    """A code block as a fence with its language (`<code class="lang-python">`,
    Discourse's, or `language-python`)."""
    codes = [c for c in node.children if isinstance(c, Node) and c.tag == "code"]
    language = ""
    for name in (codes[0].classes if codes else []) + node.classes:
        found = re.fullmatch(r"(?:lang|language)-([\w+#.-]+)", name)
        if found and found.group(1).lower() not in _NO_LANGUAGE:
            language = found.group(1)
            break
    code = text_of(node).strip("\n")
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{language}\n{code}\n{fence}"


def _trimmed(line: str) -> str:
    """The line without trailing blanks, unless they are a hard line break (two spaces
    after some text)."""
    if line.endswith("  ") and line.strip():
        return line
    return line.rstrip()


def _prefixed(text: str, first: str, rest: str) -> str:
    """`text` with `first` before its first line and `rest` before the others; empty
    lines stay empty unless `rest` shows something (a quote's '>')."""
    lines = []
    for n, line in enumerate(text.split("\n")):
        prefix = first if n == 0 else rest
        if line or rest.strip():
            line = prefix + line
        lines.append(line)
    return "\n".join(lines).rstrip()
