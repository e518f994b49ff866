"""Topics -> the list of pages to write. The URL layout lives here and nowhere else.

Every page is a path relative to the site root ('t/hello/page/2/', 'feed.xml'); paths
ending in '/' are written as '<path>index.html'. Templates get plain data and build links
with the `url`/`absurl` filters, so the same plan serves any base_url.

Planning is split so that a build can plan only what changed: `topic_plan` computes, once
per changed topic, everything the rest of the site needs to know of it (its pages and
their fingerprints, its summary, what each author wrote in it), and the build cache keeps
that. `topic_pages` and `site_pages` turn those plans into Pages whose contexts are
built only if the page is rendered; authors.py does the same for author pages.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, NamedTuple, Protocol, TypeVar
from zoneinfo import ZoneInfo

from . import redirects
from .config import Config
from .i18n import Translator
from .model import Category, Post, Topic, TopicSummary, slugify
from .owner import SITE, Kind, Owner

T = TypeVar("T")
FEED_ENTRIES = 20
SITEMAP_PART = 500
"""URLs per sitemap part on average, about twice that at most (sitemaps.org allows 50,000).
A reply rewrites the few parts holding the pages it changed (its topic's, its author's,
the first pages of its listings: four to seven parts) whatever the forum's size, so what
it costs in the sitemap is a few parts of this size. Measured with the default theme on
M's URLs, a part renders in about 3 ms + 5.5 us a URL (100 URLs: 2.8 ms, 500: 3.3 ms,
1,000: 5.9 ms, 5,000: 28 ms), plus reading its rows from the cache: below 500 URLs
the fixed cost of a part dominates and smaller parts only add files (and entries to the
index, read and rendered on every build: 36 parts at M, 10,000 topics)."""
SITEMAP_RUN = 16
"""Pages of a series kept in one part (see `sitemap_key`): more than the first
`listing_pages` (10 by default) that a bumped topic changes in each listing."""
NEW_TOPIC = "new/"  # the page with the form for a new topic
JUMP_ALL = 50  # a series of up to this many pages lists them all in its "go to page" list

Context = Callable[[], dict[str, Any]]
TopicLoader = Callable[[str], Topic]
"""Slug -> the topic with its posts (without bodies: HTML comes from the build cache)."""


@dataclass(frozen=True)
class Page:
    path: str
    template: str
    context: Context = dict
    """Called only when the page is rendered: most pages of an incremental build are not."""
    lastmod: datetime | None = None
    """Set on pages that belong in the sitemap."""
    fingerprint: str = ""
    """A hash of everything in the context the template can show: equal fingerprints (with
    the same theme and config) mean equal output, so the page need not be rendered."""
    owner: Owner = SITE
    """What the page is planned from: a topic (its pages, feed and redirects), an author
    (their page) or the whole site (listings, feeds and other site-wide pages)."""

    @property
    def file(self) -> str:
        return file_of(self.path)


def file_of(path: str) -> str:
    """The file a page path is written to."""
    return path + "index.html" if path.endswith("/") or not path else path


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
        shown = sorted(
            {1, self.count, *range(max(1, self.number - 2), min(self.count, self.number + 2) + 1)}
        )
        result: list[int | None] = []
        for previous, number in zip([0, *shown], shown, strict=False):
            if previous and number - previous > 1:
                result.append(None)
            result.append(number)
        return result

    @property
    def gaps(self) -> bool:
        """Whether the window leaves pages out (and the "go to page" list is needed)."""
        return None in self.window

    @property
    def jumps(self) -> list[tuple[int, int]]:
        """The "go to page" list, as (page, last page of its range): every page of a series
        of up to JUMP_ALL pages. Past that, its pages in ranges of about the square root of
        their count: one link to the start of each range, and one to each page of this
        page's range. Any page is then two clicks away, with about twice the square root
        of the count of links on each page (60 for 1,000 pages) rather than all of them."""
        if self.count <= JUMP_ALL:
            return [(n, n) for n in range(1, self.count + 1)]
        size = math.isqrt(self.count - 1) + 1
        mine = (self.number - 1) // size * size + 1
        result = []
        for start in range(1, self.count + 1, size):
            end = min(start + size - 1, self.count)
            if start == mine:
                result += [(n, n) for n in range(start, end + 1)]
            else:
                result.append((start, end))
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


@dataclass(frozen=True)
class PlannedPage:
    """One page of a topic as its plan records it."""

    path: str
    template: str
    fingerprint: str
    lastmod: datetime | None
    number: int
    """The page number in the thread; 0 for the topic's feed, -1 for a redirect page."""
    target: str = ""
    """Where a redirect page leads: the topic, or a post's permalink."""


