"""Every Atom feed of the example forum and of a generated 400-topic forum, read by
feedparser: well-formed (no bozo flag), exactly the entries the model says, and the rules
the W3C feed validator applies (self link, unique ids, RFC 3339 dates, an author on every
entry, absolute links) — each link followed into the output."""

from __future__ import annotations

import re
import shutil
from calendar import timegm
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import forums
import lxml.etree
import lxml.html
import pytest

from conftest import SiteFactory, resolve
from forumgen.build import load
from forumgen.model import Post, Topic, slugify
from forumgen.pages import FEED_ENTRIES

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


@dataclass(frozen=True)
class Expected:
    """An entry as the model says it must be."""

    post: Post
    title: str
    path: str


def topic_entries(topic: Topic, per_page: int) -> list[Expected]:
    """The newest posts of the topic, newest first, each linked to the page holding it."""
    entries = []
    for index, post in enumerate(topic.posts):
        page = index // per_page + 1
        where = f"t/{topic.slug}/" + (f"page/{page}/" if page > 1 else "")
        title = topic.title if index == 0 else f"#{index + 1} {topic.title}"
        entries.append(Expected(post, title, f"{where}#p-{post.id}"))
    return entries[::-1][:FEED_ENTRIES]


def newest_topics(topics: Iterable[Topic]) -> list[Expected]:
    """The most recently opened topics, newest first, each linked to its first page."""
    newest = sorted(topics, key=lambda t: (t.opening.date, t.slug), reverse=True)
    return [Expected(t.opening, t.title, f"t/{t.slug}/") for t in newest[:FEED_ENTRIES]]


def author_entries(topics: Iterable[Topic], per_page: int) -> dict[str, list[Expected]]:
    """Each author's (by slug) newest posts, newest first: a topic started linked to its
    first page, a reply to its permalink, titled as in its topic's feed."""
    posts: dict[str, list[tuple[tuple[float, str, int], Expected]]] = {}
    for topic in topics:
        for index, post in enumerate(topic.posts):
            page = index // per_page + 1
            where = f"t/{topic.slug}/" + (f"page/{page}/" if page > 1 else "")
            if index == 0:
                expected = Expected(post, topic.title, where)
            else:
                expected = Expected(post, f"#{index + 1} {topic.title}", f"{where}#p-{post.id}")
            key = (post.date.timestamp(), topic.slug, index + 1)
            posts.setdefault(slugify(post.author), []).append((key, expected))
    return {
        slug: [e for _, e in sorted(theirs, key=lambda p: p[0], reverse=True)[:FEED_ENTRIES]]
        for slug, theirs in posts.items()
    }


def advertised(output: Path, page: str) -> list[str]:
    """The feeds a page names in its head."""
    doc = lxml.html.fromstring((output / page / "index.html").read_bytes())
    return [str(h) for h in doc.xpath("//head/link[@type='application/atom+xml']/@href")]


def absolute(base_url: str, path: str) -> str:
    """How the site writes an absolute URL: the path percent-encoded as UTF-8."""
    return base_url + quote(path, safe="/#")


def file_of(output: Path, url: str, base_url: str) -> Path:
    """The output file an absolute URL of the site is served from."""
    assert url.startswith(base_url), f"{url} is not under {base_url}"
    return resolve(output, "/" + url[len(base_url) :])


@lru_cache(maxsize=64)
def ids_in(page: Path) -> frozenset[str]:
    """The element ids of a page (read once: a thread page is the target of many entries)."""
    return frozenset(re.findall(r' id="([^"]+)"', page.read_text(encoding="utf-8")))


def instant(parsed: Any) -> float:
    return float(timegm(parsed))


def check_feed(
    output: Path, base_url: str, path: str, language: str, alternate: str, expected: list[Expected]
) -> None:
    """One feed against the model and the validator's rules."""
    feed_url = absolute(base_url, path)
    parsed = feedparser.parse((output / path).read_bytes())
    assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')}"
    assert parsed.version == "atom10", path
    head = parsed.feed
    assert head.get("title") and head.get("language") == language, path
    assert head.get("id") == feed_url, path
    links = {link["rel"]: link["href"] for link in head.get("links", [])}
    assert links.get("self") == feed_url, path
    assert links.get("alternate") == absolute(base_url, alternate), path
    assert file_of(output, links["alternate"], base_url).is_file(), path

    entries = parsed.entries
    assert [e.get("link") for e in entries] == [absolute(base_url, x.path) for x in expected], path
    assert [e.get("title") for e in entries] == [x.title for x in expected], path
    ids = [e.get("id") for e in entries]
    assert len(set(ids)) == len(ids) and all(ids), f"{path}: ids missing or repeated"
    newest = max((instant(e.updated_parsed) for e in entries), default=0.0)
    assert RFC3339.fullmatch(head.get("updated", "")), path
    assert instant(head.updated_parsed) == newest, f"{path}: feed updated is not its newest entry"
    for entry, want in zip(entries, expected, strict=True):
        where = f"{path}: {entry.get('id')}"
        assert entry.id == absolute(base_url, f"t/{want.post.topic}/#p-{want.post.id}"), where
        for field in ("published", "updated"):
            assert RFC3339.fullmatch(entry.get(field, "")), f"{where}: {field}"
        assert instant(entry.published_parsed) == want.post.date.timestamp(), where
        assert instant(entry.updated_parsed) == (want.post.edited or want.post.date).timestamp()
        assert entry.get("author") == want.post.author, where
        author_page = entry.author_detail.get("href", "")
        assert file_of(output, author_page, base_url).is_file(), where
        assert entry.content[0].type == "text/html" and entry.content[0].value.strip(), where
        target = file_of(output, entry.link, base_url)
        assert target.is_file(), where
        if "#" in entry.link:
            anchor = entry.link.split("#", 1)[1]
            assert anchor in ids_in(target), where


