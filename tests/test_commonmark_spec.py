"""Conformance: the examples of the GitHub Flavored Markdown spec (CommonMark and GitHub's
extensions) and cmark-gfm's extension examples, rendered by forumgen.markup with each
engine and compared with the spec's HTML.

What forumgen changes by design is normalized on both sides before comparing: the
spec's HTML goes through the same sanitizer (raw HTML outside the allowlist stripped,
comments dropped, links given rel=...), its images become links and its task list boxes
text, as forumgen makes them; code blocks are compared by their text (the highlighter
wraps them, drops the language class and trims blank lines at their ends); whitespace
between block tags does not count. An example marked <IGNORE> only has to render.

Core CommonMark examples whose result GFM's own extensions change on purpose (a bare
URL becomes a link, `<script>` is shown as text) are not counted: the spec's runner
renders them without the extensions, forumgen never does, and cmark-gfm itself, the
reference implementation, tells which they are (its output for them differs with and
without the extensions). `python3 -m pytest tests/test_commonmark_spec.py -s` prints
the figures for both engines, the examples not counted and those CommonMark misses.

Also: cmark's pathological inputs (tests/pathological_tests.py in cmark-gfm), at sizes
that keep the test quick, complete and come out sanitized.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import pytest
from pathological import PATHOLOGICAL

from forumgen import cmark
from forumgen.markup import ALLOWED_TAGS, COMMONMARK, PYTHON_MARKDOWN, Engine, render, sanitize

DATA = Path(__file__).resolve().parent / "data"
FENCE = "`" * 32 + " example"
BLOCK_TAGS = (
    "address|article|aside|blockquote|details|div|dl|dd|dt|fieldset|figure|footer|"
    "form|h[1-6]|header|hr|li|main|nav|ol|p|pre|section|summary|table|tbody|td|"
    "tfoot|th|thead|tr|ul"
)


@dataclass(frozen=True)
class Example:
    file: str
    number: int
    section: str
    extension: str
    """The GFM extension the example is about ('' for core CommonMark)."""
    markdown: str
    html: str


def examples(file: str) -> list[Example]:
    """The examples of a spec file, as cmark's spec_tests.py reads them (→ is a tab)."""
    found: list[Example] = []
    section, extension, state, markdown, expected = "", "", 0, [], []
    for line in (DATA / file).read_text(encoding="utf-8").splitlines(keepends=True):
        if state == 0 and line.startswith("#"):
            section = line.strip("#\n ")
        elif state == 0 and line.startswith(FENCE):
            state, markdown, expected = 1, [], []
            extension = line[len(FENCE) :].strip()
        elif state == 1 and line.strip() == ".":
            state = 2
        elif state == 2 and line.strip() == "`" * 32:
            found.append(
                Example(
                    file,
                    len(found) + 1,
                    section,
                    extension,
                    "".join(markdown).replace("→", "\t"),
                    "".join(expected).replace("→", "\t"),
                )
            )
            state = 0
        elif state:
            (markdown if state == 1 else expected).append(line)
    return found


ALL = examples("gfm-spec.txt") + examples("gfm-extensions.txt")

_INPUT = re.compile(r"<input\b([^>]*)>")
# An image of Markdown's (the spec writes them as cmark does); an <img> typed as HTML
# is stripped like any tag outside the allowlist.
_IMAGE = re.compile(r'<img src="([^"]*)" alt="([^"]*)"(?: title="[^"]*")? />')


def by_design(spec_html: str) -> str:
    """The spec's HTML changed as forumgen changes what it renders, on purpose."""
    boxes = _INPUT.sub(lambda m: "\u2611" if "checked" in m[1] else "\u2610", spec_html)
    return sanitize(_IMAGE.sub(lambda m: f'<a href="{m[1]}">{m[2] or m[1]}</a>', boxes))


