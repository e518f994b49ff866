"""A raw Discourse post, laid out as Discourse shows it, in Markdown of Discourse's own
dialect (which discoursemd then makes plain).

Its uploads are written `upload://<short name>`, an address only Discourse can follow:
the cooked HTML of the same post has the real ones. And Discourse renders a single
newline inside a paragraph as a line break, where CommonMark joins the lines.
"""

from __future__ import annotations

import re

from .htmltomd import Node, escape, parse
from .mdcode import chunks, outside_code

_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^\s<>()]+)>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)")
_UPLOAD_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(\s*<?(upload://[^\s<>()]+)>?\s*\)")
_SHORT = re.compile(r"upload://([A-Za-z0-9]+)(\.\w+)?$")
# Lines that a line break may not follow, or precede: blank lines, headings, fences, table
# rows, HTML, BBCode tags, underlines; and before, the start of a list item.
_NO_BREAK_AFTER = re.compile(
    r"^[ \t>]*(?:$|#|`{3}|~{3}|\||<|\[/?(?:quote|details)\b"
    r"|[=-]+[ \t]*$)",
    re.I,
)
_NO_BREAK_BEFORE = re.compile(
    r"^[ \t>]*(?:$|#|[-*+](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)|`{3}|~{3}"
    r"|\||<|\[/?(?:quote|details)\b|[=-]+[ \t]*$)",
    re.I,
)


def from_raw(raw: str, cooked: str, old_url: str) -> str:
    """A raw post laid out as Discourse shows it: its uploads with their addresses (see
    _uploads), and a single newline inside a paragraph a line break, as Discourse renders
    it by default (CommonMark would join the lines)."""
    text = _uploads(raw, cooked, old_url)
    return "\n".join(
        line
        for code, lines in chunks(text.split("\n"))
        for line in (lines if code else _hard_breaks(lines))
    )


def _hard_breaks(lines: list[str]) -> list[str]:
    """Two spaces ending each line that runs on into the next line of its paragraph."""
    broken = []
    for n, line in enumerate(lines):
        after = lines[n + 1] if n + 1 < len(lines) else ""
        if not (
            _NO_BREAK_AFTER.match(line)
            or _NO_BREAK_BEFORE.match(after)
            or line.endswith(("  ", "\\"))
        ):
            line += "  "
        broken.append(line)
    return broken


def _uploads(raw: str, cooked: str, old_url: str) -> str:
    """A raw post's images and `upload://` links as links to their real addresses: the
    cooked HTML's (by the upload's short name, or the order of attachments), else the
    old forum's short-URL route (with --old-url), else the bare name. Images become links
    because pages load nothing from other hosts; their `|690x388` sizes go."""
    images, attachments = _cooked_uploads(cooked)
    order = iter(attachments)
    old = old_url.rstrip("/")

    def address(url: str, found: str | None) -> str | None:
        short = _SHORT.match(url)
        if not short:
            return url
        known = found or images.get(short.group(1))
        if known:
            return known
        if old:
            return f"{old}/uploads/short-url/{short.group(1)}{short.group(2) or ''}"
        return None

    def link(name: str, url: str | None) -> str:
        if url:
            return f"[{name}](<{url}>)"
        return escape(name)

    def image(match: re.Match[str]) -> str:
        url = match.group(2)
        name = match.group(1).split("|")[0].strip() or url.rsplit("/", 1)[-1] or "image"
        return link(name, address(url, None))

    def attachment(match: re.Match[str]) -> str:
        name = match.group(1).split("|")[0].strip() or "attachment"
        return link(name, address(match.group(2), next(order, None)))

    return outside_code(raw, lambda part: _UPLOAD_LINK.sub(attachment, _IMAGE.sub(image, part)))


def _cooked_uploads(cooked: str) -> tuple[dict[str, str], list[str]]:
    """Short name -> address of each upload the cooked HTML shows (the full image where
    it is in a lightbox), and the addresses of its attachment links in order."""
    images: dict[str, str] = {}
    attachments: list[str] = []

    def walk(node: Node, lightbox: str) -> None:
        for child in node.children:
            if not isinstance(child, Node):
                continue
            attrs = child.attrs
            if child.tag == "a" and "attachment" in child.classes and attrs.get("href"):
                attachments.append(attrs["href"])
            short = attrs.get("data-base62-sha1") or attrs.get("data-video-base62-sha1")
            url = lightbox or attrs.get("src") or attrs.get("data-video-src") or ""
            if short and url:
                images.setdefault(short, url)
            walk(child, attrs.get("href", "") if "lightbox" in child.classes else lightbox)

    walk(parse(cooked), "")
    return images, attachments
