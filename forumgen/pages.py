"""Site -> the list of pages to write. The URL layout lives here and nowhere else.

Every page is a path relative to the site root ('t/hello/page/2/', 'feed.xml'); paths
ending in '/' are written as '<path>index.html'. Templates get plain data and build links
with the `url`/`absurl` filters, so the same plan serves any base_url.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from .config import Config
from .model import Author, Post, Site, Topic, slugify

T = TypeVar("T")
FEED_ENTRIES = 20
SITEMAP_LIMIT = 50_000  # URLs per sitemap file, the sitemaps.org maximum


@dataclass(frozen=True)
class Page:
    path: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    lastmod: datetime | None = None
    """Set on pages that belong in the sitemap."""
    fingerprint: str = ""
    """A hash of everything in `context` the template can show: equal fingerprints (with
    the same theme and config) mean equal output, so the page need not be rendered."""

    @property
    def file(self) -> str:
        return self.path + "index.html" if self.path.endswith("/") or not self.path else self.path


@dataclass(frozen=True)
class Pager:
    """Where a page sits in its series, with a window of neighbouring page links."""

    number: int
    count: int
    base: str

    def path(self, number: int) -> str:
        return self.base if number == 1 else f"{self.base}page/{number}/"

    @property
    def prev(self) -> str | None:
        return self.path(self.number - 1) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.path(self.number + 1) if self.number < self.count else None

    @property
    def window(self) -> list[int | None]:
        """Page numbers to link, None for a gap: first, last and two either side."""
        shown = sorted({1, self.count, *range(max(1, self.number - 2),
                                              min(self.count, self.number + 2) + 1)})
        result: list[int | None] = []
        for previous, number in zip([0, *shown], shown, strict=False):
            if previous and number - previous > 1:
                result.append(None)
            result.append(number)
        return result


@dataclass(frozen=True)
class PostView:
    """A post as its topic page shows it: number, permalink and its links to others."""

    post: Post
    number: int
    page: int
    permalink: str
    reply_to: tuple[int, str] | None
    """(number, permalink) of the post answered; (0, '') if it is hidden."""
    replies: tuple[tuple[int, str], ...]


def fingerprint(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _row(topic: Topic) -> tuple[object, ...]:
    """What a topic listing shows of a topic."""
    return (topic.slug, topic.title, topic.category, topic.tags, topic.pinned, topic.locked,
            topic.reply_count, topic.last_activity.timestamp(), topic.opening.author)


def _shown(view: PostView) -> tuple[object, ...]:
    """What a page shows of a post."""
    post = view.post
    # Instants as numbers: pages show them in the site's time zone (part of the config,
    # which every fingerprint includes), and repr() of a datetime is slow.
    return (post.topic, post.id, post.author, post.date.timestamp(),
            post.edited.timestamp() if post.edited else None, post.digest,
            view.number, view.permalink, view.reply_to, view.replies)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Items split into pages; always at least one page, so empty listings exist."""
    return [items[i:i + size] for i in range(0, len(items), size)] or [items[:0]]


def topic_path(topic: Topic, page: int = 1) -> str:
    return f"t/{topic.slug}/" if page == 1 else f"t/{topic.slug}/page/{page}/"


