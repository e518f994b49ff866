"""Listings longer than `listing_pages` pages and the archive by month behind them, as
readers, crawlers and a host syncing output/ see them: the layout, what archive pages
show, small forums unchanged, and a reply rewriting a number of files that does not grow
with the forum."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import SiteFactory, clean_build_of_a_copy, files_of, sitemap_lastmods, snapshot

WSGI = {"tags": ["wsgi"]}


@pytest.fixture
def forum(site: SiteFactory) -> SiteFactory:
    """Listings keep 2 pages of 2 topics. General holds 6 topics (4 started in January
    2024), Help one more started in January; the oldest topic has the newest reply."""
    site.save_config(topics_per_page=2, listing_pages=2)
    site.topic("g1", title="March topic", date="2023-03-05T10:00:00Z", **WSGI)
    site.reply("g1", "r1", date="2024-06-01T10:00:00Z")
    for slug, day in [("g2", "03"), ("g3", "10"), ("g4", "20"), ("g5", "25")]:
        site.topic(slug, title=f"January {day}", date=f"2024-01-{day}T10:00:00Z", **WSGI)
    site.topic("g6", title="February topic", date="2024-02-01T10:00:00Z", **WSGI)
    site.topic("h1", title="Help in January", category="help", date="2024-01-15T10:00:00Z")
    site.build()
    return site


def titles(site: SiteFactory, path: str) -> list[str]:
    return [str(t) for t in site.page(path).xpath("//a[@class='topic-title']/text()")]


def redirect_target(site: SiteFactory, path: str) -> str:
    page = site.page(path)
    assert page.xpath("//meta[@name='robots']/@content") == ["noindex"], path
    return str(page.xpath("//meta[@http-equiv='refresh']/@content")[0])


def archive_link(site: SiteFactory, path: str) -> list[str]:
    return [str(h) for h in site.page(path).xpath("//p[@class='archive-link']/a/@href")]


def test_listings_keep_their_first_pages_and_the_last_links_the_archive(
    forum: SiteFactory,
) -> None:
    assert titles(forum, "") == ["March topic", "February topic"]
    assert titles(forum, "page/2/") == ["January 25", "January 20"]
    assert archive_link(forum, "") == [] and archive_link(forum, "page/2/") == ["/archive/"]
    assert forum.page("page/2/").xpath("//link[@rel='next']") == []
    # The pages a listing of every topic had lead to the archive.
    assert redirect_target(forum, "page/3/") == "0; url=/archive/"
    assert redirect_target(forum, "page/4/") == "0; url=/archive/"
    assert not (forum.output / "page/5").exists()
    assert archive_link(forum, "c/general/page/2/") == ["/c/general/archive/"]
    assert redirect_target(forum, "c/general/page/3/") == "0; url=/c/general/archive/"
    assert archive_link(forum, "tag/wsgi/page/2/") == ["/tag/wsgi/archive/"]
    # A listing within the cap has no archive.
    assert archive_link(forum, "c/help/") == [] and not (forum.output / "c/help/archive").exists()


def test_archive_lists_topics_by_the_month_they_started(forum: SiteFactory) -> None:
    index = forum.page("archive/")
    assert index.xpath("//main//h2/text()") == ["2024", "2023"]
    months = [
        (a.text, a.get("href"), a.getnext().text)
        for a in index.xpath("//ul[@class='archive-months']/li/a")
    ]
    assert months == [
        ("January 2024", "/archive/2024/01/", "5 topics"),
        ("February 2024", "/archive/2024/02/", "1 topic"),
        ("March 2023", "/archive/2023/03/", "1 topic"),
    ]
    # Oldest first, paginated, whatever the replies.
    assert titles(forum, "archive/2024/01/") == ["January 03", "January 10"]
    assert titles(forum, "archive/2024/01/page/2/") == ["Help in January", "January 20"]
    assert titles(forum, "archive/2024/01/page/3/") == ["January 25"]
    assert forum.page("archive/2024/01/").xpath("//link[@rel='next']/@href") == [
        "/archive/2024/01/page/2/"
    ]
    march = forum.page("archive/2023/03/")
    assert titles(forum, "archive/2023/03/") == ["March topic"]
    # Only what a reply never changes: the start date, not the reply count or last activity.
    assert march.xpath("//main//time/@datetime") == ["2023-03-05T10:00:00+00:00"]
    row = " ".join(march.xpath("//li[@class='topic-row']//text()"))
    assert "Started by Ann Smith" in row and "repl" not in row and "#wsgi" in row
    assert titles(forum, "c/general/archive/2024/01/") == ["January 03", "January 10"]
    assert titles(forum, "c/general/archive/2024/01/page/2/") == ["January 20", "January 25"]
    assert titles(forum, "tag/wsgi/archive/2023/03/") == ["March topic"]
    crumbs = forum.page("c/general/archive/2024/01/page/2/").xpath(
        "//nav[@class='breadcrumbs wrap']//span[@itemprop='name']/text()"
    )
    assert crumbs == ["Home", "General", "Archive", "January 2024"]
    assert forum.page("c/general/archive/").xpath("//h1/text()") == ["Archive of General"]


def test_archive_months_are_in_the_site_time_zone_and_language(site: SiteFactory) -> None:
    site.save_config(topics_per_page=1, listing_pages=1, timezone="Asia/Shanghai")
    site.save_config(language="zh-CN")
    site.topic("late", date="2024-01-31T20:00:00Z")  # 1 February in Shanghai
    site.topic("early", date="2024-01-01T10:00:00Z")
    site.build()
    assert titles(site, "archive/2024/02/") == ["Late"]
    months = site.page("archive/").xpath("//ul[@class='archive-months']/li/a/text()")
    assert months == ["2024年1月", "2024年2月"]
    assert site.page("archive/2024/02/").xpath("//h1/text()") == ["2024年2月发起的话题"]


def test_sitemap_lists_archive_pages_and_no_redirect_page(forum: SiteFactory) -> None:
    found = sitemap_lastmods(forum.output)
    assert found["archive/"] == "2024-02-01T10:00:00+00:00"  # the newest topic's start
    assert found["archive/2023/03/"] == "2023-03-05T10:00:00+00:00"  # not its reply
    for path in ["archive/2024/01/page/3/", "c/general/archive/", "tag/wsgi/archive/2024/02/"]:
        assert path in found, path
    assert "page/3/" not in found and "page/2/" in found


def test_a_forum_within_the_cap_has_no_archive_and_is_unchanged(
    site: SiteFactory, tmp_path: Path
) -> None:
    """As many topics as the cap allows: every listing as without a cap, no archive."""
    site.save_config(topics_per_page=2, listing_pages=2)
    for n in range(4):
        site.topic(f"topic-{n}", date=f"2024-0{n + 1}-01T10:00:00Z", **WSGI)
    site.build()
    capped = files_of(site.output)
    # No listing has an archive (Ann's own page lists 2 of her 4 topics: see authors).
    assert not [name for name in capped if "archive" in name and not name.startswith("u/")]
    site.save_config(listing_pages=1000)
    assert clean_build_of_a_copy(site, tmp_path / "uncapped") == capped


def test_bad_listing_pages_named_with_its_line(site: SiteFactory) -> None:
    site.topic("one")
    site.build()
    before = snapshot(site.output)
    for bad in ["0", "many", "true", "2.5"]:
        site.write(
            "forumgen.yaml", f"title: F\nbase_url: http://forum.test/\nlisting_pages: {bad}\n"
        )
        result = site.cli("build")
        assert result.exit_code == 1, result.output
        assert "forumgen.yaml:3: 'listing_pages' must be a whole number of at least 1" in (
            result.output
        )
        assert snapshot(site.output) == before


def grown(site: SiteFactory, topics: int) -> SiteFactory:
    """A forum of `topics` topics in one category with one tag, one started each month
    from January 2010, with listings of 2 pages of 2 topics."""
    site.save_config(topics_per_page=2, listing_pages=2)
    for n in range(topics):
        site.topic(f"topic-{n:03d}", date=f"{2010 + n // 12}-{n % 12 + 1:02d}-15T10:00:00Z", **WSGI)
    site.build()
    return site


def rewritten(site: SiteFactory) -> list[str]:
    """The output files the next build writes (creates or replaces), but for the search
    index, which is not the listings' business."""
    before = snapshot(site.output)
    site.build()
    after = snapshot(site.output)
    return sorted(
        name
        for name, state in after.items()
        if before.get(name) != state and not name.startswith("search/")
    )