Month = tuple[int, int]
"""(year, month) in the site's time zone."""


@lru_cache(maxsize=1 << 17)
def month_of(stamp: float, tz: ZoneInfo) -> Month:
    """The month of an instant in the site's time zone. Remembered: converting times is
    not cheap, and a build asks it of every post an author's archive lists."""
    when = datetime.fromtimestamp(stamp, tz)
    return when.year, when.month


class Entry(NamedTuple):
    """A topic as listings and feeds see it, in plain values: every build needs this of
    every topic, so it must load fast (the full summary is loaded only for the topics of
    the listing pages and feeds that are rendered)."""

    slug: str
    category: str
    category_line: int
    tags: tuple[str, ...]
    pinned: bool
    last_activity: float
    updated: float
    opened: float
    """When the opening post was written: feeds list topics by it."""
    month: Month
    """The month `opened` falls in: the archive month of the topic (kept, not worked out
    from `opened` by every build, which at 100,000 topics cost 0.15 s a build)."""
    row: str
    """Fingerprint of what a listing shows of the topic."""
    feed_entry: str
    """Fingerprint of what a feed shows of the topic's opening post."""
    archived: str
    """Fingerprint of what an archive page shows of the topic: nothing a reply changes."""
    redirects: tuple[tuple[str, str], ...]
    """(old path, new path) of each of the topic's redirect pages: the redirect maps for
    web servers (see redirects.py) list those of every topic."""


def listed_in(entry: Entry) -> dict[str, str]:
    """The listings a topic is in, by base ('', 'c/<category>/', 'tag/<tag slug>/'),
    each with the name it goes by there: a tag as the topic first spells it, else ''."""
    found = {"": "", f"c/{entry.category}/": ""}
    for tag in entry.tags:
        found.setdefault(f"tag/{slugify(tag)}/", tag)
    return found


@dataclass(frozen=True)
class TopicPlan:
    """What the rest of the site needs to know about one topic; computed when the topic
    changes and kept in the build cache."""

    summary: TopicSummary
    entry: Entry
    pages: tuple[PlannedPage, ...]


@dataclass(frozen=True)
class Authored:
    """What one author wrote in one topic, as their author page shows it."""

    topic: str
    title: str
    started: Post | None
    """The opening post, if they started the topic."""
    replies: tuple[PostView, ...]

    @property
    def digest(self) -> str:
        return fingerprint(
            self.topic,
            self.title,
            self.started and _post_shown(self.started),
            [(_shown(v)) for v in self.replies],
        )

    @property
    def newest(self) -> Post:
        """Their newest post in the topic."""
        return max(
            [*([self.started] if self.started else []), *(v.post for v in self.replies)],
            key=lambda p: (p.date, p.id),
        )

    @property
    def row(self) -> AuthoredRow:
        newest = self.newest
        return AuthoredRow(
            self.topic, self.digest, newest.date.timestamp(), newest.author, self.listed
        )

    @property
    def listed(self) -> tuple[Wrote, ...]:
        """Each of their posts in the topic as their pages list it, in topic order."""
        posts = [(1, topic_address(self.topic), self.started)] if self.started else []
        posts += [(v.number, v.permalink, v.post) for v in self.replies]
        return tuple(
            Wrote(
                post.date.timestamp(),
                post.id,
                number,
                fingerprint(self.title, number, link, _post_shown(post)),
            )
            for number, link, post in posts
        )


