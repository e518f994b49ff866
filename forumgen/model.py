"""The forum as plain data: what content.py reads and pages.py lays out.

Frozen dataclasses for what files say; the derived orderings (post numbers, listing
order, backlinks) are computed once in `Site.assemble` so every page agrees on them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Literal, Protocol, TypeVar, get_args

FILE_NAME_BYTES = 255
"""The longest file name most file systems take, in UTF-8 bytes: every slug names a folder."""
MAX_SLUG_BYTES = 200
"""The longest slug `slugify` makes, in UTF-8 bytes: short of FILE_NAME_BYTES, so that a
suffix ('-2', '-<hash>') still fits."""
_HASH_HEX = 8


@lru_cache(maxsize=65536)  # called for every author name on every page
def slugify(text: str) -> str:
    """Unicode letters and digits joined by '-', lower-cased: 'Ann Smith' -> 'ann-smith',
    '李 明' -> '李-明'. Used for author and tag pages and for new topic slugs. At most
    MAX_SLUG_BYTES: a name of 80 characters can make a far longer slug (four bytes a
    letter, or one character that NFKC expands into a phrase), and a slug too long for a
    file name would stop every build."""
    text = unicodedata.normalize("NFKC", text).casefold()
    words, word = [], []
    for char in text:
        if char.isalnum():
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return bounded("-".join(words))


def bounded(slug: str, limit: int = MAX_SLUG_BYTES) -> str:
    """`slug` if it fits in `limit` UTF-8 bytes; else cut at a character boundary and
    ended with '-' and a short hash of the whole slug, so that the same slug is always
    cut the same way and two long slugs that only differ past the cut stay apart."""
    data = slug.encode()
    if len(data) <= limit:
        return slug
    tail = "-" + hashlib.blake2b(data, digest_size=_HASH_HEX // 2).hexdigest()
    return data[: limit - len(tail)].decode(errors="ignore").rstrip("-") + tail


def is_safe_slug(slug: str) -> bool:
    """The SPEC's slug rule: letters and digits joined by single '-', nothing else, so a
    slug can never climb out of its folder or hide a control character; and short
    enough to name a folder."""
    parts = slug.split("-")
    return (
        bool(slug)
        and all(part and all(c.isalnum() for c in part) for part in parts)
        and len(slug.encode()) <= FILE_NAME_BYTES
    )


PostFormat = Literal["markdown", "mail"]
"""How a post's body is written: Markdown, or a mail's text as sent (see mailbody.py)."""
POST_FORMATS: tuple[PostFormat, ...] = get_args(PostFormat)
MARKDOWN: PostFormat = "markdown"
MAIL: PostFormat = "mail"


@dataclass(frozen=True)
class Category:
    slug: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Author:
    name: str
    slug: str
    bio: str = ""
    url: str = ""


@dataclass(frozen=True)
class Post:
    """One post as its file says it. `id` is 'topic' for the opening post."""

    topic: str
    id: str
    author: str
    date: datetime
    body: str
    reply_to: str = ""
    edited: datetime | None = None
    hidden: bool = False
    path: str = ""
    digest: str = ""
    """Hash of the body (and of its format, if not Markdown): the key of its rendered HTML
    in the build cache."""
    redirect_from: tuple[str, ...] = ()
    """A reply's old URLs (e.g. an imported forum's per-post links): each gets a redirect
    to the post's permalink. The opening post's are the topic's."""
    draft: bool = False
    """Not published: left out of builds unless drafts are asked for (then marked)."""
    format: PostFormat = MARKDOWN


@dataclass
class Topic:
    slug: str
    title: str
    category: str
    tags: tuple[str, ...]
    pinned: bool
    locked: bool
    redirect_from: tuple[str, ...]
    posts: list[Post] = field(default_factory=list)
    """Published posts in thread order: opening post first, then by date and id."""
    category_line: int = 1
    """Where topic.md names its category, to point at it if the category is unknown."""
    draft: bool = False
    """The opening post is a draft: so is the whole topic."""

    @property
    def opening(self) -> Post:
        return self.posts[0]

    # Cached: listings, sorting and the sitemap ask for these over and over. A topic's
    # posts are final once it is read (the loader builds a new Topic for any change).
    @cached_property
    def last_activity(self) -> datetime:
        return max(p.date for p in self.posts)

    @cached_property
    def updated(self) -> datetime:
        """The newest date anything in the topic changed, edits included."""
        return max(max(p.date, p.edited or p.date) for p in self.posts)

    @property
    def reply_count(self) -> int:
        return len(self.posts) - 1

    def summary(self) -> TopicSummary:
        return TopicSummary(**{f.name: getattr(self, f.name) for f in fields(TopicSummary)})


@dataclass(frozen=True)
class TopicSummary:
    """What pages other than the topic's own show of it (listings, feeds, author pages):
    small enough to keep for every topic of a large forum, so an incremental build
    plans the whole site without reading any topic that did not change."""

    slug: str
    title: str
    category: str
    tags: tuple[str, ...]
    pinned: bool
    locked: bool
    redirect_from: tuple[str, ...]
    opening: Post
    """Without its body (rendered HTML is looked up by digest)."""
    reply_count: int
    last_activity: datetime
    updated: datetime
    category_line: int = 1
    draft: bool = False


class _Listed(Protocol):
    @property
    def slug(self) -> str: ...

    @property
    def last_activity(self) -> datetime | float: ...


Listed = TypeVar("Listed", bound=_Listed)


def listing_order(topics: Iterable[Listed]) -> list[Listed]:
    """Latest activity first; the slug breaks ties so the order is deterministic."""
    return sorted(sorted(topics, key=lambda t: t.slug), key=lambda t: t.last_activity, reverse=True)


@dataclass
class Site:
    categories: list[Category]
    topics: list[Topic]
    authors: dict[str, Author]
    """By author slug."""

    def __post_init__(self) -> None:
        self.topics = listing_order(self.topics)

    def category(self, slug: str) -> Category:
        return next(c for c in self.categories if c.slug == slug)

    def topics_in(self, category: str) -> list[Topic]:
        """A category's listing: pinned topics first, each group by last activity."""
        topics = [t for t in self.topics if t.category == category]
        return [t for t in topics if t.pinned] + [t for t in topics if not t.pinned]

    def tags(self) -> dict[str, tuple[str, list[Topic]]]:
        """Tag slug -> (display name, topics), in slug order."""
        found: dict[str, tuple[str, list[Topic]]] = {}
        for topic in self.topics:
            for tag in topic.tags:
                found.setdefault(slugify(tag), (tag, []))[1].append(topic)
        return dict(sorted(found.items()))

    def author(self, name: str) -> Author:
        slug = slugify(name)
        return self.authors.get(slug) or Author(name=name, slug=slug)
