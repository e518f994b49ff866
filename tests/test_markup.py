"""Markdown rendering and sanitizing, with both engines: nothing a post contains can run
script, and what both dialects share comes out in the same HTML shapes."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import lxml.html
import pytest
from pathological import at_max_body

from forumgen.importers import htmltomd
from forumgen.importers.common import fold
from forumgen.mailbody import split_tails
from forumgen.markup import (
    ALLOWED_TAGS,
    COMMONMARK,
    PYTHON_MARKDOWN,
    Engine,
    excerpt,
    hostile,
    render,
)
from hostile import inert_fragment, payloads

ENGINES = pytest.mark.parametrize("engine", [COMMONMARK, PYTHON_MARKDOWN], ids=lambda e: e.name)

SAFE_SCHEMES = {"http", "https", "mailto"}
HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "[click](javascript:alert(1))",
    "[click](javascript&#58;alert(1))",
    "![x](javascript:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="background:expression(alert(1))">x</div>',
    "<form action=https://evil.example><input name=q><button>go</button></form>",
    "<object data=x.swf></object><embed src=x.swf>",
    "<p onclick=alert(1) onmouseover='alert(2)'>hi</p>",
    "<details open ontoggle=alert(1)>x</details>",
    # Markdown inside <details markdown="1"> (how imports fold quoted tails) stays inert.
    '<details markdown="1" ontoggle=alert(1)><summary onclick=alert(2)>s</summary>\n\n'
    "[x](javascript:alert(1)) <script>alert(3)</script>\n\n</details>",
    '<div markdown="1" style="x"><img src=x onerror=alert(1)>*y*</div>',
    '<base href="https://evil.example/"><meta http-equiv=refresh content=0;url=x>',
    '<a href="  javascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    "<<script>script>alert(1)<</script>/script>",
    "<textarea><script>alert(1)</script></textarea>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    '<div class="hp skip-link">fake UI</div>',
    "```html\n<script>alert(1)</script>\n```",
    '<a href="\u2028javascript:alert(1)">x</a>',
    '<a href="&nbsp;javascript:alert(1)">x</a>',
    '<a href="&#106&#97&#118&#97&#115&#99&#114&#105&#112&#116&#58alert(1)">x</a>',
    '[x](https://a" onmouseover="alert(1))',
    '<https://x" onmouseover="alert(1)>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
]


def assert_inert(html: str) -> None:
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    for element in doc.iter():
        assert element.tag not in {
            "script",
            "iframe",
            "style",
            "form",
            "input",
            "object",
            "embed",
            "svg",
            "math",
            "base",
            "meta",
            "textarea",
        }, html
        for name, value in element.attrib.items():
            assert not name.startswith("on"), html
            assert name != "style", html
            if name in ("href", "src"):
                # What a browser's URL parser does before it looks for a scheme.
                scheme = re.match(
                    r"([a-zA-Z][a-zA-Z0-9+.-]*):", re.sub(r"\s", "", value.replace("\xa0", ""))
                )
                assert scheme is None or scheme.group(1).lower() in SAFE_SCHEMES, html
            if name == "class":
                assert value in ("highlight",) or len(value) <= 3, html


@ENGINES
@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_inert(source: str, engine: Engine) -> None:
    assert_inert(render(source, engine))


@ENGINES
def test_every_hostile_payload_is_inert_in_both_engines(engine: Engine) -> None:
    """The pages of the injection tests are built with the default engine; these are the
    same payloads through each engine, judged by the same check."""
    found = [
        problem
        for number, source in enumerate(payloads())
        for problem in inert_fragment(render(source, engine), f"{number}: {source!r}")
    ]
    assert found == []


@ENGINES
def test_markdown_inside_details_is_rendered_and_folded(engine: Engine) -> None:
    html = render(
        'Top.\n\n<details markdown="1"><summary>Quoted text</summary>\n\n'
        "> a **quote**\n\n</details>\n",
        engine,
    )
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    assert doc.xpath("//details/summary/text()") == ["Quoted text"]
    assert doc.xpath("//details/blockquote//strong/text()") == ["quote"]
    assert "markdown" not in html


@ENGINES
def test_code_is_highlighted_and_escaped(engine: Engine) -> None:
    html = render("```python\nif a < b:  # a comment\n    print('<b>', \"c\")\n```\n", engine)
    assert '<div class="highlight">' in html
    assert '<span class="k">if</span>' in html
    # Classes with a digit too: single-line comments, single- and double-quoted strings.
    assert '<span class="c1"># a comment</span>' in html
    assert '<span class="s1">' in html and '<span class="s2">' in html
    assert "&lt;b&gt;" in html


@ENGINES
def test_wide_code_and_tables_can_be_scrolled_from_the_keyboard(engine: Engine) -> None:
    html = render(
        "```\nx\n```\n\n    indented\n\n| a |\n|---|\n| 1 |\n\n"
        '<pre tabindex="5">raw</pre> <table tabindex="-1"><tr><td>t</td></tr></table>'
        "\n\nText about &lt;pre and <code>&lt;table</code>.",
        engine,
    )
    tree = lxml.html.fragment_fromstring(html, create_parent="div")
    assert [e.get("tabindex") for e in tree.iter("pre", "table")] == ["0"] * 5
    assert len(tree.xpath("//*[@tabindex]")) == 5  # nothing else became focusable
    assert "&lt;pre and" in html and "<code>&lt;table</code>" in html


@ENGINES
@pytest.mark.parametrize("fence", ["```", "```python", "```PYTHON", "```no-such-language"])
def test_code_blocks_with_any_or_no_language(fence: str, engine: Engine) -> None:
    html = render(f"{fence}\nx = 1 < 2\n```\n", engine)
    assert '<div class="highlight">' in html and "x = 1 &lt; 2" in re.sub("<[^>]+>", "", html)
    assert ('<span class="k">' in html or '<span class="n">' in html) == ("python" in fence.lower())


@ENGINES
def test_tables_autolinks_and_rel(engine: Engine) -> None:
    html = render(
        "| a | b |\n|---|---|\n| 1 | 2 |\n\nSee https://example.org/x?y=1 and "
        "[docs](https://docs.example.org).",
        engine,
    )
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    assert doc.xpath("//table/tbody/tr/td/text()") == ["1", "2"]
    links = doc.xpath("//a")
    assert [a.get("href") for a in links] == [
        "https://example.org/x?y=1",
        "https://docs.example.org",
    ]
    assert all(a.get("rel") == "nofollow ugc noopener" for a in links)


@pytest.mark.parametrize(
    ("engine", "source"),
    [
        (PYTHON_MARKDOWN, "[ok](https://example.org/a b)"),
        (COMMONMARK, "[ok](<https://example.org/a b>)"),  # CommonMark's way to write a space
        (COMMONMARK, '<a href="https://example.org/a b">ok</a>'),
    ],
    ids=["python-markdown", "commonmark", "html"],
)
def test_spaces_in_link_targets_are_encoded(engine: Engine, source: str) -> None:
    assert 'href="https://example.org/a%20b"' in render(source, engine)


@ENGINES
def test_images_become_links_so_pages_load_nothing_from_other_hosts(engine: Engine) -> None:
    html = render("![a diagram](https://img.example.org/d.png)", engine)
    assert "<img" not in html
    assert (
        '<a href="https://img.example.org/d.png" rel="nofollow ugc noopener">a diagram</a>' in html
    )


@ENGINES
def test_excerpt_is_plain_text(engine: Engine) -> None:
    text = excerpt(render("**Bold** & <b>x</b> 中文 " + "word " * 100, engine), 40)
    assert text.startswith("Bold & x 中文 word word") and text.endswith("…")
    assert len(text) <= 40


def test_commonmark_has_github_extensions() -> None:
    html = render(
        "~~gone~~ www.example.org\n\n| left | right |\n|:--|--:|\n| 1 | 2 |\n\n"
        "- [ ] to do\n- [x] done\n",
        COMMONMARK,
    )
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    assert doc.xpath("//del/text()") == ["gone"]
    assert doc.xpath("//a/@href") == ["http://www.example.org"]
    assert [c.get("align") for c in doc.xpath("//td")] == ["left", "right"]
    # Task list boxes are text: a form control has no place in a post.
    assert doc.xpath("//li/text()") == ["\u2610 to do", "\u2611 done"]
    assert not doc.xpath("//input")


def test_loose_task_lists_put_the_box_in_the_paragraph() -> None:
    doc = lxml.html.fragment_fromstring(
        render("- [x] one\n\n- [ ] two\n", COMMONMARK), create_parent="div"
    )
    assert doc.xpath("//li/p/text()") == ["\u2611 one", "\u2610 two"]


CODE_BLOCKS = [
    "```python\ndef f(x):\n    return x < 1  # <b>&amp;\n```\n",
    '~~~\nplain <text> & "quotes"\n~~~\n',
    "```nginx\nlocation / {\n    proxy_pass http://127.0.0.1:8000;\n}\n```\n",
    "Text.\n\n    indented\n      code <x>\n\nAfter.\n",
    "```sh\n\n\nleading and trailing blank lines\n\n```\n",
]


@pytest.mark.parametrize("source", CODE_BLOCKS)
def test_code_blocks_come_out_the_same_from_both_engines(source: str) -> None:
    """The theme's pygments.css styles `div.highlight pre` and the token classes: both
    engines must give that exact shape."""
    commonmark, python_markdown = (render(source, e) for e in (COMMONMARK, PYTHON_MARKDOWN))
    assert '<div class="highlight"><pre tabindex="0"><span></span><code>' in commonmark
    assert (
        re.sub(r">\s+<", "><", commonmark).strip()
        == re.sub(r">\s+<", "><", python_markdown).strip()
    )


def test_commonmark_images_become_links_with_their_text() -> None:
    html = render(
        '![a *big* diagram](https://img.example.org/d.png "Title")\n\n'
        "![](https://img.example.org/e.png)\n\n"
        '<img src="https://img.example.org/raw.png" onerror="alert(1)">',
        COMMONMARK,
    )
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    assert [(a.get("href"), a.text_content()) for a in doc.xpath("//a")] == [
        ("https://img.example.org/d.png", "a big diagram"),
        ("https://img.example.org/e.png", "https://img.example.org/e.png"),
    ]
    assert not doc.xpath("//img | //*[@title]")  # an <img> typed as HTML is dropped


def test_python_markdown_extensions_of_the_site_are_used() -> None:
    source = "Term\n: its definition\n"
    plain = render(source, PYTHON_MARKDOWN)
    listed = render(source, Engine("python-markdown", ("def_list",)))
    assert "<dl>" not in plain
    assert "<dt>Term</dt>" in listed and "<dd>its definition</dd>" in listed
    # The site's extensions come on top of forumgen's own, under the same sanitizer.
    assert '<div class="highlight">' in render(
        "```\nx\n```\n", Engine("python-markdown", ("def_list",))
    )
    assert_inert(
        render(
            "Term\n: <script>alert(1)</script> [x](javascript:alert(1))\n",
            Engine("python-markdown", ("def_list",)),
        )
    )


def test_engines_are_named_and_extensions_only_for_python_markdown() -> None:
    with pytest.raises(ValueError, match="unknown Markdown engine 'cmark'"):
        Engine("cmark")
    with pytest.raises(ValueError, match="python-markdown only"):
        Engine("commonmark", ("def_list",))


def test_rendering_returns_the_memory_of_the_c_library() -> None:
    """cmarkgfm's own functions keep the syntax tree and the HTML of every call (tens of
    bytes per byte of Markdown); a build renders every post of the forum."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("needs /proc")
    source = "Some *text* with a [link](https://example.org) and `code`.\n\n" * 200
    render(source, COMMONMARK)

    def resident() -> int:
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = resident()
    for _ in range(300):  # 4 MB of Markdown: leaking would hold well over 100 MB
        render(source, COMMONMARK)
    assert resident() - before < 40 * 2**20


