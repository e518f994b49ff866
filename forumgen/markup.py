"""Markdown -> sanitized HTML, in the site's dialect. Pure and deterministic, so results
can be cached by the hash of the source (and of the engine).

Two engines read Markdown: CommonMark with GitHub's extensions (cmark-gfm, the default)
and Python-Markdown (for sites written in its dialect, with the extensions they rely
on). Both give the same HTML shapes for what they share: code highlighted by Pygments in
`<div class="highlight"><pre>`, images as links, then the same sanitizer.

Sanitizing happens after rendering: Markdown passes raw HTML through, and link syntax can
smuggle `javascript:` URLs, so only the final HTML can be judged. The allowlist is what
Markdown and the highlighter produce, nothing more.
"""

from __future__ import annotations

import html
import re
import threading
import xml.etree.ElementTree as etree
from dataclasses import dataclass
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

from . import cmark

ENGINES = ("commonmark", "python-markdown")
"""The Markdown dialects a site can choose (`markdown.engine`), the default first."""


@dataclass(frozen=True)
class Engine:
    """How post bodies are read: the Markdown dialect, and for Python-Markdown the
    extensions a site adds to forumgen's own (see EXTENSIONS). The config holds one
    (`config.markdown`); whatever renders a post passes it to `render`."""

    name: str = ENGINES[0]
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown Markdown engine {self.name!r}")
        if self.extensions and self.name != "python-markdown":
            raise ValueError("extensions are for engine python-markdown only")


COMMONMARK = Engine()
PYTHON_MARKDOWN = Engine("python-markdown")


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
EXTENSIONS = [
    "fenced_code",
    "tables",
    "codehilite",
    "sane_lists",
    "pymdownx.magiclink",
    "md_in_html",
]
EXTENSION_CONFIG: dict[str, dict[str, Any]] = {
    "codehilite": {"css_class": "highlight", "guess_lang": False, "pygments_formatter": _Formatter},
    "pymdownx.magiclink": {"hide_protocol": False},
}

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
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


# Pygments token classes are a lowercase letter and up to two more letters or digits (k,
# nf, mi, c1, s2, ...); anything else in a class attribute came from a visitor trying to
# borrow the theme's styles.
_CLASS_VALUES = {
    "div": re.compile(r"highlight"),
    "pre": re.compile(r""),
    "code": re.compile(r"language-[\w+#-]+"),
    "span": re.compile(r"[a-z][a-z0-9]{0,2}"),
}


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
    if pattern is not None and pattern.fullmatch(value):
        return value
    return None


def render(source: str, engine: Engine) -> str:
    """A post body (Markdown) as safe HTML, read by `engine`; as plain text if `engine`
    cannot render it in bounded time (see `hostile`)."""
    source = source.replace("\x00", "\ufffd")
    if hostile(source, engine) is not None:
        return sanitize(as_text(source))
    if engine.name == "commonmark":
        out = _commonmark(source)
    else:
        md = _renderer(engine.extensions)
        md.reset()
        out = md.convert(source)
    return _scrollable(sanitize(out))


