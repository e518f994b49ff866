"""The indexes of tags (`/tags/`), categories (`/categories/`) and authors (`/u/`), and
the bare `/tag/` and `/c/` that lead to the first two: served over HTTP by a real
static server, reached from the header in Chromium, paginated past a sane size, and
rewritten by a reply only where what they show changed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest

from browser import chromium
from conftest import SiteFactory, clean_build_of_a_copy, files_of, snapshot
from forumgen.i18n import STRINGS
from forumgen.indexes import INDEX_PAGES
from servers import ROOT, Server, free_port, running

TEXT = STRINGS["en"]
ENTRIES = "//main//ul[@class='activity']/li"


def small_forum(site: SiteFactory) -> None:
    """Three topics in two categories, two tags (one on two topics), three authors."""
    site.topic("alpha", author="Ann Smith", tags=["nginx", "gunicorn"], date="2024-01-01T10:00:00Z")
    site.reply("alpha", "r0001", author="Bob", date="2024-01-02T10:00:00Z")
    site.topic("beta", category="help", author="Bob", tags=["nginx"], date="2024-01-03T10:00:00Z")
    site.topic("gamma", category="help", author="李明", date="2024-01-04T10:00:00Z")
    site.reply("gamma", "r0001", author="Ann Smith", date="2024-01-05T10:00:00Z")


@pytest.fixture
def served(site: SiteFactory) -> Iterator[tuple[SiteFactory, Server]]:
    """The small forum built for, and served by, forumgen's static-file app."""
    small_forum(site)
    port = free_port()
    site.save_config(base_url=f"http://127.0.0.1:{port}/")
    site.build()
    command = [sys.executable, str(ROOT / "tests/static_server.py"), str(site.output), str(port)]
    with running(command, port, {}, "/") as server:
        yield site, server


def rows(html: str) -> list[tuple[str, str, str]]:
    """(link text, link, count) of each entry of an index page."""
    doc = lxml.html.fromstring(html)
    return [
        (li.find("a").text_content(), li.find("a").get("href"), li.find("span").text_content())
        for li in doc.xpath(ENTRIES)
    ]


def test_indexes_answer_with_every_tag_category_and_author(
    served: tuple[SiteFactory, Server],
) -> None:
    _, server = served
    tags = server.get("/tags/")
    assert tags.status == 200
    assert rows(tags.text) == [
        ("nginx", "/tag/nginx/", "2 topics"),
        ("gunicorn", "/tag/gunicorn/", "1 topic"),
    ]
    categories = server.get("/categories/")
    assert categories.status == 200
    assert rows(categories.text) == [
        ("General", "/c/general/", "1 topic"),
        ("Help", "/c/help/", "2 topics"),
    ]
    described = lxml.html.fromstring(categories.text).xpath(f"{ENTRIES}/p")
    assert [p.text_content() for p in described] == ["Questions"]
    authors = server.get("/u/")
    assert authors.status == 200
    assert rows(authors.text) == [
        ("Ann Smith", "/u/ann-smith/", "1 topic started · 2 posts"),
        ("Bob", "/u/bob/", "1 topic started · 2 posts"),
        ("李明", "/u/%E6%9D%8E%E6%98%8E/", "1 topic started · 1 post"),
    ]
    for bare, target in (("/tag/", "/tags/"), ("/c/", "/categories/")):
        answer = server.get(bare)
        assert answer.status == 200, bare
        head = lxml.html.fromstring(answer.text)
        assert head.xpath("//meta[@http-equiv='refresh']/@content")[0] == f"0; url={target}"
        assert head.xpath("//link[@rel='canonical']/@href")[0].endswith(target)


def test_the_header_leads_to_each_index_and_bare_prefixes_lead_there(
    served: tuple[SiteFactory, Server],
) -> None:
    _, server = served
    base = f"http://127.0.0.1:{server.port}"
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        for name, path, heading in (
            ("categories", "/categories/", TEXT["categories"]),
            ("tags", "/tags/", TEXT["tags"]),
            ("authors", "/u/", TEXT["authors"]),
        ):
            driver.get(base + "/t/alpha/")
            nav = driver.find_element(By.CSS_SELECTOR, "header nav")
            nav.find_element(By.LINK_TEXT, TEXT[name]).click()
            assert driver.current_url == base + path
            assert driver.find_element(By.CSS_SELECTOR, "main h1").text == heading
            current = driver.find_element(By.CSS_SELECTOR, "header nav [aria-current=page]")
            assert current.text == TEXT[name]
        for bare, path in (("/tag/", "/tags/"), ("/c/", "/categories/")):
            driver.get(base + bare)
            assert driver.current_url == base + path, bare
    with chromium(375, 812) as phone:  # nothing is cut off; the footer leads to each index
        phone.get(base + "/t/alpha/")
        wide, window = phone.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert wide <= window
        new_topic = phone.find_element(By.LINK_TEXT, TEXT["new_topic"]).rect
        assert new_topic["x"] + new_topic["width"] <= window
        for name, path in (("categories", "/categories/"), ("tags", "/tags/"), ("authors", "/u/")):
            shown = [
                link
                for link in phone.find_elements(By.LINK_TEXT, TEXT[name])
                if link.is_displayed()
            ]
            assert shown, f"no link to {path} shown on a phone"
            assert shown[0].get_attribute("href") == base + path