def post_views(topic: Topic, per_page: int) -> list[PostView]:
    """Every published post of a topic with the page that holds it."""
    located = {p.id: (i + 1, i // per_page + 1) for i, p in enumerate(topic.posts)}

    def link(post_id: str) -> str:
        return f"{topic_path(topic, located[post_id][1])}#p-{post_id}"

    answers: dict[str, list[str]] = {}
    for post in topic.posts:
        if post.reply_to:
            answers.setdefault(post.reply_to, []).append(post.id)
    views = []
    for post in topic.posts:
        number, page = located[post.id]
        reply_to = None
        if post.reply_to:
            reply_to = (located[post.reply_to][0], link(post.reply_to)) \
                if post.reply_to in located else (0, "")
        replies = tuple((located[r][0], link(r)) for r in answers.get(post.id, []))
        views.append(PostView(post, number, page, link(post.id), reply_to, replies))
    return views


def plan(site: Site, config: Config) -> list[Page]:
    """All pages of the site, in a stable order. Fingerprints cover what each page shows
    of the content; the site-wide inputs (config, theme, categories) are the caller's."""
    views = {t.slug: post_views(t, config.posts_per_page) for t in site.topics}
    pages = [*_listing(site.topics, "", config, {"kind": "latest"}, site)]
    for category in site.categories:
        topics = site.topics_in(category.slug)
        pages += _listing(topics, f"c/{category.slug}/", config,
                          {"kind": "category", "category": category}, site)
        pages.append(_feed(f"c/{category.slug}/feed.xml", category.name,
                           f"c/{category.slug}/", _topic_entries(topics, config)))
    for tag_slug, (name, topics) in site.tags().items():
        pages += _listing(topics, f"tag/{tag_slug}/", config,
                          {"kind": "tag", "tag": name, "tag_slug": tag_slug}, site)
    for topic in site.topics:
        pages += _topic_pages(topic, views[topic.slug], site, config)
    pages += _author_pages(site, views)
    pages.append(_feed("feed.xml", config.title, "", _topic_entries(site.topics, config)))
    pages.append(Page("new/", "new.html", {"categories": site.categories}))
    pages.append(Page("404.html", "404.html"))
    pages += _redirects(site)
    pages += _sitemaps(pages)
    pages.append(Page("robots.txt", "robots.txt"))
    return pages


def _listing(topics: Sequence[Topic], base: str, config: Config, extra: dict[str, Any],
             site: Site) -> Iterator[Page]:
    groups = chunks(topics, config.topics_per_page)
    category_of = {c.slug: c for c in site.categories}
    for number, group in enumerate(groups, 1):
        pager = Pager(number, len(groups), base)
        yield Page(pager.path(number), "list.html",
                   {"topics": group, "pager": pager, "categories": site.categories,
                    "category_of": category_of, **extra},
                   lastmod=max((t.updated for t in group), default=None) or _newest(site),
                   fingerprint=fingerprint(pager, sorted(extra.items()),
                                           [_row(t) for t in group]))


def _topic_pages(topic: Topic, views: list[PostView], site: Site,
                 config: Config) -> Iterator[Page]:
    groups = chunks(views, config.posts_per_page)
    category = site.category(topic.category)
    shared = (topic.slug, topic.title, category, topic.tags, topic.pinned, topic.locked,
              topic.reply_count, _shown(views[0]))
    for number, group in enumerate(groups, 1):
        pager = Pager(number, len(groups), topic_path(topic))
        yield Page(pager.path(number), "topic.html",
                   {"topic": topic, "category": category, "views": group, "pager": pager,
                    "all_views": views, "first": views[0]},
                   lastmod=max(max(v.post.date, v.post.edited or v.post.date) for v in group),
                   fingerprint=fingerprint(shared, pager, [_shown(v) for v in group]))
    yield _feed(f"t/{topic.slug}/feed.xml", topic.title, topic_path(topic),
                [(v.post, topic.title if v.number == 1 else f"#{v.number} {topic.title}",
                  v.permalink) for v in views[-FEED_ENTRIES:][::-1]])


def _author_pages(site: Site, views: dict[str, list[PostView]]) -> Iterator[Page]:
    started: dict[str, list[Topic]] = {}
    replies: dict[str, list[PostView]] = {}
    topics_of: dict[str, Topic] = {t.slug: t for t in site.topics}
    for topic in site.topics:
        for view in views[topic.slug]:
            slug = slugify(view.post.author)
            if view.number == 1:
                started.setdefault(slug, []).append(topic)
            else:
                replies.setdefault(slug, []).append(view)
    for slug in sorted(started.keys() | replies.keys()):
        their_replies = sorted(replies.get(slug, []), key=lambda v: (v.post.date, v.post.id),
                               reverse=True)
        their_topics = started.get(slug, [])
        first = their_topics[0].opening if their_topics else their_replies[0].post
        author: Author = site.author(first.author)
        dates = [t.opening.date for t in their_topics] + [v.post.date for v in their_replies]
        yield Page(f"u/{slug}/", "author.html",
                   {"author": author, "topics": their_topics, "replies": their_replies,
                    "topics_of": topics_of}, lastmod=max(dates),
                   fingerprint=fingerprint(
                       author, [(t.slug, t.title, t.opening.date) for t in their_topics],
                       [(_shown(v), topics_of[v.post.topic].title) for v in their_replies]))


def _topic_entries(topics: Sequence[Topic], config: Config) -> list[tuple[Post, str, str]]:
    newest = sorted(topics, key=lambda t: (t.opening.date, t.slug), reverse=True)
    return [(t.opening, t.title, topic_path(t)) for t in newest[:FEED_ENTRIES]]


def _feed(path: str, title: str, alternate: str,
          entries: list[tuple[Post, str, str]]) -> Page:
    """An Atom feed; entries are (post, title, path) newest first."""
    updated = max((max(p.date, p.edited or p.date) for p, _, _ in entries), default=None)
    return Page(path, "feed.xml", {"feed_title": title, "alternate": alternate,
                                   "entries": entries, "updated": updated},
                fingerprint=fingerprint(title, alternate, [
                    (p.topic, p.id, p.author, p.date, p.edited, p.digest, t, link)
                    for p, t, link in entries]))


def _redirects(site: Site) -> Iterator[Page]:
    """A page at each old site-relative path a topic lists in redirect_from."""
    for topic in site.topics:
        for old in topic.redirect_from:
            path = old.strip("/")
            if path and "://" not in old and ".." not in path.split("/"):
                yield Page(path + ("/" if not path.endswith(".html") else ""), "redirect.html",
                           {"target": topic_path(topic), "topic": topic},
                           fingerprint=fingerprint(topic.slug, topic.title))


def _sitemaps(pages: list[Page]) -> list[Page]:
    """sitemap.xml, or a sitemap index over numbered parts past 50,000 URLs."""
    listed = [p for p in pages if p.lastmod is not None]
    parts = chunks(listed, SITEMAP_LIMIT)
    def urls(part: Sequence[Page]) -> str:
        return fingerprint([(p.path, p.lastmod) for p in part])

    if len(parts) == 1:
        return [Page("sitemap.xml", "sitemap.xml", {"pages": listed},
                     fingerprint=urls(listed))]
    files = [Page(f"sitemap-{i}.xml", "sitemap.xml", {"pages": part}, fingerprint=urls(part))
             for i, part in enumerate(parts, 1)]
    index = [(f.path, max(p.lastmod for p in part if p.lastmod))
             for f, part in zip(files, parts, strict=True)]
    return [*files, Page("sitemap.xml", "sitemap-index.xml", {"sitemaps": index},
                         fingerprint=fingerprint(index))]


def _newest(site: Site) -> datetime | None:
    return site.topics[0].updated if site.topics else None
