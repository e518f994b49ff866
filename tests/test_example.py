"""The bundled example forum builds cleanly and shows everything a forum has."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner

from conftest import internal_links, resolve
from forumgen.build import load
from forumgen.cli import main
from forumgen.markup import COMMONMARK, PYTHON_MARKDOWN, render

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("example") / "output"
    result = CliRunner().invoke(main, ["build", "--site", str(ROOT), "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_example_forum_is_a_real_forum() -> None:
    config, site = load(ROOT)
    posts = [p for t in site.topics for p in t.posts]
    assert len(site.categories) >= 6
    assert len(site.topics) >= 40
    assert len(posts) >= 300
    assert any(t.pinned for t in site.topics) and any(t.locked for t in site.topics)
    assert max(len(t.posts) for t in site.topics) > 2 * config.posts_per_page
    assert sum(1 for p in posts if p.reply_to) >= 50
    assert sum(1 for t in site.topics if any("\u4e00" <= c <= "\u9fff" for c in t.title)) >= 5
    assert sum(1 for p in posts if "```" in p.body) >= 20
    assert sum(1 for p in posts if "\n> " in "\n" + p.body) >= 20
    assert len(site.tags()) >= 10


def test_example_output_links(built: Path) -> None:
    """Every link resolves to a file (feeds: tests/test_feeds.py)."""
    for page, link in internal_links(built):
        target = resolve(built, link)
        assert target.is_file(), f"{page}: {link}"
        if "#" in link:
            assert f'id="{link.split("#")[1]}"' in target.read_text(), f"{page}: {link}"


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
    "dl",
}


def test_example_posts_read_the_same_in_both_markdown_engines() -> None:
    """The example is written in the Markdown both dialects share: every post gives the
    same sequence of block elements under CommonMark and under Python-Markdown."""
    config, site = load(ROOT)
    assert config.markdown == COMMONMARK
    differ = []
    structures = set()
    # Mail posts are shown as mail, never read as Markdown.
    for post in (p for t in site.topics for p in t.posts if p.format == "markdown"):
        shapes = []
        for engine in (COMMONMARK, PYTHON_MARKDOWN):
            doc = lxml.html.fragment_fromstring(render(post.body, engine), create_parent="div")
            shapes.append([e.tag for e in doc.iter() if e.tag in BLOCKS])
        if shapes[0] != shapes[1]:
            differ.append(post.path)
        structures.update(shapes[0])
    assert differ == []
    assert {"p", "ul", "ol", "li", "pre", "blockquote", "table"} <= structures
