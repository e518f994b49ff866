"""An author's pages: `u/<author>/` lists their newest topics started and their newest
replies, at most three listing pages' worth of each (`shown_on_page`), with how many
posts they wrote, and `u/<author>/feed.xml` is the feed of their newest posts. When
either list overflows, the page links to their archive by month, which holds everything
they wrote: `u/<author>/archive/` names the years and months with how many posts each
has, and `u/<author>/archive/YYYY/MM/` lists that month's posts (in the site's time
zone), oldest first, `topics_per_page` per page.

A post never changes month, and the archive shows nothing of a post that a reply to it
changes: a new post rewrites the author's page and feed, their archive's index (a
count) and the last page of its month (its other pages too when it starts a new page:
each names how many there are), however much they wrote before. An author whose posts fit on their
page has no archive, and their page is what it was before there were archives.

Pages are planned from one row per topic the author wrote in (pages.AuthoredRow), which
lists their posts there in plain values (pages.Wrote). What they wrote is loaded, and
the HTML of their posts fetched, only for the posts a page shows, when it is rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from . import archive
from .config import Config
from .i18n import Translator
from .model import Author, Post
from .owner import Kind, Owner
from .pages import (
    FEED_ENTRIES,
    Authored,
    AuthoredRow,
    Context,
    Month,
    Page,
    Pager,
    PostView,
    Wrote,
    chunks,
    feed_fields,
    fingerprint,
    instant,
    month_of,
    topic_address,
)

Listed = tuple[str, Wrote]
"""One post of the author: (its topic, the post)."""
Loader = Callable[[Sequence[Listed]], Mapping[str, Authored]]
"""The posts a page shows -> what the author wrote in their topics, by topic, with the
HTML of those posts at hand."""


def author_path(slug: str) -> str:
    """The page of the author whose slug is `slug`."""
    return f"u/{slug}/"


def feed_path(slug: str) -> str:
    """The Atom feed of the author's newest posts."""
    return f"{author_path(slug)}feed.xml"


def archive_path(slug: str) -> str:
    """The index of the author's archive (whether or not they have one)."""
    return archive.index_path(author_path(slug))


@dataclass(frozen=True)
class _Profile:
    """What an author's page shows, but for their profile."""

    started: Sequence[Listed]
    """Their newest topics started, newest first."""
    replies: Sequence[Listed]
    """Their newest replies, newest first."""
    count: int
    """How many posts they wrote."""
    archive: str | None
    """Their archive, if what they wrote does not fit on the page."""


@dataclass(frozen=True)
class _Archive:
    """What every page of an author's archive shares."""

    base: str
    """The author's page: the archive is under it."""
    name: str
    trail: list[tuple[str, str]]
    """The breadcrumbs to the archive's index, after the home page."""
    per_page: int
    tz: ZoneInfo
    t: Translator
    load: Loader
    owner: Owner


PAGES_SHOWN = 3
"""An author's page lists as many of their newest topics, and of their newest replies, as
this many listing pages hold (90 each at the default 30 topics per page). An archive pays
off for authors who wrote a lot; for one who wrote a few dozen posts over years it is a
page for each month with one or two posts in it: with a page of `topics_per_page`, a
generated forum of 1,000 topics whose 200 authors wrote 56 posts each got 9,630 archive
pages, doubling its files and adding half to a cold build's CPU time."""


def shown_on_page(config: Config) -> int:
    """How many topics started, and how many replies, an author's page lists at most."""
    return config.topics_per_page * PAGES_SHOWN


def author_pages(
    slug: str,
    rows: Sequence[AuthoredRow],
    profiles: Mapping[str, Author],
    config: Config,
    load: Loader,
) -> list[Page]:
    """An author's page and, when what they wrote overflows it, their archive, planned
    from what they wrote in each topic (they have a page if they wrote anything)."""
    newest = max(rows, key=lambda r: (r.lastmod, r.topic))
    author = profiles.get(slug) or Author(name=newest.name, slug=slug)
    # By topic, then in topic order: the order of posts written at the same instant.
    posts = [(row.topic, wrote) for row in rows for wrote in row.posts]
    started = sorted(
        (p for p in posts if p[1].number == 1), key=lambda p: (p[1].stamp, p[0]), reverse=True
    )
    replies = sorted(
        (p for p in posts if p[1].number > 1), key=lambda p: (p[1].stamp, p[1].post), reverse=True
    )
    base, cap = author_path(slug), shown_on_page(config)
    overflows = len(started) > cap or len(replies) > cap
    shown = _Profile(
        started[:cap], replies[:cap], len(posts), archive_path(slug) if overflows else None
    )
    owner = Owner(Kind.AUTHOR, slug)
    page = Page(
        base,
        "author.html",
        lambda: _profile_context(author, shown, load),
        lastmod=instant(newest.lastmod),
        owner=owner,
        fingerprint=fingerprint(author, shown),
    )
    t = Translator(config.language)
    feed = _feed(slug, t("posts_by", name=author.name), posts, load, owner)
    if not overflows:
        return [page, feed]
    trail = [(author.name, base), (t("archive"), archive_path(slug))]
    plan = _Archive(base, author.name, trail, config.topics_per_page, config.tz, t, load, owner)
    return [page, feed, *_archive(plan, posts)]


