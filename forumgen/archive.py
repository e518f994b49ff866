"""The archive: a listing's topics by the month they were started in, for listings too
long to keep whole in "latest activity first" order (config `listing_pages`).

Past its first `listing_pages` pages, a listing (latest topics, a category's, a tag's)
keeps its topics here: `<listing>archive/` names the years and months, and
`<listing>archive/YYYY/MM/` lists the topics started that month, oldest first,
paginated. An archive page shows only what a topic's opening post fixed (title, author,
start date, category, tags), and a topic never changes month: a reply rewrites no
archive page, and a new topic only the last page of its month and the archive's index.

The `page/N/` addresses a listing would have without the cap lead to the archive, so
links to them keep working; they are counted from the listing's topics, so every build
of the same input makes the same ones.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .config import Config
from .i18n import Translator
from .pages import (
    Context,
    Entry,
    Listings,
    Month,
    Page,
    Pager,
    Summaries,
    chunks,
    fingerprint,
    instant,
)

Trail = list[tuple[str, str]]
"""Breadcrumbs after the home page: (name, path)."""


@dataclass(frozen=True)
class Titled:
    """What the redirect page template shows of where it leads."""

    title: str


def index_path(base: str) -> str:
    """The archive of the listing at `base` ('', 'c/<category>/', 'tag/<tag>/')."""
    return f"{base}archive/"


def month_path(base: str, month: Month) -> str:
    return f"{index_path(base)}{month[0]:04d}/{month[1]:02d}/"


Years = list[tuple[int, list[tuple[str, str, int]]]]
"""An archive's index: each year, newest first, with its months (name, path, count)."""


def years(base: str, counts: Mapping[Month, int], t: Translator) -> Years:
    """The years and months of the archive at `base`, with what each month counts."""
    found: dict[int, list[tuple[str, str, int]]] = {}
    for month, count in counts.items():
        found.setdefault(month[0], []).append((t.month(*month), month_path(base, month), count))
    return sorted(found.items(), reverse=True)


def listing_archive(
    listings: Listings,
    size: int,
    summaries: Summaries,
    base: str,
    config: Config,
    listing: dict[str, Any],
    shared: dict[str, Any],
    only: Collection[Month] | None = None,
) -> Iterator[Page]:
    """The archive of the listing at `base`, whose `size` topics overflow its
    `listing_pages` pages, and the redirect pages where its pages past those were.
    `listing` is what the listing's pages get (its kind, category or tag); `only`: the
    months whose pages are planned (None: all): a build told of one reply gathers the
    topics of one month, not of the listing."""
    t = Translator(config.language)
    heading, trail = _heading(t, base, listing)
    counts = listings.months(base)
    opened = listings.opened(base)
    assert opened is not None  # the listing overflows
    yield _index(base, heading, trail, counts, opened[1], t)
    for month in counts:
        if only is None or month in only:
            listed = listings.in_month(base, month)
            yield from _month(
                base, month, listed, summaries, config.topics_per_page, t, (heading, trail), shared
            )
    pages = math.ceil(size / config.topics_per_page)
    for number in range(config.listing_pages + 1, pages + 1):
        yield _redirect(Pager(number, pages, base).path(number), index_path(base), heading)


def _redirect(path: str, target: str, heading: str) -> Page:
    """A page of the listing that the archive took the place of: it leads there."""
    context = {"target": target, "topic": Titled(heading)}
    return Page(
        path, "redirect.html", lambda: context, fingerprint=fingerprint(path, target, heading)
    )


def _heading(t: Translator, base: str, listing: dict[str, Any]) -> tuple[str, Trail]:
    """The archive's heading, and the breadcrumbs that lead to it."""
    kind = listing["kind"]
    if kind == "category":
        name = listing["category"].name
        return t("archive_of", name=name), [(name, base), (t("archive"), index_path(base))]
    if kind == "tag":
        tag = t("tag_heading", tag=listing["tag"])
        return (
            t("archive_of_tag", tag=listing["tag"]),
            [(tag, base), (t("archive"), index_path(base))],
        )
    return t("archive"), [(t("archive"), index_path(base))]


def _index(
    base: str, heading: str, trail: Trail, counts: dict[Month, int], opened: float, t: Translator
) -> Page:
    """The years and months of an archive, newest year first, with their topic counts;
    `opened`: when its newest topic was started."""
    shown = years(base, counts, t)
    context = {
        "heading": heading,
        "trail": trail,
        "years": shown,
        "lead": "archive_lead",
        "counted": "n_topics",
    }
    return Page(
        index_path(base),
        "archive.html",
        lambda: context,
        lastmod=instant(opened),
        fingerprint=fingerprint(index_path(base), heading, trail, shown),
    )


def _month(
    base: str,
    month: Month,
    listed: list[Entry],
    summaries: Summaries,
    per_page: int,
    t: Translator,
    archive: tuple[str, Trail],
    shared: dict[str, Any],
) -> Iterator[Page]:
    """The pages of one month of an archive; `archive` is its heading and breadcrumbs."""
    name = t.month(*month)
    heading = t("started_in", month=name)
    trail = [*archive[1], (name, month_path(base, month))]
    groups = chunks(listed, per_page)
    for number, group in enumerate(groups, 1):
        pager = Pager(number, len(groups), month_path(base, month))
        fixed = {"heading": heading, "archive_heading": archive[0], "trail": trail}
        yield Page(
            pager.path(number),
            "archive-month.html",
            _month_context([e.slug for e in group], summaries, {"pager": pager, **fixed, **shared}),
            lastmod=instant(max(e.opened for e in group)),
            fingerprint=fingerprint(pager, sorted(fixed.items()), [e.archived for e in group]),
        )


def _month_context(slugs: list[str], summaries: Summaries, rest: dict[str, Any]) -> Context:
    return lambda: {"topics": summaries(slugs), **rest}
