"""The persistent build cache in `.forumgen/cache.sqlite` (the preview of `forumgen serve`
has its own, in `.forumgen/preview/`: see locks.output_state_dir).

It remembers six things so a build costs what changed, not what exists, each kept by a
store of its own (all sharing one connection):
- TopicStore: parsed topics and their plans (pages.TopicPlan), keyed by the name, mtime
  and size of every file in the topic's folder (an unchanged topic is neither read nor
  planned again);
- AuthoredStore: what each author wrote in each topic, for author pages, with each of
  their posts there in plain values: all that planning their pages needs;
- HtmlStore: rendered Markdown, keyed by a hash of the source (and of the rendering
  settings);
- SearchStore: the search index, each topic's terms and each term's postings by topic
  (searchindex.py);
- PageStore: for every output file, a fingerprint of everything it was rendered from (a
  page whose inputs did not change is not rendered again), its owner (what it is
  planned from) and the sitemap part listing it (a build told what changed reads only
  the records of what it plans again, and the parts it writes again);
- ScanStore: the signature of every topic folder the last build scanned, so a build told
  which files changed (`build --changed`) stats only their folders.

Everything in it can be recomputed: it is dropped whole when forumgen's version or the
Markdown settings change, and deleting the file is always safe.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, cast

from .loader import CachedTopic, Scan
from .output import PageRecord
from .owner import Owner
from .pages import (
    Authored,
    AuthoredRow,
    Entry,
    Layout,
    Listed,
    Month,
    Person,
    TopicPlan,
    Wrote,
    listed_in,
    sitemap_layout,
    sitemap_moved,
    sitemap_part,
)

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE topics (slug TEXT PRIMARY KEY, signature TEXT NOT NULL, data BLOB NOT NULL,
                     plan BLOB NOT NULL, entry BLOB NOT NULL);
CREATE TABLE authored (topic TEXT NOT NULL, author TEXT NOT NULL, digest TEXT NOT NULL,
                       lastmod REAL NOT NULL, name TEXT NOT NULL, started INTEGER NOT NULL,
                       replies INTEGER NOT NULL, posts BLOB NOT NULL, data BLOB NOT NULL,
                       PRIMARY KEY (topic, author));
CREATE INDEX authored_by ON authored (author, lastmod, topic, name, started, replies);
CREATE INDEX topics_signature ON topics (slug, signature);
CREATE INDEX topics_entry ON topics (slug, entry);
CREATE TABLE people (author TEXT PRIMARY KEY, name TEXT NOT NULL, started INTEGER NOT NULL,
                     posts INTEGER NOT NULL, lastmod REAL NOT NULL);
CREATE TABLE html (digest TEXT PRIMARY KEY, html TEXT NOT NULL);
CREATE TABLE pages (file TEXT PRIMARY KEY, path TEXT NOT NULL, fingerprint TEXT NOT NULL,
                    lastmod REAL, owner TEXT NOT NULL, part TEXT);
CREATE INDEX pages_by_owner ON pages (owner);
CREATE INDEX pages_by_part ON pages (part, lastmod);
CREATE TABLE output_folders (folder TEXT PRIMARY KEY, mtime INTEGER NOT NULL);
CREATE TABLE staged_topics AS SELECT * FROM topics WHERE 0;
CREATE TABLE staged_authored AS SELECT * FROM authored WHERE 0;
CREATE TABLE search_topics (slug TEXT PRIMARY KEY, tid INTEGER NOT NULL,
                            posts INTEGER NOT NULL);
CREATE TABLE search_postings (slug TEXT NOT NULL, term_group INTEGER NOT NULL,
                              postings BLOB NOT NULL, PRIMARY KEY (slug, term_group));
CREATE INDEX search_postings_by_group ON search_postings (term_group);
CREATE TABLE search_terms (term TEXT PRIMARY KEY, h INTEGER NOT NULL, postings BLOB NOT NULL,
                           entry TEXT);
CREATE INDEX search_terms_by_hash ON search_terms (h);
CREATE TABLE scanned (folder TEXT PRIMARY KEY, signature TEXT NOT NULL, key TEXT NOT NULL);
CREATE INDEX scanned_by_key ON scanned (key);
CREATE TABLE listed (base TEXT NOT NULL, slug TEXT NOT NULL, pinned INTEGER NOT NULL,
                     last_activity REAL NOT NULL, opened REAL NOT NULL,
                     month INTEGER NOT NULL, name TEXT NOT NULL,
                     PRIMARY KEY (base, slug)) WITHOUT ROWID;
CREATE INDEX listed_by_slug ON listed (slug);
CREATE INDEX listed_by_activity ON listed (base, pinned DESC, last_activity DESC, slug);
CREATE INDEX listed_by_opened ON listed (base, opened, slug);
CREATE INDEX listed_by_month ON listed (base, month, opened, slug);
CREATE TABLE redirecting (slug TEXT PRIMARY KEY);
"""
ENTRIES = "topics AS t INDEXED BY topics_entry"
"""Topics' listing entries, read from the index that holds them beside the slug: the
table's rows hold each topic's whole parse, and reading a few hundred entries from them
took 0.2 s at 100,000 topics, against 5 ms."""
TABLES = (
    "meta",
    "topics",
    "authored",
    "people",
    "html",
    "pages",
    "output_folders",
    "staged_topics",
    "staged_authored",
    "search_topics",
    "search_postings",
    "search_terms",
    "scanned",
    "listed",
    "redirecting",
)


