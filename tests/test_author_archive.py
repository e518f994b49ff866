"""Author pages at any volume, as readers, crawlers and a host syncing output/ see them:
an author's page lists their newest topics started and newest replies, at most
three listing pages' worth of each (`topics_per_page` times `PAGES_SHOWN`), and what
does not fit is in their archive by month; a reply by a prolific author rewrites as many
files as one by an author of a hundred posts, and renders only the posts the rewritten
pages show."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import SiteFactory, clean_build_of_a_copy, files_of, sitemap_lastmods, snapshot
from forumgen.config import builtin_themes

PER_MONTH = 10
"""Pat writes this many posts a month; every tenth opens a topic of Pat's own."""


def month_of(n: int) -> tuple[int, int]:
    """The month of Pat's post number `n` (from 0): January 2010 onwards."""
    month = n // PER_MONTH
    return 2010 + month // 12, month % 12 + 1


def prolific(site: SiteFactory, posts: int) -> list[str]:
    """A forum where Ann started a topic (answered by Bob) and Pat wrote `posts` posts:
    topics of ten posts, each opened and answered by Pat, `PER_MONTH` posts a month.
    Returns the links to Pat's posts, oldest first."""
    site.topic("news", title="News", category="help", date="2009-12-01T10:00:00Z")
    site.reply("news", "bob", author="Bob", date="2009-12-02T10:00:00Z")
    links = []
    for n in range(posts):
        year, month = month_of(n)
        date = f"{year}-{month:02d}-{n % PER_MONTH + 1:02d}T10:00:00Z"
        slug = f"pat-{n // 10:03d}"
        if n % 10 == 0:
            site.topic(slug, title=f"Pat's topic {n // 10}", author="Pat", date=date)
            links.append(f"/t/{slug}/")
        else:
            site.reply(slug, f"r{n:04d}", author="Pat", date=date, body=f"Pat's reply {n}.")
            links.append(f"/t/{slug}/#p-r{n:04d}")
    site.build()
    return links


def latest_reply(site: SiteFactory, posts: int) -> None:
    """One more reply by Pat, to Ann's topic, in the month of Pat's newest post."""
    year, month = month_of(posts - 1)
    site.reply("news", "pat", author="Pat", date=f"{year}-{month:02d}-28T10:00:00Z")


def rewritten(site: SiteFactory) -> list[str]:
    """The output files the next build writes (creates or replaces), but for the search
    index, whose shards follow the size of all the text (see tests/test_search.py)."""
    before = snapshot(site.output)
    site.build()
    return sorted(
        name
        for name, state in snapshot(site.output).items()
        if before.get(name) != state and not name.startswith("search/")
    )


def entries(site: SiteFactory, path: str, section: str) -> list[str]:
    return [
        str(a)
        for a in site.page(path).xpath(
            f"//section[@aria-labelledby='{section}-heading']//ul[@class='activity']/li/a/@href"
        )
    ]


def archive_link(site: SiteFactory, path: str) -> list[str]:
    return [str(h) for h in site.page(path).xpath("//p[@class='archive-link']/a/@href")]


def written_by_a_reply(site: SiteFactory, posts: int) -> list[str]:
    """What a reply by Pat rewrites, in a forum where Pat wrote `posts` posts."""
    links = prolific(site, posts)
    # The page lists the newest 90 replies and at most 90 topics started, newest first.
    replies = [link for link in links if "#" in link]
    started = [link for link in links if "#" not in link]
    assert entries(site, "u/pat/", "replies") == replies[::-1][:90]
    assert entries(site, "u/pat/", "started") == started[::-1][:90]
    assert archive_link(site, "u/pat/") == ["/u/pat/archive/"]
    count = site.page("u/pat/").xpath("//p[@class='profile-stats']/text()")
    assert count == [f"{posts} posts"]
    latest_reply(site, posts)
    written = rewritten(site)
    year, month = month_of(posts - 1)
    # Pat's page and feed, the archive's index (a count), the last page of the reply's
    # month, and the index of authors (Pat's count).
    assert [name for name in written if name.startswith("u/")] == [
        "u/index.html",
        f"u/pat/archive/{year}/{month:02d}/index.html",
        "u/pat/archive/index.html",
        "u/pat/feed.xml",
        "u/pat/index.html",
    ]
    assert entries(site, "u/pat/", "replies")[:2] == ["/t/news/#p-pat", replies[-1]]
    assert len(entries(site, "u/pat/", "replies")) == 90
    assert site.page("u/pat/").xpath("//p[@class='profile-stats']/text()") == [f"{posts + 1} posts"]
    return written


def test_a_reply_by_an_author_of_110_or_of_290_posts_writes_as_many_files(
    tmp_path: Path,
) -> None:
    """Both forums' topics fit on one listing page, so the listings change alike."""
    few = written_by_a_reply(SiteFactory(tmp_path / "few"), 110)
    many = written_by_a_reply(SiteFactory(tmp_path / "many"), 290)
    assert len(few) == len(many) == 10, (few, many)
    assert [name for name in few if not name.startswith("u/")] == [
        "c/help/index.html",
        "index.html",
        "sitemap.xml",
        "t/news/feed.xml",
        "t/news/index.html",
    ]