BLOCKS = {
    "p",
    "ul",
    "ol",
    "li",
    "pre",
    "table",
    "tr",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "details",
    "summary",
    "dl",
}


def blocks(html: str, skip: frozenset[str] = frozenset()) -> list[str]:
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    return [e.tag for e in doc.iter() if e.tag in BLOCKS - skip]


def test_what_importers_write_renders_alike_under_both_engines() -> None:
    """Imported HTML mail folds its quoted tail and signature into <details> around
    Markdown set off by blank lines, which CommonMark renders as Markdown too; HTML mail and
    Discourse posts become Markdown that both engines read the same way (but for which
    list items get paragraphs)."""
    mail = (
        "Thanks, that fixed it.\n\n1. the timeout\n2. the buffer\n\n"
        "On Tue, 3 Jan 2023, Jane Doe wrote:\n> Try *this*:\n>\n>     timeout 60s;\n>\n"
        "> > an older quote\n\n-- \nTom Becker\nhttps://example.org/tom\n"
    )
    own, quoted, signature = split_tails(mail)
    body = fold(own, [("Quoted text", quoted), ("Signature", signature)])
    assert body.count('<details markdown="1">') == 2
    commonmark = render(body, COMMONMARK)
    assert (
        blocks(commonmark)
        == blocks(render(body, PYTHON_MARKDOWN))
        == [
            "p",
            "ol",
            "li",
            "li",
            "details",
            "summary",
            "p",
            "blockquote",
            "p",
            "pre",
            "blockquote",
            "p",
            "details",
            "summary",
            "p",
        ]
    )
    doc = lxml.html.fragment_fromstring(commonmark, create_parent="div")
    assert doc.xpath("//details[1]/blockquote/p/em/text()") == ["this"]
    assert "markdown" not in commonmark
    html = (
        "<p>Hi <b>all</b>,</p><ul><li>one<ul><li>nested</li></ul></li><li>two</li></ul>"
        "<blockquote><p>q</p></blockquote><pre>code\n  x &lt;y&gt;</pre>"
        "<ol start='3'><li>three</li><li>four</li></ol><h2>Head</h2>"
        "<p>1. not a list<br>line two</p><hr><p><img src='https://x.org/a.png' alt='a'></p>"
    )
    markdown = htmltomd.convert(html)
    no_p = frozenset({"p"})
    assert blocks(render(markdown, COMMONMARK), no_p) == blocks(
        render(markdown, PYTHON_MARKDOWN), no_p
    )