class StagedTopic(NamedTuple):
    """A topic read by this build, staged until the whole site has loaded."""

    slug: str
    signature: str
    """Of the files the topic was read from (see loader.scan)."""
    topic: CachedTopic
    plan: TopicPlan


class StagedAuthored(NamedTuple):
    """What an author wrote in a topic read by this build, staged with the topic."""

    topic: str
    author: str
    authored: Authored


class Database:
    """The connection to `cache.sqlite`, shared by the stores of a BuildCache: a worker
    process replaces it for all of them at once (see `reopen`)."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # a lost cache only costs a rebuild
            new = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None
            row = None
            if not new:
                row = conn.execute("SELECT value FROM meta WHERE key = 'key'").fetchone()
        except sqlite3.OperationalError:
            raise  # locked or unreadable: not a reason to throw the cache away
        except sqlite3.DatabaseError:  # a corrupt cache is thrown away, never trusted
            self.path.unlink(missing_ok=True)
            return self._open()
        if row is None or row[0] != self.key:
            conn.executescript("".join(f"DROP TABLE IF EXISTS {t};" for t in TABLES) + SCHEMA)
            conn.execute("INSERT INTO meta VALUES ('key', ?)", (self.key,))
        return conn

    def _connect(self) -> sqlite3.Connection:
        # Builds of a site never overlap (see locks.py), but a build's own worker
        # processes write to the cache at once: wait for each other, never give up.
        return sqlite3.connect(self.path, isolation_level=None, timeout=600)

    def reopen(self) -> None:
        """A fresh connection, for a process forked from the one that opened the cache.
        The inherited connection is kept, never closed: closing it here could make SQLite
        checkpoint and remove the WAL file that the parent process is still using."""
        self._inherited = self.conn
        self.conn = self._connect()

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


class _Store:
    """One concern of the cache, over the shared connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn


class TopicStore(_Store):
    """Parsed topics and their plans. Topics read by a build are staged as they come (so
    the build need not hold them all), and take effect only once the whole site has
    loaded without a problem."""

    def signatures(self, slugs: Collection[str] | None = None) -> dict[str, str]:
        """slug -> signature of the files the cached topic was read from, of every
        cached topic or of those among `slugs`."""
        if slugs is None:
            return dict(self.conn.execute("SELECT slug, signature FROM topics").fetchall())
        found = _lookup(self.conn, "SELECT signature FROM topics WHERE slug = ?", slugs)
        return {slug: str(signature) for slug, signature in found.items()}

    def has(self, slug: str) -> bool:
        query = "SELECT 1 FROM topics INDEXED BY topics_signature WHERE slug = ?"
        return self.conn.execute(query, (slug,)).fetchone() is not None

    def slugs(self) -> list[str]:
        """Every cached topic, by slug."""
        query = "SELECT slug FROM topics INDEXED BY topics_signature ORDER BY slug"
        return [str(slug) for (slug,) in self.conn.execute(query)]

    def data(self, slug: str) -> CachedTopic | None:
        """The cached parse of a topic (see loader.py), or None."""
        row = self.conn.execute("SELECT data FROM topics WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            return None
        return cast(CachedTopic, pickle.loads(row[0]))

    def topic(self, slug: str) -> CachedTopic:
        """The cached parse of a topic this build planned (KeyError if it is not cached)."""
        cached = self.data(slug)
        if cached is None:
            raise KeyError(slug)
        return cached

    def plan(self, slug: str) -> TopicPlan:
        row = self.conn.execute("SELECT plan FROM topics WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            raise KeyError(slug)
        return cast(TopicPlan, pickle.loads(row[0]))

    def entries(self, skip: set[str]) -> dict[str, Entry]:
        """The listing entry of every topic not in `skip`, by slug: kept as a tuple of
        plain values, which loads faster than the NamedTuple itself."""
        loads, make = pickle.loads, Entry._make  # once per topic of the forum
        return {
            slug: make(loads(entry))
            for slug, entry in self.conn.execute("SELECT slug, entry FROM topics")
            if slug not in skip
        }

    def entries_of(self, slugs: Iterable[str]) -> dict[str, Entry]:
        """The cached listing entries of those of `slugs` that are cached, by slug."""
        query = f"SELECT t.entry FROM {ENTRIES} WHERE t.slug = ?"
        found = _lookup(self.conn, query, set(slugs))
        return {slug: Entry._make(pickle.loads(blob)) for slug, blob in found.items()}

    def stage(self, topics: Iterable[StagedTopic], authored: Iterable[StagedAuthored]) -> None:
        """Stage topics and what each author wrote in them."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO staged_topics VALUES (?, ?, ?, ?, ?)",
                [
                    (t.slug, t.signature, dump(t.topic), dump(t.plan), dump(tuple(t.plan.entry)))
                    for t in topics
                ],
            )
            self.conn.executemany(
                "INSERT INTO staged_authored VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_authored_row(a) for a in authored],
            )

    def unstage(self, topics: Iterable[str]) -> None:
        rows = [(topic,) for topic in topics]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("DELETE FROM staged_topics WHERE slug = ?", rows)
            self.conn.executemany("DELETE FROM staged_authored WHERE topic = ?", rows)

    def drop_staged(self) -> None:
        self.conn.executescript("DELETE FROM staged_topics; DELETE FROM staged_authored;")

    def commit_staged(self, gone: set[str]) -> None:
        """Make the staged topics the cached ones, and forget the topics in `gone`; the
        totals of the authors who wrote in them (`people`) follow."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS touched_authors (author TEXT PRIMARY KEY)"
            )
            self.conn.execute("DELETE FROM touched_authors")
            self.conn.executemany(
                "INSERT OR IGNORE INTO touched_authors SELECT author FROM authored WHERE topic = ?",
                ((t,) for t in gone),
            )
            self.conn.execute(
                "INSERT OR IGNORE INTO touched_authors SELECT author FROM authored "
                "WHERE topic IN (SELECT slug FROM staged_topics) "
                "UNION SELECT author FROM staged_authored"
            )
            self.conn.executemany("DELETE FROM authored WHERE topic = ?", ((t,) for t in gone))
            self.conn.executemany("DELETE FROM topics WHERE slug = ?", ((t,) for t in gone))
            self.conn.execute(
                "DELETE FROM authored WHERE topic IN (SELECT slug FROM staged_topics)"
            )
            self.conn.execute("DELETE FROM topics WHERE slug IN (SELECT slug FROM staged_topics)")
            self.conn.execute("INSERT INTO topics SELECT * FROM staged_topics")
            self.conn.execute("INSERT INTO authored SELECT * FROM staged_authored")
            self._relist(gone)
            self.conn.execute("DELETE FROM staged_topics")
            self.conn.execute("DELETE FROM staged_authored")
            self.conn.execute("DELETE FROM people WHERE author IN touched_authors")
            self.conn.execute(PEOPLE_OF_TOUCHED)

    def _relist(self, gone: set[str]) -> None:
        """Bring the listings' tables (see ListingStore) in line with the topics staged
        and gone, inside commit_staged's transaction: from the staged topics' entries."""
        staged = [
            Entry._make(pickle.loads(blob))
            for (blob,) in self.conn.execute("SELECT entry FROM staged_topics")
        ]
        dropped = [(slug,) for slug in sorted(gone | {e.slug for e in staged})]
        self.conn.executemany("DELETE FROM listed WHERE slug = ?", dropped)
        self.conn.executemany("DELETE FROM redirecting WHERE slug = ?", dropped)
        self.conn.executemany(
            "INSERT INTO listed VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row for entry in staged for row in _listed_rows(entry)),
        )
        self.conn.executemany(
            "INSERT INTO redirecting VALUES (?)", ((e.slug,) for e in staged if e.redirects)
        )


PEOPLE_OF_TOUCHED = """
INSERT INTO people
SELECT total.author,
       (SELECT name FROM authored AS newest WHERE newest.author = total.author
        ORDER BY lastmod DESC, topic DESC LIMIT 1),
       total.started, total.posts, total.lastmod
FROM (SELECT author, SUM(started) AS started, SUM(started + replies) AS posts,
             MAX(lastmod) AS lastmod
      FROM authored WHERE author IN touched_authors GROUP BY author) AS total
"""
"""The index's totals of the authors in `touched_authors`, from what they wrote: an
author who wrote nowhere any more has none. Kept up to date as topics are committed, so
that listing every author reads a row each, where adding them up read every topic of
theirs (0.12 s at 10,000 topics, growing with the forum)."""


def _listed_rows(entry: Entry) -> list[tuple[object, ...]]:
    """The rows of a topic in the listings it is in (see pages.listed_in); the latest
    listing ignores the pinned flag, a category's puts pinned topics first."""
    month = entry.month[0] * 100 + entry.month[1]
    return [
        (
            base,
            entry.slug,
            int(entry.pinned and base.startswith("c/")),
            entry.last_activity,
            entry.opened,
            month,
            name,
        )
        for base, name in listed_in(entry).items()
    ]


class ListingStore(_Store):
    """Every listing's topics (latest, each category's, each tag's), in the orders its
    pages, feed and archive show them, kept by `TopicStore.commit_staged`. A build asks
    it for the first pages of a listing, its newest topics and the months of its archive
    it plans, and gets those entries alone: a build told of one reply at 100,000 topics
    loaded, grouped and counted every topic's entry (over a second), where these queries
    read an index each."""

    def size(self, base: str) -> int:
        row = self.conn.execute("SELECT count(*) FROM listed WHERE base = ?", (base,)).fetchone()
        return int(row[0])

    def top(self, base: str, count: int) -> list[Entry]:
        """The first `count` topics in the listing's order: latest activity first, then
        by slug; in a category, pinned topics first."""
        return self._entries(
            "WHERE l.base = ? ORDER BY l.pinned DESC, l.last_activity DESC, l.slug LIMIT ?",
            (base, count),
        )

    def newest(self, base: str, count: int) -> list[Entry]:
        """The `count` topics started last (the slug breaks ties), newest first."""
        return self._entries(
            "WHERE l.base = ? ORDER BY l.opened DESC, l.slug DESC LIMIT ?", (base, count)
        )

    def months(self, base: str) -> dict[Month, int]:
        """How many topics of the listing were started in each month, in month order."""
        return {
            divmod(month, 100): count
            for month, count in self.conn.execute(
                "SELECT month, count(*) FROM listed WHERE base = ? GROUP BY month ORDER BY month",
                (base,),
            )
        }

    def in_month(self, base: str, month: Month) -> list[Entry]:
        """The listing's topics started in `month`, oldest first (then by slug)."""
        return self._entries(
            "WHERE l.base = ? AND l.month = ? ORDER BY l.opened, l.slug",
            (base, month[0] * 100 + month[1]),
        )

    def opened(self, base: str) -> tuple[float, float] | None:
        """When the listing's first and last topics were started (None: it is empty)."""
        first, last = (
            self.conn.execute(
                f"SELECT {end}(opened) FROM listed WHERE base = ?", (base,)
            ).fetchone()[0]
            for end in ("min", "max")  # each one step into the index; both at once read it all
        )
        return None if first is None else (float(first), float(last))

    def counts(self, prefix: str) -> dict[str, int]:
        """The bases starting with `prefix` ('c/', 'tag/') and how many topics each lists."""
        return {
            str(base): int(count)
            for base, count in self.conn.execute(
                "SELECT base, count(*) FROM listed WHERE base > ? AND base < ? GROUP BY base",
                (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)),
            )
        }

    def tag_name(self, base: str) -> str:
        """A tag as the first topic started with it spells it ('' if none carries it):
        no reply changes it."""
        row = self.conn.execute(
            "SELECT name FROM listed WHERE base = ? ORDER BY opened, slug LIMIT 1", (base,)
        ).fetchone()
        return "" if row is None else str(row[0])

    def slugs(self, base: str) -> list[str]:
        return [
            str(s) for (s,) in self.conn.execute("SELECT slug FROM listed WHERE base = ?", (base,))
        ]

    def redirecting(self) -> list[Entry]:
        """The topics with redirect pages, by slug."""
        return [
            Entry._make(pickle.loads(blob))
            for (blob,) in self.conn.execute(
                f"SELECT t.entry FROM redirecting AS r JOIN {ENTRIES} ON t.slug = r.slug "
                "ORDER BY r.slug"
            )
        ]

    def _entries(self, where: str, args: tuple[object, ...]) -> list[Entry]:
        return [
            Entry._make(pickle.loads(blob))
            for (blob,) in self.conn.execute(
                f"SELECT t.entry FROM listed AS l JOIN {ENTRIES} ON t.slug = l.slug {where}",
                args,
            )
        ]