def _feed(slug: str, title: str, posts: list[Listed], load: Loader, owner: Owner) -> Page:
    """The feed of the author's newest posts, topics started and replies together, as
    long as the other feeds; an entry shows what the topic's feed shows of the post."""
    newest = sorted(posts, key=lambda p: (p[1].stamp, p[0], p[1].number), reverse=True)
    newest = newest[:FEED_ENTRIES]
    path, alternate = feed_path(slug), author_path(slug)

    def context() -> dict[str, Any]:
        authored = load(newest)
        written = [_written(authored[topic], wrote) for topic, wrote in newest]
        return feed_fields(
            title,
            alternate,
            [
                (w.post, w.title if w.number == 1 else f"#{w.number} {w.title}", w.link)
                for w in written
            ],
        )

    return Page(
        path,
        "feed.xml",
        context,
        owner=owner,
        fingerprint=fingerprint(path, title, alternate, newest),
    )


def _profile_context(author: Author, shown: _Profile, load: Loader) -> dict[str, Any]:
    authored = load([*shown.started, *shown.replies])
    return {
        "author": author,
        "replies": [_view(authored[topic], wrote) for topic, wrote in shown.replies],
        "topics_of": {topic: _Titled(a.title) for topic, a in authored.items()},
        "topics": [
            _StartedTopic(topic, authored[topic].title, authored[topic].started)
            for topic, _ in shown.started
        ],
        "count": shown.count,
        "archive": shown.archive,
    }


def _archive(plan: _Archive, posts: list[Listed]) -> Iterator[Page]:
    """The archive's index, then the pages of each month."""
    months: dict[Month, list[Listed]] = {}
    for item in sorted(posts, key=lambda p: (p[1].stamp, p[0], p[1].number)):
        months.setdefault(month_of(item[1].stamp, plan.tz), []).append(item)
    path = archive.index_path(plan.base)
    heading = plan.t("author_archive", name=plan.name)
    shown = archive.years(plan.base, {m: len(listed) for m, listed in months.items()}, plan.t)
    context = {
        "heading": heading,
        "trail": plan.trail,
        "years": shown,
        "lead": "author_archive_lead",
        "counted": "n_posts",
    }
    yield Page(
        path,
        "archive.html",
        lambda: context,
        lastmod=instant(max(wrote.stamp for _, wrote in posts)),
        owner=plan.owner,
        fingerprint=fingerprint(path, heading, plan.trail, shown),
    )
    for month, listed in months.items():
        yield from _month(plan, month, listed)


def _month(plan: _Archive, month: Month, listed: list[Listed]) -> Iterator[Page]:
    """The pages of one month of an author's archive."""
    name = plan.t.month(*month)
    base = archive.month_path(plan.base, month)
    fixed = {
        "heading": plan.t("written_in", name=plan.name, month=name),
        "trail": [*plan.trail, (name, base)],
    }
    groups = chunks(listed, plan.per_page)
    for number, group in enumerate(groups, 1):
        pager = Pager(number, len(groups), base)
        yield Page(
            pager.path(number),
            "author-month.html",
            _month_context(group, plan.load, {"pager": pager, **fixed}),
            lastmod=instant(max(wrote.stamp for _, wrote in group)),
            owner=plan.owner,
            fingerprint=fingerprint(pager, sorted(fixed.items()), group),
        )


def _month_context(group: Sequence[Listed], load: Loader, rest: dict[str, Any]) -> Context:
    def context() -> dict[str, Any]:
        authored = load(group)
        return {"posts": [_written(authored[topic], wrote) for topic, wrote in group], **rest}

    return context


def _view(authored: Authored, wrote: Wrote) -> PostView:
    """The reply `wrote` lists, as its topic shows it."""
    return next(v for v in authored.replies if v.post.id == wrote.post)


def _written(authored: Authored, wrote: Wrote) -> Written:
    if wrote.number == 1 and authored.started:
        return Written(authored.title, 1, topic_address(authored.topic), authored.started)
    view = _view(authored, wrote)
    return Written(authored.title, view.number, view.permalink, view.post)


@dataclass(frozen=True)
class Written:
    """A post as an archive page lists it: a topic started, or a reply."""

    title: str
    """Its topic's."""
    number: int
    """1 for the opening post of a topic."""
    link: str
    """The topic, for an opening post; else the reply's permalink."""
    post: Post


@dataclass(frozen=True)
class _Titled:
    title: str


@dataclass(frozen=True)
class _StartedTopic:
    slug: str
    title: str
    opening: Post | None