def authors_forum(site: SiteFactory, count: int) -> None:
    """One topic with a reply by each of `count` members; an index page lists ten."""
    site.save_config(topics_per_page=1)
    site.topic("hello", author="Member 00", tags=["greeting"])
    for n in range(1, count):
        site.reply(
            "hello", f"r{n:04d}", author=f"Member {n:02d}", date=f"2024-02-{n:02d}T10:00:00Z"
        )


def test_the_authors_index_is_paginated(site: SiteFactory) -> None:
    per_page = INDEX_PAGES  # topics_per_page is 1
    authors_forum(site, 2 * per_page + 3)
    site.build()
    first, second, third = (site.page(p) for p in ("u/", "u/page/2/", "u/page/3/"))
    names = [
        [a.text_content() for a in page.xpath(f"{ENTRIES}/a")] for page in (first, second, third)
    ]
    assert names == [
        [f"Member {n:02d}" for n in range(0, per_page)],
        [f"Member {n:02d}" for n in range(per_page, 2 * per_page)],
        [f"Member {n:02d}" for n in range(2 * per_page, 2 * per_page + 3)],
    ]
    assert first.xpath("//link[@rel='next']/@href")[0] == "/u/page/2/"
    assert third.xpath("//link[@rel='prev']/@href")[0] == "/u/page/2/"
    assert not (site.output / "u/page/4").exists()


def test_a_member_called_page_is_not_taken_for_a_page_of_the_authors_index(
    site: SiteFactory,
) -> None:
    """Page 2 of u/ lives at u/page/2/, inside the folder of a member whose name makes the
    slug "page": the header marks the index as the current page there, not on their page."""
    authors_forum(site, INDEX_PAGES + 3)
    site.reply("hello", "r9000", author="Page", date="2024-03-01T10:00:00Z")
    site.build()

    def current(path: str) -> list[str]:
        return [a.text_content() for a in site.page(path).xpath("//header//nav//a[@aria-current]")]

    assert site.page("u/page/").xpath("//main//h1")[0].text_content() == "Page"
    assert current("u/page/") == []
    assert current("u/") == current("u/page/2/") == [TEXT["authors"]]


def index_or_author(file: str) -> bool:
    """A file of the indexes, of the bare prefixes' redirects, or of an author."""
    return file.startswith(("u/", "tags/", "categories/")) or file in (
        "tag/index.html",
        "c/index.html",
    )


def test_a_reply_rewrites_only_the_index_page_listing_its_author(
    site: SiteFactory, tmp_path: Path
) -> None:
    """A reply changes no topic count (tags/, categories/ stay as they are) and one
    author's post count: the one page of u/ that lists them. A new author, last by name,
    adds to the last page only. Each time the output is what a clean build makes."""
    authors_forum(site, 2 * INDEX_PAGES + 3)
    site.build()
    before = snapshot(site.output)
    site.reply("hello", "r9001", author="Member 15", date="2024-03-01T10:00:00Z")
    site.build()
    after = snapshot(site.output)
    changed = {k for k in after if index_or_author(k) and before.get(k) != after[k]}
    assert changed == {"u/page/2/index.html", "u/member-15/index.html", "u/member-15/feed.xml"}
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "one")

    site.reply("hello", "r9002", author="Zed", date="2024-03-02T10:00:00Z")
    site.build()
    again = snapshot(site.output)
    changed = {k for k in again if index_or_author(k) and after.get(k) != again[k]}
    assert changed == {"u/page/3/index.html", "u/zed/index.html", "u/zed/feed.xml"}
    assert "Zed" in site.page("u/page/3/").text_content()
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "two")


def test_an_empty_forum_has_empty_indexes(site: SiteFactory) -> None:
    site.build()
    assert TEXT["no_tags"] in site.page("tags/").text_content()
    assert TEXT["no_authors"] in site.page("u/").text_content()
    assert [r[0] for r in rows((site.output / "categories/index.html").read_text())] == [
        "General",
        "Help",
    ]


def test_an_author_is_named_as_their_page_names_them(site: SiteFactory) -> None:
    """Names that make the same slug are one author, named as on their newest post;
    of two posts written at the same instant, the one in the last topic by slug."""
    site.topic("one", author="Ann Smith", date="2024-01-01T10:00:00Z")
    site.topic("two", author="ann smith", date="2024-01-02T10:00:00Z")
    site.topic("three", author="ANN SMITH", date="2024-01-02T10:00:00Z")
    site.build()
    listed = rows((site.output / "u/index.html").read_text(encoding="utf-8"))
    assert listed == [("ann smith", "/u/ann-smith/", "3 topics started · 3 posts")]
    assert site.page("u/ann-smith/").xpath("//main//h1/text()") == ["ann smith"]