def _authored_row(staged: StagedAuthored) -> tuple[object, ...]:
    row = staged.authored.row
    started = int(staged.authored.started is not None)
    return (
        staged.topic,
        staged.author,
        row.digest,
        row.lastmod,
        row.name,
        started,
        len(row.posts) - started,
        dump(tuple(map(tuple, row.posts))),  # plain tuples load faster
        dump(staged.authored),
    )


class AuthoredStore(_Store):
    """What each author wrote in each topic (staged with the topics: see TopicStore)."""

    def digests(self, topics: Iterable[str]) -> dict[tuple[str, str], str]:
        """(topic, author) -> digest of what they wrote there, for the given topics."""
        found: dict[tuple[str, str], str] = {}
        for topic in topics:
            for author, digest in self.conn.execute(
                "SELECT author, digest FROM authored WHERE topic = ?", (topic,)
            ):
                found[topic, str(author)] = str(digest)
        return found

    def rows(self, author: str) -> list[AuthoredRow]:
        """What planning `author`'s pages needs of each topic they wrote in, without
        loading what they wrote."""
        return [
            AuthoredRow(
                str(topic),
                str(digest),
                float(lastmod),
                str(name),
                tuple(Wrote._make(p) for p in pickle.loads(posts)),
            )
            for topic, digest, lastmod, name, posts in self.conn.execute(
                "SELECT topic, digest, lastmod, name, posts FROM authored WHERE author = ? "
                "ORDER BY topic",
                (author,),
            )
        ]

    def authors(self) -> list[str]:
        return [str(a) for (a,) in self.conn.execute("SELECT DISTINCT author FROM authored")]

    def people(self) -> list[Person]:
        """Every author, by slug, with what the index of authors shows of them, named as
        on their newest post (the last topic's, of posts written at the same instant, as
        on their page): kept by `TopicStore.commit_staged`."""
        return list(
            map(
                Person._make,
                self.conn.execute(
                    "SELECT author, name, started, posts, lastmod FROM people ORDER BY author"
                ),
            )
        )

    def prolific(self, cap: int) -> str | None:
        """An author (the first by slug) who started more than `cap` topics or wrote more
        than `cap` replies, if any: one whose pages include an archive."""
        row = self.conn.execute(
            "SELECT author FROM authored GROUP BY author "
            "HAVING SUM(started) > ? OR SUM(replies) > ? ORDER BY author LIMIT 1",
            (cap, cap),
        ).fetchone()
        return None if row is None else str(row[0])

    def of(self, author: str, topics: Collection[str]) -> dict[str, Authored]:
        """What `author` wrote in each of `topics` (by topic): only what a page shows is
        loaded, however much they wrote."""
        found: dict[str, Authored] = {}
        wanted = sorted(topics)
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            for topic, data in self.conn.execute(
                f"SELECT topic, data FROM authored WHERE author = ? "
                f"AND topic IN ({','.join('?' * len(batch))})",
                [author, *batch],
            ):
                found[str(topic)] = cast(Authored, pickle.loads(data))
        return found


