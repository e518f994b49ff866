"""The built site as readers and crawlers see it: pages, permalinks, pagination, feeds,
sitemap, links. Everything is asserted on real output files."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import feedparser
import lxml.etree
import pytest

from conftest import (
    SiteFactory,
    clean_build_of_a_copy,
    files_of,
    html_files,
    internal_links,
    resolve,
)


@pytest.fixture
def forum(site: SiteFactory) -> SiteFactory:
    site.save_config(topics_per_page=2, posts_per_page=4)
    site.topic("long-thread", title="A long thread", replies=9, tags=["Python", "wsgi"])
    site.reply(
        "long-thread", "zz-answer", date="2024-03-01T00:00:00Z", reply_to="r0001", author="Carol"
    )
    site.topic(
        "pinned-rules", title="Rules", date="2020-01-01T00:00:00Z", pinned=True, tags=["python"]
    )
    site.topic("old", title="Old news", date="2021-01-01T00:00:00Z", locked=True)
    site.topic(
        "help-me",
        title="Help me",
        category="help",
        date="2023-06-01T00:00:00+02:00",
        author="李明",
        body="我需要帮助。",
    )
    site.build()
    return site


def test_every_post_once_on_its_permalink_page(forum: SiteFactory) -> None:
    seen: Counter[str] = Counter()
    for file in html_files(forum.output / "t"):
        seen.update(re.findall(r'<article class="post" id="(p-[^"]+)"', file.read_text()))
    assert seen["p-topic"] == 4  # one opening post per topic
    assert all(count == 1 for key, count in seen.items() if key != "p-topic")
    assert len(seen) == 11  # p-topic, then the long thread's 9 numbered replies and zz-answer
    # The permalink of every post names the page holding it.
    for file in html_files(forum.output / "t"):
        doc = forum.page(file.relative_to(forum.output).as_posix())
        for link in doc.xpath("//a[@class='post-number']/@href"):
            target = resolve(forum.output, link)
            fragment = link.split("#")[1]
            assert f'id="{fragment}"' in target.read_text(), link


def test_topic_pagination_and_reply_links(forum: SiteFactory) -> None:
    # 11 posts at 4 per page: pages 1, 2, 3.
    assert (forum.output / "t/long-thread/page/3/index.html").is_file()
    assert not (forum.output / "t/long-thread/page/4").exists()
    page2 = forum.page("t/long-thread/page/2/")
    assert page2.xpath("//link[@rel='prev']/@href") == ["/t/long-thread/"]
    assert page2.xpath("//link[@rel='next']/@href") == ["/t/long-thread/page/3/"]
    numbers = page2.xpath("//a[@class='post-number']/text()")
    assert numbers == ["#5", "#6", "#7", "#8"]
    page3 = forum.page("t/long-thread/page/3/")
    answer = page3.xpath("//article[@id='p-zz-answer']")[0]
    assert answer.xpath(".//span[@class='in-reply-to']/a/@href") == ["/t/long-thread/#p-r0001"]
    page1 = forum.page("t/long-thread/")
    backlinks = page1.xpath("//article[@id='p-r0001']//footer[@class='backlinks']/a")
    assert [(a.text, a.get("href")) for a in backlinks] == [
        ("#11", "/t/long-thread/page/3/#p-zz-answer")
    ]


def top_of_topic_links(site: SiteFactory, path: str) -> list[str]:
    """The links of a topic page's navigation above its first post, as a reader sees
    them at the top of the page."""
    page = site.page(path)
    nav = page.xpath("//div[@class='topic-nav']")
    if not nav:
        return []
    first_post = page.xpath("//article[@class='post']")[0]
    order = {element: n for n, element in enumerate(page.iter())}
    assert order[nav[0]] < order[first_post]
    return [unquote(href) for href in nav[0].xpath(".//a/@href")]


def page_path(link: str) -> str:
    return link.split("#")[0].removeprefix("/")


@pytest.mark.parametrize("replies", [40, 130], ids=["21-pages", "66-pages"])
def test_any_page_and_the_last_post_are_reached_from_the_top_of_every_page(
    site: SiteFactory, replies: int
) -> None:
    """Without script: from the top of any page of a long topic, every page is at most
    two clicks away (one for a topic of up to 50 pages: its "go to page" list names
    them all), and one link leads to the last post's permalink."""
    site.save_config(posts_per_page=2)
    site.topic("long", title="A long topic", replies=replies)
    site.build()
    count = (replies + 2) // 2
    pages = ["t/long/"] + [f"t/long/page/{n}/" for n in range(2, count + 1)]
    links = {path: top_of_topic_links(site, path) for path in pages}
    last = f"/t/long/page/{count}/#p-r{replies - 1:04d}"
    for path, found in links.items():
        assert found[-1] == last, path
        one_click = {page_path(link) for link in found}
        two_clicks = one_click.union(*(set(map(page_path, links[p])) for p in one_click))
        assert set(pages) <= (one_click if count <= 50 else two_clicks), path
        # A long topic's list is of ranges: a few dozen links, not one per page.
        assert len(found) < 45, (path, len(found))
    assert site.page(page_path(last)).xpath(f"//article[@id='{last.split('#')[1]}']")


