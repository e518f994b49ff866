"""Imported Discourse posts keep the block structure Discourse gave them.

Each post of the fixture set in tests/data/discourse/ (real topic JSON of public Discourse
forums, and hand-written posts for the cases they lack; see SOURCES.md there) is imported
through `forumgen import discourse`, the site is built, and the post as the built page
shows it (its `#p-<id>` article) is compared with the post's `cooked` HTML, Discourse's
own rendering: the sequence of list items (with their nesting depth), code blocks,
tables (rows x columns), strikethrough, headings and quotes must be the same. Link
previews (oneboxes) are their link on the site, so their insides are not counted.

Run with `-rP` to see the figures.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from conftest import SiteFactory

FIXTURES = Path(__file__).parent / "data" / "discourse"
OLD = "https://discuss.criticalfallibilism.com"
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
STRUCK = {"s", "del", "strike"}


def _preview(element: lxml.html.HtmlElement) -> bool:
    classes = (element.get("class") or "").split()
    return element.tag != "a" and (
        any(c == "onebox" or c.endswith("-onebox") for c in classes)
        or (element.tag == "aside" and "quote" in classes and element.get("data-username") is None)
    )


def structure(element: lxml.html.HtmlElement, depth: int = 0) -> Iterator[str]:
    """The blocks that make a post's layout, in document order."""
    for child in element:
        if not isinstance(child.tag, str) or _preview(child):
            continue
        if child.tag == "li":
            yield f"li{depth}"
        elif child.tag == "pre":
            yield "pre"
        elif child.tag in STRUCK:
            yield "s"
        elif child.tag in HEADINGS or child.tag == "blockquote":
            yield child.tag
        elif child.tag == "table":
            rows = child.xpath(".//tr")
            yield f"table {len(rows)}x{max(len(r.xpath('./td|./th')) for r in rows)}"
            continue
        yield from structure(child, depth + (child.tag in ("ul", "ol")))


def fixture_posts() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for path in sorted(FIXTURES.glob("*.json")):
        topic = json.loads(path.read_text("utf-8"))
        for post in topic["post_stream"]["posts"]:
            if post.get("fixture") != "placeholder":  # stands in for a post not sampled
                yield topic, post


def built_posts(site: SiteFactory) -> dict[tuple[int, int], lxml.html.HtmlElement]:
    """(topic id, post number) -> the post's body on its built page, found through the
    redirect its old address gets."""
    found = {}
    pages: dict[str, lxml.html.HtmlElement] = {}
    for line in (site.output / "_redirects").read_text("utf-8").splitlines():
        old, target, _ = line.split(" ")
        parts = old.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "t":
            continue
        path, _, anchor = target.partition("#")
        if path not in pages:
            pages[path] = site.page(path.lstrip("/"))
        bodies = pages[path].xpath(
            f"//article[@id='{anchor or 'p-topic'}']//div[contains(@class, 'post-body')]"
        )
        found[int(parts[2]), int(parts[3])] = bodies[0]
    return found


def measure(site: SiteFactory, export: Path) -> tuple[int, list[str]]:
    result = site.cli("import", "discourse", str(export), "--old-url", OLD)
    assert result.exit_code == 0, result.output
    site.build()
    built = built_posts(site)
    total, wrong = 0, []
    for topic, post in fixture_posts():
        cooked = lxml.html.fragment_fromstring(post["cooked"] or "<p></p>", create_parent="div")
        want = list(structure(cooked))
        got = list(structure(built[topic["id"], post["post_number"]]))
        total += 1
        if got != want:
            wrong.append(
                f"topic {topic['id']} post {post['post_number']}: Discourse {want}, site {got}"
            )
    return total, wrong


@pytest.mark.parametrize("source", ["raw", "cooked"])
def test_posts_keep_discourse_block_structure(
    site: SiteFactory, tmp_path: Path, source: str
) -> None:
    export = tmp_path / "export"
    shutil.copytree(FIXTURES, export)
    if source == "cooked":  # as /t/<id>.json gives posts: cooked HTML only
        for path in export.glob("*.json"):
            topic = json.loads(path.read_text("utf-8"))
            for post in topic["post_stream"]["posts"]:
                post.pop("raw", None)
            path.write_text(json.dumps(topic, ensure_ascii=False), "utf-8")
    total, wrong = measure(site, export)
    kept = total - len(wrong)
    print(
        f"{source}: block structure kept in {kept} of {total} posts ({100 * kept / total:.1f}%)",
        *wrong,
        sep="\n",
    )
    assert total >= 30
    assert kept / total >= 0.98, "\n".join(wrong)
