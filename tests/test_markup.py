"""Markdown rendering and sanitizing: nothing a post contains can run script."""

from __future__ import annotations

import re

import lxml.html
import pytest

from forumgen.markup import excerpt, render

SAFE_SCHEMES = {"http", "https", "mailto"}
HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"&#106;avascript:alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "[click](javascript:alert(1))",
    "[click](javascript&#58;alert(1))",
    "![x](javascript:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<div style=\"background:expression(alert(1))\">x</div>",
    "<form action=https://evil.example><input name=q><button>go</button></form>",
    "<object data=x.swf></object><embed src=x.swf>",
    "<p onclick=alert(1) onmouseover='alert(2)'>hi</p>",
    "<details open ontoggle=alert(1)>x</details>",
    # Markdown inside <details markdown="1"> (how imports fold quoted tails) stays inert.
    "<details markdown=\"1\" ontoggle=alert(1)><summary onclick=alert(2)>s</summary>\n\n"
    "[x](javascript:alert(1)) <script>alert(3)</script>\n\n</details>",
    "<div markdown=\"1\" style=\"x\"><img src=x onerror=alert(1)>*y*</div>",
    "<base href=\"https://evil.example/\"><meta http-equiv=refresh content=0;url=x>",
    "<a href=\"  javascript:alert(1)\">x</a>",
    "<a href=\"java\tscript:alert(1)\">x</a>",
    "<<script>script>alert(1)<</script>/script>",
    "<textarea><script>alert(1)</script></textarea>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<div class=\"hp skip-link\">fake UI</div>",
    "```html\n<script>alert(1)</script>\n```",
    "<a href=\"\u2028javascript:alert(1)\">x</a>",
    "<a href=\"&nbsp;javascript:alert(1)\">x</a>",
    "<a href=\"&#106&#97&#118&#97&#115&#99&#114&#105&#112&#116&#58alert(1)\">x</a>",
    "[x](https://a\" onmouseover=\"alert(1))",
    "<https://x\" onmouseover=\"alert(1)>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
]


def assert_inert(html: str) -> None:
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    for element in doc.iter():
        assert element.tag not in {"script", "iframe", "style", "form", "input", "object",
                                   "embed", "svg", "math", "base", "meta", "textarea"}, html
        for name, value in element.attrib.items():
            assert not name.startswith("on"), html
            assert name != "style", html
            if name in ("href", "src"):
                # What a browser's URL parser does before it looks for a scheme.
                scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):",
                                  re.sub(r"\s", "", value.replace("\xa0", "")))
                assert scheme is None or scheme.group(1).lower() in SAFE_SCHEMES, html
            if name == "class":
                assert value in ("highlight",) or len(value) <= 3, html


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_inert(source: str) -> None:
    assert_inert(render(source))


def test_markdown_inside_details_is_rendered_and_folded() -> None:
    html = render("Top.\n\n<details markdown=\"1\"><summary>Quoted text</summary>\n\n"
                  "> a **quote**\n\n</details>\n")
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    assert doc.xpath("//details/summary/text()") == ["Quoted text"]
    assert doc.xpath("//details/blockquote//strong/text()") == ["quote"]
    assert "markdown" not in html


def test_code_is_highlighted_and_escaped() -> None:
    html = render("```python\nif a < b:\n    print('<b>')\n```\n")
    assert '<div class="highlight">' in html
    assert '<span class="k">if</span>' in html
    assert "&lt;b&gt;" in html


def test_wide_code_and_tables_can_be_scrolled_from_the_keyboard() -> None:
    html = render("```\nx\n```\n\n    indented\n\n| a |\n|---|\n| 1 |\n\n"
                  '<pre tabindex="5">raw</pre> <table tabindex="-1"><tr><td>t</td></tr></table>'
                  "\n\nText about &lt;pre and <code>&lt;table</code>.")
    tree = lxml.html.fragment_fromstring(html, create_parent="div")
    assert [e.get("tabindex") for e in tree.iter("pre", "table")] == ["0"] * 5
    assert len(tree.xpath("//*[@tabindex]")) == 5  # nothing else became focusable
    assert "&lt;pre and" in html and "<code>&lt;table</code>" in html


@pytest.mark.parametrize("fence", ["```", "```python", "```PYTHON", "```no-such-language"])
def test_code_blocks_with_any_or_no_language(fence: str) -> None:
    html = render(f"{fence}\nx = 1 < 2\n```\n")
    assert '<div class="highlight">' in html and "x = 1 &lt; 2" in re.sub("<[^>]+>", "", html)
    assert ('<span class="k">' in html or '<span class="n">' in html) == ("python" in fence.lower())


def test_tables_autolinks_and_rel() -> None:
    html = render("| a | b |\n|---|---|\n| 1 | 2 |\n\nSee https://example.org/x?y=1 and "
                  "[docs](https://docs.example.org).")
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    assert doc.xpath("//table/tbody/tr/td/text()") == ["1", "2"]
    links = doc.xpath("//a")
    assert [a.get("href") for a in links] == ["https://example.org/x?y=1",
                                             "https://docs.example.org"]
    assert all(a.get("rel") == "nofollow ugc noopener" for a in links)


def test_spaces_in_link_targets_are_encoded() -> None:
    assert 'href="https://example.org/a%20b"' in render("[ok](https://example.org/a b)")


def test_images_become_links_so_pages_load_nothing_from_other_hosts() -> None:
    html = render("![a diagram](https://img.example.org/d.png)")
    assert "<img" not in html
    assert ('<a href="https://img.example.org/d.png" rel="nofollow ugc noopener">a diagram</a>'
            in html)


def test_excerpt_is_plain_text() -> None:
    text = excerpt(render("**Bold** & <b>x</b> 中文 " + "word " * 100), 40)
    assert text.startswith("Bold & x 中文 word word") and text.endswith("…")
    assert len(text) <= 40