def test_every_post_is_reachable_from_the_archive_oldest_first(site: SiteFactory) -> None:
    """With 4 entries a page, months of 10 posts take 3 pages; Pat's page lists 12."""
    site.save_config(topics_per_page=4)
    links = prolific(site, 40)
    assert len(entries(site, "u/pat/", "replies")) == 12
    assert len(entries(site, "u/pat/", "started")) == 4
    index = site.page("u/pat/archive/")
    assert index.xpath("//h1/text()") == ["Archive of posts by Pat"]
    assert index.xpath("//main//h2/text()") == ["2010"]
    months = [
        (a.text, a.get("href"), a.getnext().text)
        for a in index.xpath("//ul[@class='archive-months']/li/a")
    ]
    assert months == [
        (name, f"/u/pat/archive/2010/{n:02d}/", "10 posts")
        for n, name in enumerate(["January 2010", "February 2010", "March 2010", "April 2010"], 1)
    ]
    found = []
    for _name, path, _count in months:
        page = path.lstrip("/")
        while page:
            doc = site.page(page)
            found += [str(h) for h in doc.xpath("//ul[@class='activity']/li/a/@href")]
            after = doc.xpath("//link[@rel='next']/@href")
            page = str(after[0]).lstrip("/") if after else ""
    assert found == links
    march = site.page("u/pat/archive/2010/03/page/3/")
    assert march.xpath("//h1/text()") == ["Posts by Pat in March 2010"]
    crumbs = march.xpath("//nav[@class='breadcrumbs wrap']//span[@itemprop='name']/text()")
    assert crumbs == ["Home", "Pat", "Archive", "March 2010"]
    row = " ".join(march.xpath("//ul[@class='activity']/li[1]//text()"))
    assert "Pat's topic 2 #9" in row and "Pat's reply 28." in row


def test_archive_pages_are_in_the_sitemap_with_their_newest_post(site: SiteFactory) -> None:
    site.save_config(topics_per_page=4)
    prolific(site, 40)
    found = sitemap_lastmods(site.output)
    assert found["u/pat/archive/"] == "2010-04-10T10:00:00+00:00"
    assert found["u/pat/archive/2010/02/page/2/"] == "2010-02-08T10:00:00+00:00"
    assert found["u/pat/archive/2010/02/page/3/"] == "2010-02-10T10:00:00+00:00"


def test_rendering_an_authors_page_renders_only_the_posts_it_shows(site: SiteFactory) -> None:
    """Without any rendered post in the build cache, a reply by an author of 200 posts
    renders the posts of the pages it rewrites, not every post of theirs."""
    prolific(site, 200)
    with sqlite3.connect(site.root / ".forumgen/cache.sqlite") as conn:
        conn.execute("DELETE FROM html")
    latest_reply(site, 200)
    site.build()
    with sqlite3.connect(site.root / ".forumgen/cache.sqlite") as conn:
        rendered = conn.execute("SELECT COUNT(*) FROM html").fetchone()[0]
    # Pat's page shows 90 replies, the month's page 11 posts; Ann's topic has 3 posts.
    assert 0 < rendered <= 90 + 11 + 3, rendered


def test_an_author_within_the_cap_is_unchanged_and_has_no_archive(
    site: SiteFactory, tmp_path: Path
) -> None:
    """As many topics and replies as the cap allows: the page is the one an uncapped
    build makes, byte for byte, with no archive; an author past it in the same forum."""
    site.save_config(topics_per_page=2)  # 6 of each on an author's page
    prolific(site, 12)
    site.reply("news", "ann", author="Ann Smith", date="2009-12-03T10:00:00Z")
    for n in range(5):  # with "news", 6 topics started and 6 replies: as many as fit
        site.topic(f"ann-{n}", author="Ann Smith", date=f"2011-0{n + 1}-01T10:00:00Z")
        site.reply(f"ann-{n}", "ann", author="Ann Smith", date=f"2011-0{n + 1}-02T10:00:00Z")
    site.build()
    output = files_of(site.output)
    assert "u/ann-smith/index.html" in output
    assert not [name for name in output if name.startswith("u/ann-smith/archive")]
    assert archive_link(site, "u/ann-smith/") == []
    assert "u/pat/archive/index.html" in output
    site.save_config(topics_per_page=1000)
    uncapped = clean_build_of_a_copy(site, tmp_path / "uncapped")
    assert uncapped["u/ann-smith/index.html"] == output["u/ann-smith/index.html"]
    assert not [name for name in uncapped if name.startswith("u/pat/archive")]


def test_a_broken_archive_template_stops_the_build_before_anything_is_written(
    site: SiteFactory,
) -> None:
    """Templates are tried before writing on a page of each kind, an author's archive
    included, whichever author has one."""
    site.save_config(topics_per_page=2)
    site.topic("first", author="Ann Smith")  # the first author has no archive
    for n in range(7):  # 6 fit on Zed's page
        site.topic(f"zed-{n}", author="Zed", date=f"2024-0{n + 1}-01T10:00:00Z")
    site.build()
    before = snapshot(site.output)
    base = (builtin_themes() / "default/templates/base.html").read_text(encoding="utf-8")
    site.write(  # every page changes...
        "themes/default/templates/base.html", base.replace("</footer>", "<p>new</p></footer>")
    )
    site.write(  # ...but none is written: this one is broken
        "themes/default/templates/author-month.html",
        "{% extends 'base.html' %}\n{% block main %}\n{{ no_such_thing.x }}\n{% endblock %}",
    )
    result = site.cli("build")
    assert result.exit_code == 1
    assert "author-month.html:3: template error while rendering /u/zed/archive/" in result.output
    assert snapshot(site.output) == before