def test_short_topics_link_their_last_post_and_nothing_more(site: SiteFactory) -> None:
    site.topic("alone", title="Alone")
    site.topic("few", title="A few posts", replies=3)
    site.build()
    assert top_of_topic_links(site, "t/alone/") == []
    assert top_of_topic_links(site, "t/few/") == ["/t/few/#p-r0002"]


def test_every_page_follows_a_new_last_post_when_the_count_stays(
    site: SiteFactory, tmp_path: Path
) -> None:
    """A reply hidden as another is written keeps the topic's count of posts and pages:
    the link to the last post on each page still changes, as a clean build makes it."""
    site.save_config(posts_per_page=2)
    site.topic("busy", replies=5)
    site.build()
    site.reply("busy", "r0004", "Reply number 4.", "Member 1", "2024-02-01T10:00:04Z", hidden=True)
    site.reply("busy", "zz-new", date="2024-03-01T00:00:00Z")
    site.build()
    for path in ("t/busy/", "t/busy/page/2/", "t/busy/page/3/"):
        assert top_of_topic_links(site, path)[-1] == "/t/busy/page/3/#p-zz-new", path
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "copy")


def side_column_dates(site: SiteFactory, path: str) -> list[str]:
    """When the topic was started and last replied to, as its page's side column (the
    `aside` beside the posts on a wide screen) gives them."""
    aside = site.page(path).xpath("//article[@class='thread']//aside[@aria-label]")
    assert len(aside) == 1, path
    return [str(d) for d in aside[0].xpath(".//dl[@class='topic-dates']//time/@datetime")]


def test_every_page_shows_the_last_replys_date_when_it_changes(
    site: SiteFactory, tmp_path: Path
) -> None:
    """The side column of each page of a topic shows its last reply's date: a new date
    written in that reply's file (no new reply, the same count) changes every page, as
    a clean build makes them."""
    site.save_config(posts_per_page=2)
    site.topic("dated", replies=5)
    site.build()
    pages = ("t/dated/", "t/dated/page/2/", "t/dated/page/3/")
    for path in pages:
        assert side_column_dates(site, path) == [
            "2024-01-01T10:00:00+00:00",
            "2024-02-01T10:00:04+00:00",
        ], path
    site.reply("dated", "r0004", "Reply number 4.", "Member 1", "2024-02-03T09:30:00Z")
    site.build()
    for path in pages:
        assert side_column_dates(site, path)[-1] == "2024-02-03T09:30:00+00:00", path
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "copy")


def test_post_shows_author_link_and_absolute_time(forum: SiteFactory) -> None:
    post = forum.page("t/help-me/").xpath("//article[@id='p-topic']")[0]
    assert post.xpath(".//a[@class='post-author']/@href") == ["/u/%E6%9D%8E%E6%98%8E/"]
    time = post.xpath(".//time")[0]
    # Shown in the site's time zone (UTC here), whatever offset the file used.
    assert time.get("datetime") == "2023-05-31T22:00:00+00:00"
    assert time.text == "31 May 2023, 22:00"


def test_listings_paginate_and_pin(forum: SiteFactory) -> None:
    home = forum.page("")
    assert home.xpath("//a[@class='topic-title']/text()") == ["A long thread", "Help me"]
    assert home.xpath("//link[@rel='next']/@href") == ["/page/2/"]
    assert forum.page("page/2/").xpath("//a[@class='topic-title']/text()") == ["Old news", "Rules"]
    general = forum.page("c/general/")
    assert general.xpath("//a[@class='topic-title']/text()") == ["Rules", "A long thread"]
    tag = forum.page("tag/python/")
    assert tag.xpath("//a[@class='topic-title']/text()") == ["A long thread", "Rules"]