@pytest.mark.parametrize("size", [12, 40])
def test_a_reply_to_an_old_topic_rewrites_the_same_files_at_any_size(
    tmp_path: Path, size: int
) -> None:
    site = grown(SiteFactory(tmp_path / "site"), size)
    site.reply("topic-000", "late", author="Late Larry", date="2030-01-01T00:00:00Z")
    assert rewritten(site) == [
        "c/general/index.html",
        "c/general/page/2/index.html",
        "index.html",
        "page/2/index.html",
        "sitemap.xml",
        "t/topic-000/feed.xml",
        "t/topic-000/index.html",
        "tag/wsgi/index.html",
        "tag/wsgi/page/2/index.html",
        "u/index.html",
        "u/late-larry/feed.xml",
        "u/late-larry/index.html",
    ]


def test_a_new_topic_adds_to_its_month_only(tmp_path: Path) -> None:
    site = grown(SiteFactory(tmp_path / "site"), 40)
    # The newest topic started in April 2013: this one joins it.
    site.topic("topic-new", date="2013-04-20T10:00:00Z", **WSGI)
    archive = [name for name in rewritten(site) if "archive/" in name]
    assert archive == [
        "archive/2013/04/index.html",
        "archive/index.html",
        "c/general/archive/2013/04/index.html",
        "c/general/archive/index.html",
        "tag/wsgi/archive/2013/04/index.html",
        "tag/wsgi/archive/index.html",
        # Ann started them all, and her page lists 2: her archive by month too.
        "u/ann-smith/archive/2013/04/index.html",
        "u/ann-smith/archive/index.html",
    ]


def test_a_tag_spelled_two_ways_keeps_one_name_whatever_replies_bump(
    site: SiteFactory, tmp_path: Path
) -> None:
    """A tag's name is the spelling of the first topic that carried it: a reply that
    bumps a topic spelling it otherwise renames nothing. When that topic goes, the name
    changes on every page of the tag, its archive's months included, in a build told
    what changed as in a clean build."""
    site.save_config(topics_per_page=1, listing_pages=1)
    site.topic("first", tags=["Python"], date="2024-01-01T10:00:00Z")
    site.topic("second", tags=["python"], date="2024-02-01T10:00:00Z")
    site.topic("third", tags=["python"], date="2024-03-01T10:00:00Z")
    site.build()
    page = site.output / "tag/python/index.html"
    assert "Topics tagged “Python”" in page.read_text()
    reply = site.reply("second", "r1", date="2024-04-01T10:00:00Z")
    site.build("--changed", str(reply))
    assert "Topics tagged “Python”" in page.read_text()
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "copy")
    shutil.rmtree(site.root / "content/topics/first")
    site.build("--changed", "content/topics/first/topic.md")
    assert "Topics tagged “python”" in page.read_text()
    month = site.output / "tag/python/archive/2024/03/index.html"
    assert "Archive of topics tagged “python”" in month.read_text()
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "again")