@pytest.mark.parametrize("name", ["example", "generated"])
def test_every_feed_parses_and_matches_the_model(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    forum = getattr(forums, name)(tmp_path_factory)
    config, site = load(forum.root)
    out, base = forum.output, forum.base_url
    expected: dict[str, tuple[str, list[Expected]]] = {"feed.xml": ("", newest_topics(site.topics))}
    for category in site.categories:
        expected[f"c/{category.slug}/feed.xml"] = (
            f"c/{category.slug}/",
            newest_topics(site.topics_in(category.slug)),
        )
    for topic in site.topics:
        expected[f"t/{topic.slug}/feed.xml"] = (
            f"t/{topic.slug}/",
            topic_entries(topic, config.posts_per_page),
        )
    for slug, (_, tagged) in site.tags().items():
        expected[f"tag/{slug}/feed.xml"] = (f"tag/{slug}/", newest_topics(tagged))
    for slug, entries in author_entries(site.topics, config.posts_per_page).items():
        expected[f"u/{slug}/feed.xml"] = (f"u/{slug}/", entries)

    found = {
        p.relative_to(out).as_posix()
        for p in out.rglob("*.xml")
        if not p.name.startswith("sitemap")
    }
    assert found == set(expected)
    assert any(len(entries) == FEED_ENTRIES for _, entries in expected.values())
    assert any(len(topic.posts) > FEED_ENTRIES for topic in site.topics)
    assert any(p.startswith("tag/") for p in expected) and any(p[:2] == "u/" for p in expected)
    for path, (alternate, entries) in sorted(expected.items()):
        check_feed(out, base, path, config.language, alternate, entries)
        # The page the feed follows names it in its head (the site's feed is on every page).
        assert "/" + quote(path) in advertised(out, alternate), path


def test_the_feed_check_fails_on_a_wrong_feed(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The check is not blind: the same feed with an entry's author left out, an id
    repeated, or a date without its offset is refused."""
    forum = forums.example(tmp_path_factory)
    config, site = load(forum.root)
    topic = max(site.topics, key=lambda t: len(t.posts))
    path = f"t/{topic.slug}/feed.xml"
    copy = tmp_path_factory.mktemp("broken-feed") / "output"
    shutil.copytree(forum.output, copy)
    args = (
        forum.base_url,
        path,
        config.language,
        f"t/{topic.slug}/",
        topic_entries(topic, config.posts_per_page),
    )
    check_feed(copy, *args)
    original = (copy / path).read_text(encoding="utf-8")
    first, second = re.findall(r"<id>[^<]*#p-[^<]*</id>", original)[:2]
    date = re.search(r"<published>([^<]*)</published>", original)
    assert date
    for wrong in (
        re.sub(r"<author>.*?</author>", "", original, count=1),
        original.replace(second, first),
        original.replace(date.group(0), f"<published>{date.group(1)[:19]}</published>"),
    ):
        (copy / path).write_text(wrong, encoding="utf-8")
        with pytest.raises(AssertionError):
            check_feed(copy, *args)


def test_characters_xml_forbids_never_reach_a_feed(site: SiteFactory) -> None:
    """A post written by hand may hold what XML 1.0 forbids (U+FFFE, U+FFFF, a vertical
    tab, an ESC) in its title, author or body: the feeds and the sitemap leave those out,
    so readers can still read them."""
    site.write(
        "content/topics/odd/topic.md",
        '---\ntitle: "Odd \\uFFFEtitle\\x0B"\nauthor: "Ann\\uFFFF"\n'
        "date: 2024-01-01T10:00:00Z\ncategory: general\n---\n"
        "Body \uffffwith \ufffeand a \x0bvertical tab and an \x1b[2Jescape.\n",
    )
    site.reply("odd", "r0001", body="A reply\uffff.", author="Bob\ufffe")
    site.build()
    files = sorted(site.output.rglob("*.xml"))
    assert {f.relative_to(site.output).as_posix() for f in files} >= {
        "feed.xml",
        "c/general/feed.xml",
        "t/odd/feed.xml",
        "sitemap.xml",
    }
    for file in files:
        lxml.etree.parse(str(file))  # strict XML 1.0: raises on any forbidden character
        if not file.name.startswith("sitemap"):
            parsed = feedparser.parse(file.read_bytes())
            assert not parsed.bozo, (file, parsed.get("bozo_exception"))
    entries = feedparser.parse(site.output / "t/odd/feed.xml").entries
    assert [(e.title, e.author) for e in entries] == [("#2 Odd title", "Bob"), ("Odd title", "Ann")]
    assert "with and a vertical tab and an [2Jescape." in entries[1].content[0].value