def test_locked_topic_has_no_reply_form(forum: SiteFactory) -> None:
    assert forum.page("t/old/").xpath("//form[@method='post']") == []
    form = forum.page("t/help-me/").xpath("//form[@method='post']")[0]
    assert form.get("action") == "/intake/topics/help-me/replies"
    assert form.xpath(".//input[@name='website']/ancestor::div[@aria-hidden='true']")
    for field in form.xpath(".//input|.//textarea|.//select"):
        assert form.xpath(f".//label[@for='{field.get('id')}']"), field.get("name")
    new = forum.page("new/").xpath("//form[@method='post']")[0]
    assert new.get("action") == "/intake/topics"
    # Only what is kept is asked for: no e-mail address.
    assert form.xpath(".//*[@name]/@name") == ["author", "reply_to", "body", "website"]
    assert new.xpath(".//*[@name]/@name") == [
        "title",
        "category",
        "tags",
        "author",
        "body",
        "website",
    ]
    assert new.xpath(".//select[@name='category']/option/@value") == ["", "general", "help"]


def test_author_page_lists_topics_and_replies(forum: SiteFactory) -> None:
    carol = forum.page("u/carol/")
    assert carol.xpath("//ul[@class='activity']/li/a/@href") == [
        "/t/long-thread/page/3/#p-zz-answer"
    ]
    # Ann started 3 topics, newest first: fewer than three listing pages hold (6), so
    # she has no archive.
    ann = forum.page("u/ann-smith/")
    assert ann.xpath("//section[@aria-labelledby='started-heading']//li/a/@href") == [
        "/t/long-thread/",
        "/t/old/",
        "/t/pinned-rules/",
    ]
    assert ann.xpath("//p[@class='profile-stats']/text()") == ["3 posts"]
    assert ann.xpath("//p[@class='archive-link']/a/@href") == []
    assert not (forum.output / "u/ann-smith/archive").exists()


def test_every_internal_link_resolves(forum: SiteFactory) -> None:
    links = list(internal_links(forum.output))
    assert len(links) > 100
    for page, link in links:
        target = resolve(forum.output, link)
        assert target.is_file(), f"{page}: {link}"
        if "#" in link:
            assert f'id="{link.split("#")[1]}"' in target.read_text(), f"{page}: {link}"


def test_feeds_parse_with_entries(forum: SiteFactory) -> None:
    site_feed = feedparser.parse((forum.output / "feed.xml").read_bytes())
    assert not site_feed.bozo
    assert [e.title for e in site_feed.entries] == ["A long thread", "Help me", "Old news", "Rules"]
    entry = site_feed.entries[1]
    assert entry.link == "http://forum.test/t/help-me/"
    assert entry.author == "李明"
    assert "我需要帮助" in entry.content[0].value
    topic_feed = feedparser.parse((forum.output / "t/long-thread/feed.xml").read_bytes())
    assert not topic_feed.bozo and len(topic_feed.entries) == 11
    assert topic_feed.entries[0].link == "http://forum.test/t/long-thread/page/3/#p-zz-answer"
    category_feed = feedparser.parse((forum.output / "c/help/feed.xml").read_bytes())
    assert [e.title for e in category_feed.entries] == ["Help me"]


UNLISTED = {"404.html", "new/index.html", "search/index.html", "tag/index.html", "c/index.html"}
"""The pages no sitemap lists: the 404 page, the forms, and the redirect pages of the bare
prefixes of tag and category pages."""


def test_sitemap_robots_404_canonical(forum: SiteFactory) -> None:
    tree = lxml.etree.parse(str(forum.output / "sitemap.xml"))
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = tree.xpath("//s:loc/text()", namespaces=ns)
    assert "http://forum.test/t/long-thread/page/3/" in locs
    assert len(tree.xpath("//s:lastmod", namespaces=ns)) == len(locs)
    pages = {p.relative_to(forum.output).as_posix() for p in html_files(forum.output)}
    listed = {unquote(loc.removeprefix("http://forum.test/")) + "index.html" for loc in locs}
    assert listed == pages - UNLISTED
    assert "Sitemap: http://forum.test/sitemap.xml" in (forum.output / "robots.txt").read_text()
    assert (forum.output / "404.html").is_file()
    canonical = forum.page("t/long-thread/page/2/").xpath("//link[@rel='canonical']/@href")
    assert canonical == ["http://forum.test/t/long-thread/page/2/"]