def canonical(fragment: str) -> str:
    """HTML with what does not change its meaning made uniform."""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for wrapper in root.xpath('//div[@class="highlight"] | //pre//span'):
        wrapper.drop_tag()
    for code in root.xpath("//pre/code"):
        code.text = (code.text or "").strip("\n") + "\n"
    text = "".join(_serialized(child) for child in root) if len(root) else ""
    text = html.escape(root.text or "", quote=False) + text
    parts = re.split(r"(<pre\b.*?</pre>)", text, flags=re.S)
    for index in range(0, len(parts), 2):  # outside <pre>: whitespace is one space
        collapsed = re.sub(r"\s+", " ", parts[index])
        parts[index] = re.sub(rf"\s*(</?(?:{BLOCK_TAGS})\b[^>]*>)\s*", r"\1", collapsed)
    return "".join(parts).strip()


def _serialized(element: lxml.html.HtmlElement) -> str:
    """An element as HTML, its attributes sorted, those forumgen adds left out."""
    attributes = "".join(
        f' {k}="{html.escape(v)}"'
        for k, v in sorted(element.attrib.items())
        if k not in ("rel", "tabindex") and not (element.tag == "code" and k == "class")
    )
    inner = html.escape(element.text or "", quote=False) + "".join(
        _serialized(child) for child in element
    )
    return f"<{element.tag}{attributes}>{inner}</{element.tag}>" + html.escape(
        element.tail or "", quote=False
    )


def passes(example: Example, engine: Engine) -> bool:
    rendered = render(example.markdown, engine)
    if example.html.strip() == "<IGNORE>":
        return True
    return canonical(rendered) == canonical(by_design(example.html))


def superseded(example: Example) -> bool:
    """Whether GFM's extensions change the result of a core CommonMark example."""
    if example.file != "gfm-spec.txt" or example.extension:
        return False
    return cmark.to_html(example.markdown, cmark.UNSAFE, extensions=()) != cmark.to_html(
        example.markdown, cmark.UNSAFE
    )


def test_the_spec_files_hold_every_example() -> None:
    spec = [e for e in ALL if e.file == "gfm-spec.txt"]
    assert (len(spec), len(ALL) - len(spec)) == (672, 30)
    assert spec[0].markdown == "\tfoo\tbaz\t\tbim\n"
    assert spec[-1].html == "<p>Multiple     spaces</p>\n"


def test_the_normalization_tells_apart_what_differs() -> None:
    """The comparison is not so loose that anything passes."""
    first = ALL[0]  # an indented code block
    assert canonical(render(first.markdown, COMMONMARK)) == canonical(by_design(first.html))
    assert canonical(render("\tfoo baz\n", COMMONMARK)) != canonical(by_design(first.html))
    assert canonical("<p>a <em>b</em></p>") != canonical("<p>a b</p>")
    assert canonical("<p>a</p>\n<p>b</p>") == canonical("<p>a</p><p>b</p>")
    assert canonical("<ul><li>a</li></ul>") != canonical("<ol><li>a</li></ol>")


def test_commonmark_conformance() -> None:
    """CommonMark (the default engine) passes at least 99% of the examples; the figure for
    Python-Markdown, which follows its own dialect, is printed next to it."""
    left_out = [e for e in ALL if superseded(e)]
    counted = [e for e in ALL if e not in left_out]
    print(f"\n{len(ALL)} examples; not counted, as GFM's extensions change them on purpose:")
    for example in left_out:
        print(
            f"  {example.file} example {example.number} ({example.section}): {example.markdown!r}"
        )
    figures = {}
    for engine in (COMMONMARK, PYTHON_MARKDOWN):
        failed = [e for e in counted if not passes(e, engine)]
        figures[engine.name] = (len(counted) - len(failed)) / len(counted)
        print(
            f"{engine.name}: {len(counted) - len(failed)} of {len(counted)} examples "
            f"({figures[engine.name]:.1%}) match the spec's HTML"
        )
        for example in failed if engine == COMMONMARK else []:
            print(
                f"  missed: {example.file} example {example.number} ({example.section}): "
                f"{example.markdown[:70]!r}"
            )
    assert len(left_out) < 20  # the exception stays one
    assert figures[COMMONMARK.name] >= 0.99, figures


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_input_completes_sanitized(name: str) -> None:
    source, expected = PATHOLOGICAL[name]
    rendered = render(source, COMMONMARK)
    assert re.search(expected, rendered), rendered[:300]
    assert set(re.findall(r"<([a-z][a-z0-9]*)", rendered)) <= ALLOWED_TAGS
