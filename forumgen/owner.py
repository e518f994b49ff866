"""What an output file is made from: its owner. The build cache keeps each file's owner
so that a change to a topic or an author renders only the files they own, and a change
to a term of the search index rewrites only that term's files."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Kind(Enum):
    """The kinds of owners, by the prefix of their text form in the build cache."""

    SITE = ""
    """Listings, feeds, sitemaps, assets: pages drawn from the whole site."""
    TOPIC = "t/"
    """A topic's pages, feed and redirects."""
    AUTHOR = "u/"
    """An author's page."""
    SEARCH = "search:"
    """The search index's `index.json`."""
    SEARCH_SHARDS = "search:i"
    """The shards of the search index."""
    SEARCH_TOPIC = "search:t/"
    """A topic's text in the search index."""
    SEARCH_TERM = "search:q/"
    """The postings of a term of the search index."""
    SEARCH_PREFIX = "search:x/"
    """The words of the search index that start with a prefix, for completion."""


KEYED = (Kind.TOPIC, Kind.AUTHOR, Kind.SEARCH_TOPIC, Kind.SEARCH_TERM, Kind.SEARCH_PREFIX)
"""The kinds whose owners are told apart by a key (a slug, a term, a prefix)."""


class Owner(NamedTuple):
    kind: Kind
    key: str = ""
    """A topic's or an author's slug, or a term; '' for the kinds not in KEYED."""

    @property
    def text(self) -> str:
        """The owner as the build cache stores it (see `parse`)."""
        return self.kind.value + self.key

    @classmethod
    def parse(cls, text: str) -> Owner:
        """An owner from its text form: 't/<slug>', 'u/<slug>', 'search:t/<slug>',
        'search:q/<term>', 'search:x/<prefix>', 'search:i', 'search:' or ''."""
        for prefix, kind in _PREFIXES:
            if text.startswith(prefix):
                return cls(kind, text[len(prefix) :])
        return cls(Kind(text))


_PREFIXES = tuple((kind.value, kind) for kind in KEYED)
"""KEYED with their prefixes: an Enum member's value is a slow lookup, and a build parses
one owner per output file."""

SITE = Owner(Kind.SITE)