class HtmlStore(_Store):
    """Rendered Markdown, by digest of its source."""

    def get(self, digest: str) -> str | None:
        row = self.conn.execute("SELECT html FROM html WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def missing(self, digests: Iterable[str]) -> set[str]:
        """The digests whose rendered HTML is not cached."""
        wanted = set(digests)
        return wanted - self.cached(wanted)

    def cached(self, digests: Iterable[str]) -> set[str]:
        """Those of `digests` whose rendered HTML is cached (the digests, not rows: a set
        of rows never meets a set of digests)."""
        return {str(digest) for (digest,) in self._rows("digest", set(digests))}

    def of(self, digests: Iterable[str]) -> dict[str, str]:
        """Digest -> cached HTML, for those of `digests` that are cached."""
        return {str(d): str(html) for d, html in self._rows("digest, html", set(digests))}

    def _rows(self, columns: str, digests: set[str]) -> Iterator[tuple[object, ...]]:
        """Rows (of `columns`) of the html table for many digests, asked in batches: one
        query per post costs more than the lookup is worth."""
        wanted = sorted(digests)
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            yield from self.conn.execute(
                f"SELECT {columns} FROM html WHERE digest IN ({','.join('?' * len(batch))})", batch
            )

    def store(self, rows: Iterable[tuple[str, str]]) -> None:
        """Remember rendered HTML by digest; committed at once, so a build that dies later
        keeps it."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO html VALUES (?, ?)", rows)


class PageStore(_Store):
    """What the last build wrote to each output file, from what, and which sitemap file
    lists it: a build told what changed reads the records of what it plans again, by
    owner, and the pages of the sitemap parts it writes again, never all of them."""

    def files(self, output: Path) -> list[str]:
        """The files the last build into `output` wrote: all a no-change build needs, and
        much cheaper than their records on a forum of tens of thousands of files."""
        if self.db.meta("output") != str(output):
            return []
        return [str(file) for (file,) in self.conn.execute("SELECT file FROM pages")]

    def folders(self, output: Path) -> dict[str, int]:
        """The folders of the files the last build into `output` wrote, with their
        mtimes (in ns) when it ended: -1 for one it could not vouch for (see
        `store_folders`)."""
        if self.db.meta("output") != str(output):
            return {}
        return dict(self.conn.execute("SELECT folder, mtime FROM output_folders").fetchall())

    def unvouched(self) -> list[str]:
        """The folders recorded without an mtime to trust."""
        query = "SELECT folder FROM output_folders WHERE mtime < 0"
        return [str(folder) for (folder,) in self.conn.execute(query)]

    def store_folders(self, mtimes: dict[str, int | None], *, whole: bool) -> None:
        """Record the mtimes of output folders (None: the folder is gone); `whole`: these
        are all the folders of the output's files."""
        with self.conn:
            self.conn.execute("BEGIN")
            if whole:
                self.conn.execute("DELETE FROM output_folders")
            self.conn.executemany(
                "DELETE FROM output_folders WHERE folder = ?",
                [(f,) for f, m in mtimes.items() if m is None],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO output_folders VALUES (?, ?)",
                [(f, m) for f, m in mtimes.items() if m is not None],
            )

    def known(self, output: Path) -> bool:
        """Whether the last build into `output` left records."""
        if self.db.meta("output") != str(output):
            return False
        return self.conn.execute("SELECT 1 FROM pages LIMIT 1").fetchone() is not None

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM pages").fetchone()[0])

    def records(self, output: Path) -> dict[str, PageRecord]:
        """What the last build into `output` wrote (nothing known for another folder)."""
        if self.db.meta("output") != str(output):
            return {}
        return _records(self.conn.execute(f"SELECT {_RECORD} FROM pages"))

    def owned(self, owners: Iterable[Owner], kinds: Iterable[str] = ()) -> dict[str, PageRecord]:
        """The records of the files of `owners`, and of every owner whose text starts
        with one of `kinds` (see owner.Kind)."""
        found = self._batched("owner", {o.text for o in owners})
        for prefix in kinds:  # the owners in the range of texts starting with the prefix
            found.update(
                _records(
                    self.conn.execute(
                        f"SELECT {_RECORD} FROM pages WHERE owner >= ? AND owner < ?",
                        (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)),
                    )
                )
            )
        return found

    def of_files(self, files: Iterable[str]) -> dict[str, PageRecord]:
        """The records of those of `files` the last build wrote."""
        return self._batched("file", set(files))

    def _batched(self, column: str, values: set[str]) -> dict[str, PageRecord]:
        """The records whose `column` is one of `values`, asked in batches."""
        found: dict[str, PageRecord] = {}
        wanted = sorted(values)
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            marks = ",".join("?" * len(batch))
            query = f"SELECT {_RECORD} FROM pages WHERE {column} IN ({marks})"
            found.update(_records(self.conn.execute(query, batch)))
        return found

    def listed(self, parts: Collection[str] | None = None) -> dict[str, Listed]:
        """File -> path and lastmod of the pages a sitemap lists: those of some parts of
        it, or all of them."""
        if parts is None:
            rows = self.conn.execute(
                "SELECT file, path, lastmod FROM pages WHERE lastmod IS NOT NULL"
            )
        else:
            names = sorted(parts)
            marks = ",".join("?" * len(names))
            rows = self.conn.execute(
                f"SELECT file, path, lastmod FROM pages WHERE part IN ({marks})", names
            )
        return {str(file): Listed(str(path), float(stamp)) for file, path, stamp in rows}

    def newest(self, part: str) -> float | None:
        """The newest lastmod of the pages a sitemap part lists (None: it lists none)."""
        row = self.conn.execute("SELECT MAX(lastmod) FROM pages WHERE part = ?", (part,)).fetchone()
        return None if row[0] is None else float(row[0])

    def counts(self) -> dict[str, int] | None:
        """How many pages of each kind the sitemap listed after the last build (see
        pages.sitemap_kind), or None if unknown."""
        text = self.db.meta("sitemap_counts")
        return None if not text else cast(dict[str, int], json.loads(text))

    def store(
        self,
        output: Path,
        current: dict[str, PageRecord],
        previous: dict[str, PageRecord],
        counts: dict[str, int],
        *,
        whole: bool,
    ) -> None:
        """Record what a build wrote: `current`, what it planned, replaces `previous`,
        what the last build wrote of the same (all it wrote when `whole`); each listed
        page with its sitemap part for `counts`, the pages listed of each kind. When the
        split of the sitemap changes, the part of each page of the parts it changes is
        set again (of every page, if it goes to or from one sitemap.xml)."""
        before = self.counts()
        layout = sitemap_layout(counts)
        moved = None if before is None else sitemap_moved(sitemap_layout(before), layout)
        with self.conn:
            self.conn.execute("BEGIN")
            if whole and not previous:
                self.conn.execute("DELETE FROM pages")
            self.db.set_meta("output", str(output))
            self.conn.executemany(
                "DELETE FROM pages WHERE file = ?", [(f,) for f in previous if f not in current]
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (f, r.path, r.fingerprint, r.lastmod, r.owner.text, _part(r, layout))
                    for f, r in current.items()
                    if previous.get(f) != r
                ],
            )
            if moved is None or moved:
                self._part_again(layout, moved)
            self.db.set_meta("sitemap_counts", json.dumps(counts, sort_keys=True))

    def _part_again(self, layout: Layout, moved: Collection[str] | None) -> None:
        """Set again the part of each listed page of the `moved` parts (or of all)."""
        self.conn.create_function(
            "sitemap_part", 1, partial(sitemap_part, layout=layout), deterministic=True
        )
        if moved is None:
            self.conn.execute(
                "UPDATE pages SET part = sitemap_part(path) WHERE lastmod IS NOT NULL"
            )
            return
        names = sorted(moved)
        marks = ",".join("?" * len(names))
        self.conn.execute(
            f"UPDATE pages SET part = sitemap_part(path) WHERE part IN ({marks})", names
        )


