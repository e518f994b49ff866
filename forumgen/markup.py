"""Markdown -> sanitized HTML. Pure and deterministic, so results can be cached by the
hash of the source.

Sanitizing happens after rendering: Markdown passes raw HTML through, and link syntax can
smuggle `javascript:` URLs, so only the final HTML can be judged. The allowlist is what
Markdown and the highlighter produce, nothing more.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree
from functools import lru_cache
from typing import Any

import markdown
import nh3
import pygments
from markdown.extensions import Extension, codehilite
from markdown.treeprocessors import Treeprocessor
from pygments.formatters.html import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import find_lexer_class_by_name
from pygments.util import ClassNotFound


@lru_cache(maxsize=8)
def _stylesheet(style: object, prefix: str) -> tuple[dict[Any, str], dict[str, Any]]:
    formatter = HtmlFormatter(style=style, classprefix=prefix)
    return formatter.ttype2class, formatter.class2style


class _Formatter(HtmlFormatter):  # type: ignore[misc]
    """Pygments' HTML formatter, but computing its style table once instead of for every
    code block: that table is only used for inline styles, and rebuilding it was a tenth
    of a large build's time."""

    def _create_stylesheet(self) -> None:
        self.ttype2class, self.class2style = _stylesheet(self.style, self.classprefix)


@lru_cache(maxsize=256)
def _lexer_class(name: str) -> type[Lexer]:
    lexer: type[Lexer] = find_lexer_class_by_name(name)
    return lexer


def _lexer_by_name(name: str | None, **options: Any) -> Lexer:
    """Pygments' get_lexer_by_name, with the class lookup remembered: it scans every
    lexer's aliases and asks the installed plugins each time, a third of the cost of
    highlighting a short code block."""
    if not name:  # a code block without a language, as pygments answers it
        raise ClassNotFound("no lexer for alias None")
    return _lexer_class(name.lower())(**options)


setattr(codehilite, "get_lexer_by_name", _lexer_by_name)  # noqa: B010 (no stub for it)

# md_in_html: Markdown inside `<details markdown="1">`, which importers use to fold quoted
# tails and signatures of e-mails (the attribute itself never reaches the page).
EXTENSIONS = ["fenced_code", "tables", "codehilite", "sane_lists", "pymdownx.magiclink",
              "md_in_html"]
EXTENSION_CONFIG: dict[str, dict[str, Any]] = {
    "codehilite": {"css_class": "highlight", "guess_lang": False,
                   "pygments_formatter": _Formatter},
    "pymdownx.magiclink": {"hide_protocol": False},
}

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol", "p",
    "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
    # class only where the highlighter puts it (see _filter_attribute).
    "div": {"class"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc noopener"

class _ImagesAsLinks(Treeprocessor):
    """Pages load nothing from other hosts, so an image becomes a link to it."""

    def run(self, root: etree.Element) -> None:
        for img in root.iter("img"):
            src, alt = img.get("src", ""), img.get("alt", "")
            img.tag, img.attrib, img.text = "a", {"href": src}, alt or src


class _ImagesAsLinksExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Markdown's API)
        md.treeprocessors.register(_ImagesAsLinks(md), "images_as_links", 0)


# Pygments token classes are one to three lowercase letters (k, nf, mi, ...); anything
# else in a class attribute came from a visitor trying to borrow the theme's styles.
_CLASS_VALUES = {"div": re.compile(r"highlight"), "pre": re.compile(r""),
                 "code": re.compile(r"language-[\w+#-]+"), "span": re.compile(r"[a-z]{1,3}")}


# Any whitespace, separator or control character: browsers ignore some of them inside a
# URL's scheme, and a link has no business starting with any of them.
_INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060\ufeff]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        # Defence in depth behind nh3's scheme check: judge the URL with every invisible
        # character removed, the way the most lenient browser might read it.
        scheme = _SCHEME.match(_INVISIBLE.sub("", value))
        if scheme is not None and scheme.group(1).lower() not in URL_SCHEMES:
            return None
        return value.replace(" ", "%20")  # a space is not valid in a URL; keep the link valid
    if attribute != "class":
        return value
    pattern = _CLASS_VALUES.get(tag)
    return value if pattern is not None and pattern.fullmatch(value) else None


@lru_cache(maxsize=1)
def _renderer() -> markdown.Markdown:
    return markdown.Markdown(extensions=[*EXTENSIONS, _ImagesAsLinksExtension()],
                             extension_configs=EXTENSION_CONFIG, output_format="html")


def render(source: str) -> str:
    """A post body as safe HTML."""
    md = _renderer()
    md.reset()
    html = md.convert(source.replace("\x00", "\ufffd"))
    return _scrollable(sanitize(html))


# A code block or table wider than the screen scrolls sideways (see style.css); only a
# focusable one can be scrolled from the keyboard. The sanitizer strips tabindex from
# what visitors write and escapes every "<" of text, so each "<pre" and "<table" here
# is an element of its own making.
_SCROLLABLE = re.compile(r"<(pre|table)(?=[\s>])")


def _scrollable(fragment: str) -> str:
    return _SCROLLABLE.sub(r'<\1 tabindex="0"', fragment)


def sanitize(fragment: str) -> str:
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     attribute_filter=_filter_attribute, url_schemes=URL_SCHEMES, link_rel=LINK_REL,
                     strip_comments=True)


def finish(fragment: str) -> str:
    """Another renderer's HTML (mail posts') made as safe as rendered Markdown."""
    return _scrollable(sanitize(fragment))


def highlight(code: str, language: str) -> str:
    """A code block as Markdown's are highlighted (`div.highlight > pre > code`, classes
    styled by the theme's pygments.css), for other renderers; not yet sanitized."""
    return str(pygments.highlight(code, _lexer_by_name(language),
                                  _Formatter(cssclass="highlight", wrapcode=True)))


# A tag of the sanitizer's own (well-formed) output, quoted attribute values included.
_TAG = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>""")


def excerpt(rendered: str, length: int = 200) -> str:
    """Plain text from the start of a rendered post, for listings and meta descriptions.
    The input is already sanitized, so dropping its tags is enough (and the result is
    escaped again wherever it is shown)."""
    text = html.unescape(_TAG.sub(" ", rendered[: length * 20]))
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"