# Every body must render in bounded time, and not every input does. Python-Markdown
# recurses once per level of nesting (a line of `- - - ...` exhausts Python's stack) and
# reads inline syntax with regular expressions that, from each `[`, `<` or run of
# backticks, may scan to the end of the paragraph: quadratic time in a paragraph full of
# them. cmark-gfm is linear, but the sanitizer (html5ever) slows down with the depth of
# nesting. Both are judged here by one linear pass over the source, before rendering.
# The limits leave room for any real post: 32 levels of quotes and lists, and a paragraph
# of 10,000 characters with 100 links.
MAX_DEPTH = 32
MAX_INLINE_COST = 1_000_000
_CLOSED_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[`~]*[ \t]*$", re.M | re.S)
_PREFIX = re.compile(r"[ \t]*((?:(?:>|[-+*]|\d{1,9}[.)])(?:[ \t]+|$))*)")
_MARKER = re.compile(r">|[-+*](?=[ \t]|$)|\d{1,9}[.)]")
_OPENERS = re.compile(r"[\[<]|`+")


def hostile(source: str, engine: Engine) -> str | None:
    """Why `engine` could not render `source` in bounded time, or None if it can. Linear
    in the length of `source`. Fenced code blocks are left out of the count: no engine
    reads Markdown inside them."""
    text = _CLOSED_FENCE.sub("", source)
    depth = max(map(_depth, text.split("\n")), default=0)
    if depth > MAX_DEPTH:
        return f"quotes or lists nested {depth} deep (at most {MAX_DEPTH})"
    if engine.name == "python-markdown":
        for block in re.split(r"\n[ \t]*\n", text):
            openers = len(_OPENERS.findall(block))
            if openers * len(block) > MAX_INLINE_COST:
                return (
                    f"a paragraph of {len(block)} characters with {openers} `[`, `<` "
                    "or runs of backticks"
                )
    return None


def _depth(line: str) -> int:
    """How deep quotes and lists can nest on `line`: one per marker at its start, one per
    two columns of indentation (the least a nested list item needs)."""
    prefix = _PREFIX.match(line)
    assert prefix is not None  # it matches the empty string
    indent = len(line) - len(line.lstrip(" \t"))
    columns = len(line[:indent].expandtabs(4))
    return columns // 2 + len(_MARKER.findall(prefix[1]))


def as_text(source: str) -> str:
    """`source` shown as it was typed: escaped, in paragraphs, its line breaks kept."""
    blocks = (b.strip("\n") for b in re.split(r"\n[ \t]*\n", source))
    return "".join(
        f"<p>{html.escape(b).replace(chr(10), '<br>' + chr(10))}</p>\n" for b in blocks if b.strip()
    )


# A Markdown instance keeps the state of the document it converts: one per thread.
_RENDERERS = threading.local()


def _renderer(extra: tuple[str, ...]) -> markdown.Markdown:
    """The thread's Python-Markdown with forumgen's extensions and `extra`."""
    made: dict[tuple[str, ...], markdown.Markdown] = _RENDERERS.__dict__.setdefault("made", {})
    if extra not in made:
        made[extra] = markdown.Markdown(
            extensions=[
                *EXTENSIONS,
                *(e for e in extra if e not in EXTENSIONS),
                _ImagesAsLinksExtension(),
            ],
            extension_configs=EXTENSION_CONFIG,
            output_format="html",
        )
    return made[extra]


def check_extension(name: str) -> None:
    """ValueError unless Python-Markdown can load extension `name` (an entry point name
    such as `footnotes`, or a module path such as `markdown.extensions.toc`)."""
    try:
        markdown.Markdown(extensions=[name])
    except Exception as exc:  # noqa: BLE001 - importing it can fail in any way
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


# CommonMark: cmark-gfm with raw HTML kept (CMARK_OPT_UNSAFE). Its safe mode would drop
# every HTML tag, the <details>/<summary> of imported posts, <kbd>, <sup>... included,
# so raw HTML passes, as with Python-Markdown, and the sanitizer below is what stands
# between a post and the page, for both engines. What cmark-gfm writes in its own
# fixed form is then reshaped like Python-Markdown's output: code blocks highlighted,
# images made links, task list boxes made text (a form control has no place in a post).
# HTML typed into a post in exactly that form is treated the same: it is what it mimics,
# and the sanitizer judges the result all the same.
_CODE_BLOCK = re.compile(r'<pre><code(?: class="language-([^"]*)")?>(.*?)</code></pre>', re.S)
_IMAGE = re.compile(r'<img src="([^"]*)" alt="([^"]*)"(?: title="[^"]*")? />')
_TASK = re.compile(r'<input type="checkbox"( checked="")? disabled="" /> (\n<p>)?')
_BOXES = {False: "\u2610", True: "\u2611"}  # ☐ and ☑


def _commonmark(source: str) -> str:
    out = cmark.to_html(source, cmark.UNSAFE)
    if "<pre><code" in out:
        out = _CODE_BLOCK.sub(_highlighted, out)
    if "<img " in out:
        out = _IMAGE.sub(lambda m: f'<a href="{m[1]}">{m[2] or m[1]}</a>', out)
    if "<input " in out:
        out = _TASK.sub(lambda m: f"{'<p>' if m[2] else ''}{_BOXES[bool(m[1])]} ", out)
    return out


def _highlighted(match: re.Match[str]) -> str:
    if match[1]:
        lang = html.unescape(match[1])
    else:
        lang = None
    return _highlight(html.unescape(match[2]), lang).rstrip("\n")  # cmark-gfm adds one


@lru_cache(maxsize=1)
def _highlighting() -> dict[str, Any]:
    """The settings Python-Markdown's fenced_code passes to codehilite: the same code
    block comes out the same from both engines."""
    settings: dict[str, Any] = codehilite.CodeHiliteExtension(
        **EXTENSION_CONFIG["codehilite"]
    ).getConfigs()
    return settings


def _highlight(code: str, lang: str | None) -> str:
    settings = dict(_highlighting())
    style = settings.pop("pygments_style", "default")
    highlighted: str = codehilite.CodeHilite(code, lang=lang, style=style, **settings).hilite(
        shebang=False
    )
    return highlighted


# A code block or table wider than the screen scrolls sideways (see style.css); only a
# focusable one can be scrolled from the keyboard. The sanitizer strips tabindex from
# what visitors write and escapes every "<" of text, so each "<pre" and "<table" here
# is an element of its own making.
_SCROLLABLE = re.compile(r"<(pre|table)(?=[\s>])")


def _scrollable(fragment: str) -> str:
    return _SCROLLABLE.sub(r'<\1 tabindex="0"', fragment)


# Built once: nh3.clean builds its rules from these sets on every call, which took 14
# of the 20 microseconds of sanitizing a short reply.
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    url_schemes=URL_SCHEMES,
    link_rel=LINK_REL,
    strip_comments=True,
)


def sanitize(fragment: str) -> str:
    return _CLEANER.clean(fragment)


def finish(fragment: str) -> str:
    """Another renderer's HTML (mail posts') made as safe as rendered Markdown."""
    return _scrollable(sanitize(fragment))


def highlight(code: str, language: str) -> str:
    """A code block as Markdown's are highlighted (`div.highlight > pre > code`, classes
    styled by the theme's pygments.css), for other renderers; not yet sanitized."""
    return str(
        pygments.highlight(
            code, _lexer_by_name(language), _Formatter(cssclass="highlight", wrapcode=True)
        )
    )


# A tag of the sanitizer's own (well-formed) output, quoted attribute values included.
_TAG = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>""")


def excerpt(rendered: str, length: int = 200) -> str:
    """Plain text from the start of a rendered post, for listings and meta descriptions.
    The input is already sanitized, so dropping its tags is enough (and the result is
    escaped again wherever it is shown)."""
    text = html.unescape(_TAG.sub(" ", rendered[: length * 20]))
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    return text[: length - 1].rstrip() + "…"