_RECORD = "file, path, fingerprint, lastmod, owner"


def _records(rows: Iterable[tuple[str, str, str, float | None, str]]) -> dict[str, PageRecord]:
    owners: dict[str, Owner] = {}  # a topic owns several files: parse each once
    records = {}
    for file, path, fingerprint, lastmod, text in rows:
        owner = owners.get(text)
        if owner is None:
            owner = owners[text] = Owner.parse(text)
        records[str(file)] = PageRecord(path, fingerprint, lastmod, owner)
    return records


def _part(record: PageRecord, layout: Layout) -> str | None:
    return None if record.lastmod is None else sitemap_part(record.path, layout)


class ScanStore(_Store):
    """The topic folders the last build into an output scanned, with their signatures: a
    build told which files changed stats only their folders and takes the rest from here.
    Trusted only for the output named by the `scan` meta key, which a build clears when
    it starts changing things and sets when it ends."""

    def signature(self, output: Path) -> str | None:
        """The signature of the last scan (see loader.Scan), or None if no finished
        build into `output` left one."""
        if self.db.meta("scan") != str(output):
            return None
        return self.db.meta("scan_signature")

    def folders(self, names: Collection[str] | None = None) -> dict[str, str]:
        """Folder name -> signature in the last scan: of every folder, or of those of
        `names` it found."""
        if names is None:
            return dict(self.conn.execute("SELECT folder, signature FROM scanned").fetchall())
        found = _lookup(self.conn, "SELECT signature FROM scanned WHERE folder = ?", names)
        return {name: str(signature) for name, signature in found.items()}

    def clashing(self, names: Collection[str]) -> bool:
        """Whether a folder of the last scan not among `names` has a name that differs
        from one of them only in case (see loader.distinct_folders)."""
        return any(
            folder not in names
            for name in names
            for (folder,) in self.conn.execute(
                "SELECT folder FROM scanned WHERE key = ?", (name.casefold(),)
            )
        )

    def forget(self) -> None:
        """The stored scan is no longer the state of the files (a build is under way)."""
        self.db.set_meta("scan", "")

    def trust(self, output: Path) -> None:
        """The stored scan is again the state of the files, for `output` (a build found
        nothing changed since the one that stored it)."""
        self.db.set_meta("scan", str(output))

    def store(self, output: Path, scanned: Scan, only: Collection[str] | None) -> None:
        """Keep the scan of a build into `output`: all of it, or only the folders in
        `only` (those a partial scan looked at again)."""
        rows = [
            (name, sig, name.casefold())
            for name, sig in scanned.folders
            if only is None or name in only
        ]
        with self.conn:
            self.conn.execute("BEGIN")
            if only is None:
                self.conn.execute("DELETE FROM scanned")
            else:
                self.conn.executemany("DELETE FROM scanned WHERE folder = ?", [(n,) for n in only])
            self.conn.executemany("INSERT INTO scanned VALUES (?, ?, ?)", rows)
            self.db.set_meta("scan", str(output))
            self.db.set_meta("scan_signature", scanned.signature)