def test_large_sitemaps_split_into_parts_by_kind(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SITEMAP_PART URLs: an index over parts, each listing pages of one kind, so a
    new post rewrites the parts holding its pages instead of one huge file."""
    monkeypatch.setattr("forumgen.pages.SITEMAP_PART", 4)
    site.save_config(topics_per_page=2)
    for number in range(9):
        site.topic(
            f"topic-{number}",
            author=f"Author {number % 3}",
            replies=number % 2,
            date=f"2024-01-0{number + 1}T00:00:00Z",
        )
    site.build()
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    index = lxml.etree.parse(str(site.output / "sitemap.xml"))
    parts = [
        unquote(loc.removeprefix("http://forum.test/"))
        for loc in index.xpath("//s:sitemap/s:loc/text()", namespaces=ns)
    ]
    kinds = Counter(re.sub(r"-\d+\.xml$", "", p) for p in parts)
    assert kinds.keys() == {"sitemap-lists", "sitemap-topics", "sitemap-authors"}
    assert kinds["sitemap-topics"] > 1 and kinds["sitemap-lists"] > 1
    listed: list[str] = []
    for part in parts:
        locs = lxml.etree.parse(str(site.output / part)).xpath("//s:loc/text()", namespaces=ns)
        assert locs  # parts are spread by a hash of the path: balanced at scale, not at 4
        listed += [unquote(loc.removeprefix("http://forum.test/")) + "index.html" for loc in locs]
    pages = {p.relative_to(site.output).as_posix() for p in html_files(site.output)}
    assert sorted(listed) == sorted(pages - UNLISTED)


def test_schema_org_markup(forum: SiteFactory) -> None:
    page = forum.page("t/long-thread/")
    posting = page.xpath("//*[@itemtype='https://schema.org/DiscussionForumPosting']")[0]
    assert posting.xpath(".//*[@itemprop='headline']/text()") == ["A long thread"]
    assert len(posting.xpath(".//*[@itemprop='comment']")) == 3
    crumbs = page.xpath(
        "//*[@itemtype='https://schema.org/BreadcrumbList']//*[@itemprop='name']/text()"
    )
    assert crumbs == ["Home", "General", "A long thread"]


def test_base_url_with_path_prefixes_every_link(site: SiteFactory) -> None:
    site.save_config(base_url="https://example.org/archive/")
    site.topic("hello", replies=2)
    site.build()
    hrefs = [link for _, link in internal_links(site.output, "/archive/")]
    assert hrefs and all(h.startswith("/archive/") for h in hrefs)
    for _, link in internal_links(site.output, "/archive/"):
        assert resolve(site.output, link, "/archive/").is_file()
    feed = feedparser.parse((site.output / "feed.xml").read_bytes())
    assert feed.entries[0].link == "https://example.org/archive/t/hello/"


def test_chinese_language_strings_and_dates(site: SiteFactory) -> None:
    site.save_config(language="zh-CN", timezone="Asia/Shanghai")
    site.topic("你好", title="你好世界", date="2024-03-05T01:02:00Z")
    site.build()
    page = site.page("t/你好/")
    assert page.xpath("/html/@lang") == ["zh-CN"]
    assert page.xpath("//article[@id='p-topic']//time/text()") == ["2024年3月5日 09:02"]
    assert page.xpath("//h2[@id='reply-heading']/text()") == ["回复此话题"]
    assert site.page("").xpath("//a[@class='skip-link']/text()") == ["跳到正文"]


def test_redirect_from_gets_a_redirect_page(site: SiteFactory) -> None:
    site.topic("new-home", redirect_from=["/viewtopic.php/12", "old/thread-12.html"])
    site.build()
    page = site.page("viewtopic.php/12/")
    assert page.xpath("//link[@rel='canonical']/@href") == ["http://forum.test/t/new-home/"]
    assert (site.output / "old/thread-12.html").is_file()


def test_pages_load_nothing_from_other_hosts(forum: SiteFactory) -> None:
    """Only links people follow may point elsewhere: nothing a page loads by itself."""
    for file in html_files(forum.output):
        page = lxml.html.fromstring(file.read_bytes())
        loaded = page.xpath(
            "//script/@src|//img/@src|//iframe/@src|//link[@rel='stylesheet']"
            "/@href|//link[@rel='icon']/@href|//source/@src|//video/@src"
        )
        assert all(not re.match(r"(https?:)?//", url) for url in loaded), (file, loaded)
        # No inline script (the CSP forbids it); the search page alone runs the theme's.
        search = file == forum.output / "search/index.html"
        assert [s.get("src") for s in page.xpath("//script")] == (
            ["/static/search.js"] if search else []
        ), file