class Wrote(NamedTuple):
    """One post of an author as their pages list it, in plain values: planning their
    pages needs this of every post they wrote, so it must load fast."""

    stamp: float
    """When it was written."""
    post: str
    """Its id in its topic."""
    number: int
    """Its number in the topic: 1 for the opening post."""
    shown: str
    """Fingerprint of what an author's pages show of it (title, link, date, excerpt),
    nothing that a reply to it changes."""


class Person(NamedTuple):
    """An author as the index of authors (`u/`) lists them, in plain values: planning it
    needs this of every author, so the build cache sums it up in one query."""

    slug: str
    name: str
    """As written on their newest post (authors.yaml may name them otherwise)."""
    topics: int
    """Topics they started."""
    posts: int
    """Posts they wrote, topics started included."""
    lastmod: float
    """When they last wrote."""


class AuthoredRow(NamedTuple):
    """What planning an author's pages needs of an `Authored`, in plain values."""

    topic: str
    digest: str
    lastmod: float
    name: str
    """The author's name as written on their newest post in the topic."""
    posts: tuple[Wrote, ...]


def fingerprint(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _row(topic: TopicSummary) -> tuple[object, ...]:
    """What a topic listing shows of a topic."""
    return (
        topic.slug,
        topic.title,
        topic.category,
        topic.tags,
        topic.pinned,
        topic.locked,
        topic.reply_count,
        topic.last_activity.timestamp(),
        topic.opening.author,
        topic.draft,
    )


def _archived(topic: TopicSummary) -> tuple[object, ...]:
    """What an archive page shows of a topic: what its opening post fixed, never what a
    reply changes (reply count, last activity), so that a reply rewrites no archive page."""
    return (
        topic.slug,
        topic.title,
        topic.category,
        topic.tags,
        topic.opening.author,
        topic.opening.date.timestamp(),
        topic.draft,
    )


def _post_shown(post: Post) -> tuple[object, ...]:
    # Instants as numbers: pages show them in the site's time zone (part of the config,
    # which every fingerprint includes), and repr() of a datetime is slow.
    return (
        post.topic,
        post.id,
        post.author,
        post.date.timestamp(),
        post.edited.timestamp() if post.edited else None,
        post.digest,
        post.draft,
    )


def _shown(view: PostView) -> tuple[object, ...]:
    """What a page shows of a post."""
    return (_post_shown(view.post), view.number, view.permalink, view.reply_to, view.replies)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Items split into pages; always at least one page, so empty listings exist."""
    return [items[i : i + size] for i in range(0, len(items), size)] or [items[:0]]


def topic_path(topic: Topic | TopicSummary, page: int = 1) -> str:
    return topic_address(topic.slug, page)


def topic_address(slug: str, page: int = 1) -> str:
    """Page `page` of topic `slug`, for those who know only its slug (the intake)."""
    return f"t/{slug}/" if page == 1 else f"t/{slug}/page/{page}/"


def last_page(topic: Topic, per_page: int) -> str:
    """The topic's last page: where a reply is added."""
    return topic_path(topic, len(chunks(topic.posts, per_page)))


def post_views(topic: Topic, per_page: int) -> list[PostView]:
    """Every published post of a topic with the page that holds it."""
    located = {p.id: (i + 1, i // per_page + 1) for i, p in enumerate(topic.posts)}

    def link(post_id: str) -> str:
        return permalink(topic.slug, located[post_id][1], post_id)

    answers: dict[str, list[str]] = {}
    for post in topic.posts:
        if post.reply_to:
            answers.setdefault(post.reply_to, []).append(post.id)
    views = []
    for post in topic.posts:
        number, page = located[post.id]
        reply_to = None
        if post.reply_to:
            reply_to = (0, "")  # answers a post not shown
            if post.reply_to in located:
                reply_to = (located[post.reply_to][0], link(post.reply_to))
        replies = tuple((located[r][0], link(r)) for r in answers.get(post.id, []))
        views.append(PostView(post, number, page, link(post.id), reply_to, replies))
    return views


# Topics ------------------------------------------------------------------------------


def _planned_pages(topic: Topic, views: list[PostView], per_page: int) -> list[PlannedPage]:
    """A topic's thread pages, its feed and its redirect pages, with their fingerprints."""
    groups = chunks(views, per_page)
    shared = (
        topic.slug,
        topic.title,
        topic.category,
        topic.tags,
        topic.pinned,
        topic.locked,
        topic.reply_count,
        _shown(views[0]),
        # Every page links to the last post and shows its date.
        (views[-1].number, views[-1].permalink, views[-1].post.date.timestamp()),
    )
    planned = [
        PlannedPage(
            Pager(n, len(groups), topic_path(topic)).path(n),
            "topic.html",
            fingerprint(shared, len(groups), n, [_shown(v) for v in group]),
            max(max(v.post.date, v.post.edited or v.post.date) for v in group),
            n,
        )
        for n, group in enumerate(groups, 1)
    ]
    planned.append(
        PlannedPage(
            f"t/{topic.slug}/feed.xml",
            "feed.xml",
            _entries_fingerprint(topic.title, topic_path(topic), _topic_feed(topic, views)),
            None,
            0,
        )
    )
    planned += [
        PlannedPage(
            path, "redirect.html", fingerprint(topic.slug, topic.title, target), None, -1, target
        )
        for path, target in _redirects(topic, views)
    ]
    return planned


def topic_plan(topic: Topic, per_page: int, tz: ZoneInfo) -> tuple[TopicPlan, dict[str, Authored]]:
    """A topic's plan, and what each author (by slug) wrote in it."""
    views = post_views(topic, per_page)
    opened = topic.opening.date.timestamp()
    summary = topic.summary()
    planned = _planned_pages(topic, views, per_page)
    entry = Entry(
        topic.slug,
        topic.category,
        topic.category_line,
        topic.tags,
        topic.pinned,
        topic.last_activity.timestamp(),
        topic.updated.timestamp(),
        opened,
        month_of(opened, tz),
        fingerprint(_row(summary)),
        fingerprint(_post_shown(topic.opening), topic.title),
        fingerprint(_archived(summary)),
        tuple((p.path, p.target) for p in planned if p.number < 0),
    )
    return TopicPlan(summary, entry, tuple(planned)), _authored(topic, views)


def _authored(topic: Topic, views: list[PostView]) -> dict[str, Authored]:
    """What each author (by slug) wrote in the topic: its opening post, their replies."""
    authored: dict[str, Authored] = {}
    for view in views:
        slug = slugify(view.post.author)
        mine = authored.get(slug) or Authored(topic.slug, topic.title, None, ())
        if view.number == 1:
            authored[slug] = Authored(topic.slug, topic.title, view.post, ())
        else:
            authored[slug] = Authored(topic.slug, topic.title, mine.started, (*mine.replies, view))
    return authored


def topic_pages(
    plan: TopicPlan, load: TopicLoader, categories: Mapping[str, Category], per_page: int
) -> list[Page]:
    """The Pages of one topic: its thread pages, its feed and its redirects."""
    slug = plan.summary.slug
    pages = []
    for planned in plan.pages:
        if planned.number > 0:
            context = _thread_context(slug, planned.number, load, categories, per_page)
        elif planned.number == 0:
            context = _feed_context(slug, load, per_page)
        else:
            context = _constant({"target": planned.target, "topic": plan.summary})
        pages.append(
            Page(
                planned.path,
                planned.template,
                context,
                planned.lastmod,
                planned.fingerprint,
                owner=Owner(Kind.TOPIC, slug),
            )
        )
    return pages


def _thread_context(
    slug: str, number: int, load: TopicLoader, categories: Mapping[str, Category], per_page: int
) -> Context:
    def context() -> dict[str, Any]:
        topic = load(slug)
        views = post_views(topic, per_page)
        groups = chunks(views, per_page)
        return {
            "topic": topic,
            "category": categories[topic.category],
            "views": groups[number - 1],
            "pager": Pager(number, len(groups), topic_path(topic)),
            "all_views": views,
            "first": views[0],
            "last": views[-1],
        }

    return context


def _feed_context(slug: str, load: TopicLoader, per_page: int) -> Context:
    def context() -> dict[str, Any]:
        topic = load(slug)
        return feed_fields(
            topic.title, topic_path(topic), _topic_feed(topic, post_views(topic, per_page))
        )

    return context


def _topic_feed(topic: Topic, views: list[PostView]) -> list[tuple[Post, str, str]]:
    return [
        (v.post, topic.title if v.number == 1 else f"#{v.number} {topic.title}", v.permalink)
        for v in views[-FEED_ENTRIES:][::-1]
    ]


def _redirects(topic: Topic, views: list[PostView]) -> Iterator[tuple[str, str]]:
    """(old path, target) for the redirect_from of a topic (to the topic) and of its
    replies (to their permalinks); a path listed twice counts once, the first time."""
    seen: set[str] = set()
    sources = [(topic.redirect_from, topic_path(topic))] + [
        (v.post.redirect_from, v.permalink) for v in views if v.post.redirect_from
    ]
    for olds, target in sources:
        for path in redirects.paths(olds):
            if path not in seen:
                seen.add(path)
                yield path, target


def permalink(slug: str, page: int, post_id: str) -> str:
    """The permalink of a post on page `page` of topic `slug` (as post_views makes them)."""
    return f"{topic_address(slug, page)}#p-{post_id}"


def _constant(context: dict[str, Any]) -> Context:
    return lambda: context


# Site-wide pages -----------------------------------------------------------------------

Summaries = Callable[[Sequence[str]], list[TopicSummary]]
"""Slugs -> the summaries of those topics."""


@dataclass(frozen=True)
class Scope:
    """The listings a build that read only a few topics plans again: those the topics
    were or are in (their pages and feeds), and in their archives only the months the
    topics were or are in (all of them where the archive came or went). The pages of
    the other listings are as the last build made them."""

    listings: frozenset[str]
    """The listings (by base: '', 'c/<category>/', 'tag/<tag>/') to plan again."""
    months: frozenset[tuple[int, int]]
    whole: frozenset[str]
    """Listings whose archive is planned whole."""

    def plans(self, base: str, size: int) -> bool:
        """Whether the listing at `base`, of `size` topics, is planned (an empty one
        always is: it shows when the forum last changed)."""
        return not size or base in self.listings

    def months_of(self, base: str) -> frozenset[tuple[int, int]] | None:
        """The months of the listing's archive to plan (None: all)."""
        return None if base in self.whole else self.months


class Listings(Protocol):
    """What site-wide pages need of every topic: each listing's topics (by base: see
    `listed_in`) in the orders its pages, feed and archive show them, counted, as the
    build cache keeps them (cache.ListingStore), so that a build plans a listing's first
    pages and the months of its archive it redoes without loading every topic."""

    def size(self, base: str) -> int: ...

    def top(self, base: str, count: int) -> list[Entry]:
        """The first topics in the listing's order (see model.listing_order; in a
        category, pinned topics first)."""

    def newest(self, base: str, count: int) -> list[Entry]:
        """The topics started last, newest first; the slug, last first, breaks ties."""

    def months(self, base: str) -> dict[Month, int]:
        """Topics started in each month, in month order."""

    def in_month(self, base: str, month: Month) -> list[Entry]:
        """Topics started in `month`, oldest first, then by slug."""

    def opened(self, base: str) -> tuple[float, float] | None:
        """When the listing's first and last topics were started; None if it is empty."""

    def counts(self, prefix: str) -> dict[str, int]:
        """Each listing whose base starts with `prefix` ('c/', 'tag/'), with its size."""

    def tag_name(self, base: str) -> str:
        """A tag as the first topic started with it spells it ('' if none carries it)."""

    def redirecting(self) -> list[Entry]:
        """The topics with redirect pages, by slug."""


def site_pages(
    listings: Listings,
    summaries: Summaries,
    categories: list[Category],
    config: Config,
    people: Sequence[Person],
    scope: Scope | None = None,
) -> list[Page]:
    """Listings, feeds, the indexes of tags, categories and authors and the other pages
    drawn from every topic; `people` every author (see indexes.py). Sitemaps are planned
    last, from every page. With a `scope`, only the listings in it."""
    from . import indexes  # it plans with this module's Page and Pager

    category_of = {c.slug: c for c in categories}
    first = listings.top("", 1)
    newest = instant(first[0].updated) if first else None
    shared = {"categories": categories, "category_of": category_of}
    latest = {"kind": "latest"}
    size = listings.size("")
    pages = [*_listing(listings, size, summaries, "", config, latest, shared, newest, scope)]
    in_category = listings.counts("c/")
    for category in categories:
        base = f"c/{category.slug}/"
        size = in_category.get(base, 0)
        if scope and not scope.plans(base, size):
            continue  # its pages and feed stay as they are (nothing in them changed)
        listing = {"kind": "category", "category": category}
        pages += _listing(listings, size, summaries, base, config, listing, shared, newest, scope)
        pages.append(_site_feed(f"{base}feed.xml", category.name, base, listings, summaries))
    tagged = listings.counts("tag/")
    for base, size in sorted(tagged.items(), key=lambda item: item[0].split("/")[1]):
        if scope and not scope.plans(base, size):
            continue
        name = listings.tag_name(base)
        listing = {"kind": "tag", "tag": name, "tag_slug": base.split("/")[1]}
        pages += _listing(listings, size, summaries, base, config, listing, shared, newest, scope)
        title = Translator(config.language)("tag_heading", tag=name)
        pages.append(_site_feed(f"{base}feed.xml", title, base, listings, summaries))
    pages += indexes.index_pages(listings, in_category, tagged, categories, people, config)
    pages.append(_site_feed("feed.xml", config.title, "", listings, summaries))
    if config.search:
        pages.append(Page("search/", "search.html", _constant({"categories": categories})))
    pages.append(Page(NEW_TOPIC, "new.html", _constant({"categories": categories})))
    pages.append(Page("404.html", "404.html"))
    pages.append(Page("robots.txt", "robots.txt"))
    pages += _redirect_maps(listings.redirecting(), config.base_path)
    return pages


def _redirect_maps(redirecting: Sequence[Entry], base_path: str) -> list[Page]:
    """The nginx map and Netlify _redirects of every topic's redirects (written even when
    there are none, so a server configuration that includes the map never breaks);
    `redirecting`: the topics that have any, by slug."""
    found = redirects.rules((pair for e in redirecting for pair in e.redirects), base_path)
    stamp = fingerprint(found)
    return [
        Page(
            redirects.NGINX_MAP,
            "plain.txt",
            lambda: {"text": redirects.nginx_map(found)},
            fingerprint=stamp,
        ),
        Page(
            redirects.NETLIFY,
            "plain.txt",
            lambda: {"text": redirects.netlify(found)},
            fingerprint=stamp,
        ),
    ]


def _listing(
    listings: Listings,
    size: int,
    summaries: Summaries,
    base: str,
    config: Config,
    extra: dict[str, Any],
    shared: dict[str, Any],
    newest: datetime | None,
    scope: Scope | None = None,
) -> Iterator[Page]:
    """The pages of a listing of `size` topics, latest activity first. Past
    `listing_pages` pages its topics live in its archive (by month, see archive.py): a
    reply then rewrites at most those pages, however many topics the listing holds. With
    a `scope`, only the archive's months in it."""
    from . import archive  # it plans with this module's Page and Pager

    kept = config.listing_pages * config.topics_per_page
    overflows = size > kept
    extra = {**extra, "archive": archive.index_path(base) if overflows else None}
    groups = chunks(listings.top(base, kept), config.topics_per_page)
    for number, group in enumerate(groups, 1):
        pager = Pager(number, len(groups), base)
        yield Page(
            pager.path(number),
            "list.html",
            _listing_context(
                [e.slug for e in group], summaries, {"pager": pager, **shared, **extra}
            ),
            lastmod=instant(max(e.updated for e in group)) if group else newest,
            fingerprint=fingerprint(pager, sorted(extra.items()), [e.row for e in group]),
        )
    if overflows:
        months = None if scope is None else scope.months_of(base)
        yield from archive.listing_archive(
            listings, size, summaries, base, config, extra, shared, months
        )


def _listing_context(slugs: list[str], summaries: Summaries, rest: dict[str, Any]) -> Context:
    return lambda: {"topics": summaries(slugs), **rest}


def _site_feed(
    path: str, title: str, alternate: str, listings: Listings, summaries: Summaries
) -> Page:
    """A feed of the newest topics of the listing at `alternate`."""
    newest = listings.newest(alternate, FEED_ENTRIES)

    def context() -> dict[str, Any]:
        return feed_fields(
            title,
            alternate,
            [(t.opening, t.title, topic_path(t)) for t in summaries([e.slug for e in newest])],
        )

    return Page(
        path,
        "feed.xml",
        context,
        fingerprint=fingerprint(title, alternate, [(e.feed_entry, e.slug) for e in newest]),
    )


def instant(stamp: float) -> datetime:
    """A timestamp as the build cache keeps it, as a time in UTC."""
    return datetime.fromtimestamp(stamp, timezone.utc)


def _entries_fingerprint(title: str, alternate: str, entries: list[tuple[Post, str, str]]) -> str:
    return fingerprint(title, alternate, [(_post_shown(p), t, link) for p, t, link in entries])


def feed_fields(title: str, alternate: str, entries: list[tuple[Post, str, str]]) -> dict[str, Any]:
    """An Atom feed's context; entries are (post, title, path) newest first."""
    updated = max((max(p.date, p.edited or p.date) for p, _, _ in entries), default=None)
    return {"feed_title": title, "alternate": alternate, "entries": entries, "updated": updated}


# Sitemaps ------------------------------------------------------------------------------


class Listed(NamedTuple):
    """A page as the sitemap lists it. A build lists every page it made, and renders only
    the sitemap parts whose pages changed: the time stays a number until then."""

    path: str
    stamp: float
    """When the page last changed, as the build cache keeps it."""

    @property
    def lastmod(self) -> datetime:
        return instant(self.stamp)


Layout = tuple[tuple[str, int], ...]
"""How sitemap.xml is split: (kind, number of parts) of each kind of page listed, by kind;
() when one sitemap.xml lists every page."""


def sitemap_kind(path: str) -> str:
    """The kind of page a sitemap part lists: topics, authors, or lists (the rest)."""
    return {"t": "topics", "u": "authors"}.get(path.split("/", 1)[0], "lists")


def sitemap_counts(paths: Iterable[str]) -> dict[str, int]:
    """How many of these pages there are of each kind (see `sitemap_kind`)."""
    counts: dict[str, int] = {}
    for path in paths:
        kind = sitemap_kind(path)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def sitemap_layout(counts: Mapping[str, int]) -> Layout:
    """The split of the sitemap for this many pages listed of each kind: past
    SITEMAP_PART pages, a sitemap index over parts for each kind."""
    if sum(counts.values()) <= SITEMAP_PART:
        return ()
    return tuple((kind, -(-n // SITEMAP_PART)) for kind, n in sorted(counts.items()) if n)


_PAGED = re.compile(r"(.*)page/([0-9]+)/")


def sitemap_key(path: str) -> str:
    """What decides a page's part: its series (a listing, a topic, an author's pages)
    and which run of SITEMAP_RUN pages of it the page is in. The pages a post changes
    come in runs (a bumped topic changes the first pages of each listing it is in), so
    they share a part instead of each landing in another one."""
    found = _PAGED.fullmatch(path)
    if found is None:
        return f"{path}#0"
    return f"{found[1]}#{int(found[2]) // SITEMAP_RUN}"


def sitemap_part(path: str, layout: Layout) -> str:
    """The sitemap file that lists a page: spread over its kind's parts by a hash of its
    `sitemap_key`, so a new post changes only the parts holding the pages it changed."""
    if not layout:
        return "sitemap.xml"
    kind = sitemap_kind(path)
    bucket = _bucket(zlib.crc32(sitemap_key(path).encode()), dict(layout)[kind])
    return part_name(kind, bucket)


def part_name(kind: str, bucket: int) -> str:
    """The file of a kind's sitemap part, by bucket (counted from 0)."""
    return f"sitemap-{kind}-{bucket + 1}.xml"


def _bucket(digest: int, count: int) -> int:
    """Linear hashing: which of `count` parts a hash goes to. One part more splits one
    part in two (part c - 2^L into itself and part c, for 2^L <= c < 2^(L+1)) and
    moves nothing else, so a kind growing by a part rewrites two parts, not all. A part
    not yet split gets twice the share of one split, so about 2 * SITEMAP_PART pages at
    most."""
    level = 1 << (count.bit_length() - 1)  # 2^L <= count < 2^(L+1)
    bucket = digest % (2 * level)
    if bucket >= count:
        bucket = digest % level
    return bucket


def sitemap_moved(before: Layout, after: Layout) -> set[str] | None:
    """The parts whose pages may differ from one split of the sitemap to the other, by
    name under either (parts of a kind only one of them has included); None when one of
    them is a single sitemap.xml, as every page moves then."""
    if before == after:
        return set()
    if not before or not after:
        return None
    was, now = dict(before), dict(after)
    moved: set[str] = set()
    for kind in was.keys() | now.keys():
        low, high = sorted((was.get(kind, 0), now.get(kind, 0)))
        if low == 0:
            buckets = set(range(high))
        else:  # each step c -> c + 1 splits part c - 2^L into itself and part c
            buckets = {b for c in range(low, high) for b in (c - (1 << (c.bit_length() - 1)), c)}
        moved.update(part_name(kind, b) for b in buckets)
    return moved


def sitemaps(listed: list[Listed]) -> list[Page]:
    """sitemap.xml; past SITEMAP_PART URLs, a sitemap index over parts for listings,
    topics and authors, each kind spread over parts by a hash of the series and run of
    each page (`sitemap_part`). A new post changes a few lastmods: only the parts holding
    them change, whatever the forum's size."""
    layout = sitemap_layout(sitemap_counts(item.path for item in listed))
    parts: dict[str, list[Listed]] = {}
    for item in listed:
        parts.setdefault(sitemap_part(item.path, layout), []).append(item)
    if not layout:
        return [sitemap_file("sitemap.xml", listed)]
    files = [sitemap_file(name, part) for name, part in sorted(parts.items())]
    return [*files, sitemap_index({f.path: max(p.stamp for p in parts[f.path]) for f in files})]


def sitemap_index(newest: Mapping[str, float]) -> Page:
    """The sitemap index over parts, each with the newest lastmod of its pages."""
    index = sorted(newest.items())
    return Page(
        "sitemap.xml",
        "sitemap-index.xml",
        _constant({"sitemaps": [(path, instant(stamp)) for path, stamp in index]}),
        fingerprint=fingerprint(index),
    )


def sitemap_file(path: str, listed: Sequence[Listed]) -> Page:
    """A sitemap (the only one, or a part) listing these pages."""
    listed = sorted(listed, key=lambda p: p.path)
    return Page(
        path,
        "sitemap.xml",
        _constant({"pages": listed}),
        fingerprint=fingerprint(listed),
    )