Encoded = dict[str, str]
"""Term -> a topic's encoded postings of the term, or topic -> a term's (see search.py)."""


ENTRY_BYTES = "search_entry_bytes"
"""The meta key of the running total of `SearchStore.entry_bytes`."""


class SearchStore(_Store):
    """The search index (searchindex.py): each topic's postings by term, kept by group of
    terms (the index writes every term one group at a time), and each term's postings by
    topic with its entry in its shard."""

    def clear(self) -> None:
        self.conn.executescript(
            "DELETE FROM search_topics; DELETE FROM search_postings; DELETE FROM search_terms;"
            f"DELETE FROM meta WHERE key = '{ENTRY_BYTES}';"
        )

    def topic_ids(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT slug, tid FROM search_topics").fetchall())

    def ids_of(self, slugs: Collection[str]) -> dict[str, int]:
        """The ids of those of `slugs` the index holds."""
        return _lookup(self.conn, "SELECT tid FROM search_topics WHERE slug = ?", slugs)

    def store_topics(self, rows: Iterable[tuple[str, int, int, Sequence[Encoded]]]) -> None:
        """(slug, topic id, number of posts, postings by term in each group of terms) of
        indexed topics."""
        rows = list(rows)
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT OR REPLACE INTO search_topics VALUES (?, ?, ?)",
                [(slug, tid, posts) for slug, tid, posts, _ in rows],
            )
            self.conn.executemany(
                "DELETE FROM search_postings WHERE slug = ?", [(row[0],) for row in rows]
            )
            self.conn.executemany(
                "INSERT INTO search_postings VALUES (?, ?, ?)",
                [
                    (slug, group, dump(postings))
                    for slug, _, _, groups in rows
                    for group, postings in enumerate(groups)
                    if postings
                ],
            )

    def forget_topics(self, slugs: Iterable[str]) -> None:
        rows = [(s,) for s in slugs]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("DELETE FROM search_topics WHERE slug = ?", rows)
            self.conn.executemany("DELETE FROM search_postings WHERE slug = ?", rows)

    def postings(self, slugs: Iterable[str]) -> dict[str, Encoded]:
        """Topic -> term -> encoded postings, for those of `slugs` that are indexed."""
        found: dict[str, Encoded] = {}
        for slug in slugs:
            if self.conn.execute("SELECT 1 FROM search_topics WHERE slug = ?", (slug,)).fetchone():
                found[slug] = {}
            for (postings,) in self.conn.execute(
                "SELECT postings FROM search_postings WHERE slug = ?", (slug,)
            ):
                found[slug].update(cast(Encoded, pickle.loads(postings)))
        return found

    def group_postings(self, group: int) -> Iterator[tuple[str, Encoded]]:
        """Topic -> its postings of the terms of `group`, for every topic holding any."""
        for slug, postings in self.conn.execute(
            "SELECT slug, postings FROM search_postings WHERE term_group = ?", (group,)
        ):
            yield str(slug), cast(Encoded, pickle.loads(postings))

    def doc_count(self) -> int:
        return int(
            self.conn.execute("SELECT COALESCE(SUM(posts), 0) FROM search_topics").fetchone()[0]
        )

    def term(self, term: str) -> Encoded:
        """Topic -> the term's encoded postings there."""
        row = self.conn.execute(
            "SELECT postings FROM search_terms WHERE term = ?", (term,)
        ).fetchone()
        if row is None:
            return {}
        return dict(cast(Encoded, pickle.loads(row[0])))

    def store_terms(self, rows: Iterable[tuple[str, int, Encoded]]) -> None:
        """(term, hash, postings by topic); its shard entry is set apart."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO search_terms VALUES (?, ?, ?, NULL) ON CONFLICT (term) "
                "DO UPDATE SET postings = excluded.postings",
                [(term, h, dump(postings)) for term, h, postings in rows],
            )

    def store_entries(self, rows: Iterable[tuple[str, str | None]]) -> None:
        """Each term's entry in its shard (JSON); None: the term is gone. The total of
        `entry_bytes`, when kept, moves by what these entries add or take away, in the
        same transaction. The index written whole stores its entries from parallel
        workers while no total is kept: the transaction starts as a writer, so that
        reading the meta key first cannot make it fail on a snapshot another worker
        made stale."""
        rows = list(rows)
        terms = [term for term, _ in rows]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            kept = self.db.meta(ENTRY_BYTES) is not None
            before = self._entry_bytes(terms) if kept else 0
            self.conn.executemany(
                "DELETE FROM search_terms WHERE term = ?",
                [(term,) for term, entry in rows if entry is None],
            )
            self.conn.executemany(
                "UPDATE search_terms SET entry = ? WHERE term = ?",
                [(entry, term) for term, entry in rows if entry is not None],
            )
            if kept:
                self.conn.execute(
                    "UPDATE meta SET value = value + ? WHERE key = ?",
                    (self._entry_bytes(terms) - before, ENTRY_BYTES),
                )

    def entries(self, low: int, high: int) -> list[tuple[str, str]]:
        """(term, entry) of the terms whose hash is in [low, high], by term."""
        return [
            (str(term), str(entry))
            for term, entry in self.conn.execute(
                "SELECT term, entry FROM search_terms WHERE h BETWEEN ? AND ? AND entry IS NOT "
                "NULL ORDER BY term",
                (low, high),
            )
        ]

    def words(self, low: str, high: str) -> list[tuple[str, int]]:
        """(term, number of posts) of the terms in [low, high) that are one word (their
        entry starts with that number), by term: the words listed for completion."""
        return [
            (str(term), int(df))
            for term, df in self.conn.execute(
                "SELECT term, CAST(substr(entry, 2) AS INTEGER) FROM search_terms "
                "WHERE term >= ? AND term < ? AND entry IS NOT NULL AND instr(term, ' ') = 0 "
                "ORDER BY term",
                (low, high),
            )
        ]

    def entry_bytes(self) -> int:
        """What the shards weigh, about: the characters of every term and entry, plus 4
        each. Kept as a running total (see `store_entries`), computed over every term
        only when unknown (the index was written whole, or by an older forumgen): the
        entries sit past each term's postings, so the sum reads the whole table."""
        kept = self.db.meta(ENTRY_BYTES)
        if kept is not None:
            return int(kept)
        total = self._entry_bytes(None)
        self.db.set_meta(ENTRY_BYTES, str(total))
        return total

    def _entry_bytes(self, terms: Sequence[str] | None) -> int:
        """The sum of `entry_bytes` over `terms` (None: every term)."""
        sql = "SELECT COALESCE(SUM(LENGTH(term) + LENGTH(entry) + 4), 0) FROM search_terms"
        if terms is None:
            return int(self.conn.execute(sql).fetchone()[0])
        total = 0
        for start in range(0, len(terms), 500):
            batch = terms[start : start + 500]
            query = f"{sql} WHERE term IN ({','.join('?' * len(batch))})"
            total += int(self.conn.execute(query, batch).fetchone()[0])
        return total


