"""Markdown that makes renderers slow or deep: cmark-gfm's pathological inputs, and what
Python-Markdown in particular cannot take. Shared by the tests (what comes out) and by
`python -m benchmarks.hostile` (how long it takes)."""

from __future__ import annotations

# cmark-gfm's test/pathological_tests.py, at a tenth to a third of its sizes.
PATHOLOGICAL = {
    "nested strong emph": (
        ("*a **a " * 3000) + "b" + (" a** a*" * 3000),
        r"(<em>a <strong>a ){3000}b( a</strong> a</em>){3000}",
    ),
    "many emph closers with no openers": ("a_ " * 15000, r"(a_ ){14999}a_"),
    "many emph openers with no closers": ("_a " * 15000, r"(_a ){14999}_a"),
    "many link closers with no openers": ("a]" * 20000, r"(a\]){20000}"),
    "many link openers with no closers": ("[a" * 20000, r"(\[a){20000}"),
    "mismatched openers and closers": ("*a_ " * 10000, r"(\*a_ ){9999}\*a_"),
    "openers and closers multiple of 3": ("a**b" + ("c* " * 15000), r"a\*\*b(c\* ){14999}c\*"),
    "link openers and emph closers": ("[ a_" * 10000, r"(\[ a_){10000}"),
    "pattern [ (]( repeated": ("[ (](" * 8000, r"(\[ \(\]\(){8000}"),
    "nested brackets": ("[" * 20000 + "a" + "]" * 20000, r"\[{20000}a\]{20000}"),
    # Nested beyond markup.MAX_DEPTH: shown as the text it is, with no markup.
    "nested block quotes": ("> " * 5000 + "a", r"^<p>(&gt; ){5000}a</p>\n?$"),
    "deeply nested lists": (
        "".join("  " * n + "* a\n" for n in range(150)),
        r"^<p>\* a<br>\n  \* a<br>\n",
    ),
    "U+0000 in input": ("abc\u0000de\u0000", "abc\ufffdde\ufffd"),
    "backticks": ("".join("e" + "`" * n for n in range(1, 200)), r"^<p>[e`]*</p>\n?$"),
    "unclosed links A": ("[a](<b" * 6000, r"(\[a\]\(&lt;b){6000}"),
    "unclosed links B": ("[a](b" * 8000, r"(\[a\]\(b){8000}"),
    "tables": (
        "aaa\rbbb\n-\v\n" * 3000,
        r"(<tr>\n?<td>aaa</td>\n?</tr>\n?<tr>\n?<td>bbb</td>"
        r"\n?</tr>\n?<tr>\n?<td>-\x0b</td>\n?</tr>\n?){2999}",
    ),
}

# Python-Markdown: nesting it recurses on, and inline syntax it reads in quadratic time.
MAX_BODY = 20000
"""The default intake.max_body_chars: every case is taken at this length."""
MARKDOWN_HOSTILE = {
    "list markers on one line": "- " * 9999 + "x",
    "ordered list markers on one line": "1. " * 6666 + "x",
    "link openers": "[" * MAX_BODY,
    "image openers": "![" * (MAX_BODY // 2),
    "nested empty links": "[](" * (MAX_BODY // 3),
    "unclosed tags": "<a " * (MAX_BODY // 3),
    "deeply nested block quotes": "> " * (MAX_BODY // 2),
    "nested raw lists": "<ul><li>" * (MAX_BODY // 8),
}


def at_max_body() -> dict[str, str]:
    """Every case, repeated or cut to MAX_BODY characters."""
    cases = {name: source for name, (source, _) in PATHOLOGICAL.items()} | MARKDOWN_HOSTILE
    return {
        name: (source * (MAX_BODY // len(source) + 1))[:MAX_BODY] for name, source in cases.items()
    }
