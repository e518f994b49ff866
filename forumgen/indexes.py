"""The indexes of what a forum holds: `tags/` (every tag, with how many topics carry it,
most used first), `categories/` (every category in the site's order, with its
description and how many topics it holds) and `u/` (everyone who wrote, by name, with
how many topics they started and posts they wrote).

The bare `tag/` and `c/`, where a reader who shortens a tag's or a category's address
lands, are redirect pages to `tags/` and `categories/` (not copies of them: one address
per page, as search engines want, and the one the header links to).

What they show is chosen so that a reply rewrites as little as it can: a reply changes
no topic count, so it rewrites neither `tags/` nor `categories/`; it changes its
author's post count, so it rewrites the one page of `u/` that lists them (a new
author's first post also moves those after them in name order, rewriting the pages
from theirs on). An index lists at most `INDEX_PAGES` listing pages' worth of entries a
page (300 at the default 30 topics per page), so that `u/` of a forum with thousands of
authors is a few pages of a sane size, like a listing's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from .archive import Titled
from .config import Config
from .i18n import Translator
from .model import Author, Category
from .pages import Context, Listings, Page, Pager, Person, chunks, fingerprint, instant

Row = TypeVar("Row", tuple[str, str, int], tuple[str, str, int, int])

TAGS = "tags/"
CATEGORIES = "categories/"
AUTHORS = "u/"
REDIRECTED = {"tag/": TAGS, "c/": CATEGORIES}
"""The bare prefixes of tag and category pages, and the index each leads to."""
INDEX_PAGES = 10
"""An index page lists as many entries as this many listing pages list topics."""


def per_index_page(config: Config) -> int:
    """How many tags or authors one page of their index lists."""
    return config.topics_per_page * INDEX_PAGES


def people(found: Sequence[Person], profiles: Mapping[str, Author]) -> list[Person]:
    """Every author as the index lists them: named as their page names them (authors.yaml
    first), by name, then slug."""
    named = [p._replace(name=profiles[p.slug].name) if p.slug in profiles else p for p in found]
    return sorted(named, key=lambda p: (p.name.casefold(), p.name, p.slug))


def index_pages(
    listings: Listings,
    in_category: Mapping[str, int],
    tagged: Mapping[str, int],
    categories: Sequence[Category],
    authors: Sequence[Person],
    config: Config,
) -> list[Page]:
    """The three indexes and the redirect pages of the bare prefixes; `in_category` and
    `tagged`: the size of each category's and tag's listing, by base (see
    Listings.counts); `authors` as `people` orders them."""
    t = Translator(config.language)
    per_page = per_index_page(config)
    opened = listings.opened("")
    return [
        *_tags(listings, tagged, opened, per_page),
        _categories(in_category, opened, categories),
        *_authors(authors, per_page),
        *(_redirect(path, target, t) for path, target in REDIRECTED.items()),
    ]


def _tags(
    listings: Listings,
    tagged: Mapping[str, int],
    opened: tuple[float, float] | None,
    per_page: int,
) -> Iterator[Page]:
    """`tags/`: (name, slug, topics) of every tag, the most used first. It changed when
    a tagged topic was last started (when the first topic was, while none is tagged);
    `opened`: when the forum's first and last topics were."""
    rows = sorted(
        ((listings.tag_name(base), base.split("/")[1], size) for base, size in tagged.items()),
        key=lambda row: (-row[2], row[1]),
    )
    stamps = [when[1] for base in tagged if (when := listings.opened(base))]
    if not stamps and opened:
        stamps = [opened[0]]
    lastmod = instant(max(stamps)) if stamps else None
    yield from _paged(TAGS, "tags.html", rows, per_page, lambda _: lastmod)


def _categories(
    in_category: Mapping[str, int],
    opened: tuple[float, float] | None,
    categories: Sequence[Category],
) -> Page:
    """`categories/`: every category with how many topics it holds, in the site's order;
    `opened`: when the forum's first and last topics were."""
    rows = [(category, in_category.get(f"c/{category.slug}/", 0)) for category in categories]
    context = {"rows": rows, "pager": Pager(1, 1, CATEGORIES)}
    return Page(
        CATEGORIES,
        "categories.html",
        _constant(context),
        lastmod=instant(opened[1]) if opened else None,
        fingerprint=fingerprint(CATEGORIES, rows),
    )


def _authors(authors: Sequence[Person], per_page: int) -> Iterator[Page]:
    """`u/` and its pages: (slug, name, topics started, posts) of every author."""
    rows = [(p.slug, p.name, p.topics, p.posts) for p in authors]
    stamps = {p.slug: p.lastmod for p in authors}

    def lastmod(group: Sequence[tuple[str, str, int, int]]) -> datetime | None:
        return instant(max(stamps[row[0]] for row in group)) if group else None

    yield from _paged(AUTHORS, "authors.html", rows, per_page, lastmod)


def _paged(
    base: str,
    template: str,
    rows: Sequence[Row],
    per_page: int,
    lastmod: Callable[[Sequence[Row]], datetime | None],
) -> Iterator[Page]:
    """An index's pages; `lastmod` gives a page's from the rows it lists."""
    groups = chunks(rows, per_page)
    for number, group in enumerate(groups, 1):
        pager = Pager(number, len(groups), base)
        context = {"rows": group, "pager": pager}
        yield Page(
            pager.path(number),
            template,
            _constant(context),
            lastmod=lastmod(group),
            fingerprint=fingerprint(pager, list(group)),
        )


def _redirect(path: str, target: str, t: Translator) -> Page:
    """A bare prefix, leading to its index."""
    title = t("tags") if target == TAGS else t("categories")
    context = {"target": target, "topic": Titled(title)}
    return Page(
        path, "redirect.html", _constant(context), fingerprint=fingerprint(path, target, title)
    )


def _constant(context: dict[str, Any]) -> Context:
    return lambda: context