class BuildCache:
    """The build cache of one output folder: one store per concern, one connection."""

    def __init__(self, folder: Path, key: str) -> None:
        """The cache in `folder`: the state folder of the output being built."""
        folder.mkdir(parents=True, exist_ok=True)
        self.db = Database(folder / "cache.sqlite", key)
        self.topics = TopicStore(self.db)
        self.authored = AuthoredStore(self.db)
        self.html = HtmlStore(self.db)
        self.pages = PageStore(self.db)
        self.search = SearchStore(self.db)
        self.scanned = ScanStore(self.db)
        self.listings = ListingStore(self.db)

    def reopen(self) -> None:
        """A fresh connection for every store, in a forked worker (see Database.reopen)."""
        self.db.reopen()

    def close(self) -> None:
        self.db.close()

    def meta(self, key: str) -> str | None:
        return self.db.meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db.set_meta(key, value)


def _lookup(conn: sqlite3.Connection, query: str, keys: Collection[str]) -> dict[str, Any]:
    """key -> the value `query` finds for it, for those of `keys` it finds one for: one
    lookup by primary key each, for a build that asks of a few keys among many."""
    found = {}
    for key in sorted(keys):
        row = conn.execute(query, (key,)).fetchone()
        if row is not None:
            found[key] = row[0]
    return found


def dump(data: object) -> bytes:
    return pickle.dumps(data, pickle.HIGHEST_PROTOCOL)