def test_rendering_from_several_threads_at_once() -> None:
    """cmark-gfm changes a global table during each parse and a Python-Markdown instance
    holds the document it converts: renders in threads must not see each other's."""
    sources = [
        "~~gone~~ and *em* " * 100 + "\n\n| a | b |\n|---|---|\n| 1 | ~~2~~ |\n",
        "www.example.org ~~x~~ " * 100 + "\n\n```python\nx = 1\n```\n",
        "- [x] a\n- [ ] b\n\n" * 30,
    ]
    engines = [COMMONMARK, PYTHON_MARKDOWN]
    expected = {(s, e): render(s, e) for s in sources for e in engines}
    wrong: list[str] = []

    def work(n: int) -> None:
        for k in range(300):
            source, engine = sources[(n + k) % 3], engines[(k // 3 + n) % 2]
            try:
                if render(source, engine) != expected[(source, engine)]:
                    wrong.append(f"{engine.name}: different HTML")
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                wrong.append(f"{engine.name}: {exc!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@ENGINES
@pytest.mark.parametrize("name", list(at_max_body()))
def test_pathological_input_at_the_body_limit_renders_safely(name: str, engine: Engine) -> None:
    """Every slow or deep case at the intake's default body limit: it renders (no
    RecursionError), sanitized, and what the engine cannot take is shown as the text it
    is, with no markup but paragraphs and line breaks."""
    source = at_max_body()[name]
    rendered = render(source, engine)
    assert inert_fragment(rendered, name) == []
    assert set(re.findall(r"<([a-z][a-z0-9]*)", rendered)) <= ALLOWED_TAGS
    if hostile(source, engine) is not None:
        assert set(re.findall(r"<([a-z][a-z0-9]*)", rendered)) <= {"p", "br"}
        text = lxml.html.fromstring(f"<div>{rendered}</div>").text_content()
        assert text.split() == source.replace("\x00", "\ufffd").split()


@ENGINES
def test_what_no_engine_can_take_is_named(engine: Engine) -> None:
    """Nesting is bounded for both engines (the sanitizer slows down with depth);
    quadratic inline syntax only for Python-Markdown, which reads it so."""
    assert hostile("> " * 40 + "a", engine) == "quotes or lists nested 40 deep (at most 32)"
    assert hostile("> " * 32 + "a", engine) is None
    assert (hostile("[" * 2000, engine) is None) == (engine == COMMONMARK)
    # Brackets in a closed code fence are not Markdown; nor is a post with links.
    assert hostile("```\n" + "[" * 5000 + "\n```\n", engine) is None
    assert hostile("\n\n".join(["See [the docs](https://example.com/docs)."] * 300), engine) is None
