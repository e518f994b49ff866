"""The persistent build cache in `.forumgen/cache.sqlite` (the preview of `forumgen serve`
has its own, in `.forumgen/preview/`: see locks.output_state_dir).

It remembers five things so a build costs what changed, not what exists:
- parsed topics and their plans (pages.TopicPlan), keyed by the name, mtime and size of
  every file in the topic's folder (an unchanged topic is neither read nor planned again);
- what each author wrote in each topic, for author pages;
- rendered Markdown, keyed by a hash of the source (and of the rendering settings);
- the search index: each topic's terms and each term's postings by topic (searchindex.py);
- for every output file, a fingerprint of everything it was rendered from (a page whose
  inputs did not change is not rendered again) and its owner (what it is planned from).

Everything in it can be recomputed: it is dropped whole when forumgen's version or the
Markdown settings change, and deleting the file is always safe.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .loader import CachedTopic
from .pages import Authored, AuthoredRow, Entry, TopicPlan

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE topics (slug TEXT PRIMARY KEY, signature TEXT NOT NULL, data BLOB NOT NULL,
                     plan BLOB NOT NULL, entry BLOB NOT NULL);
CREATE TABLE authored (topic TEXT NOT NULL, author TEXT NOT NULL, digest TEXT NOT NULL,
                       lastmod REAL NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
                       PRIMARY KEY (topic, author));
CREATE INDEX authored_by ON authored (author);
CREATE TABLE html (digest TEXT PRIMARY KEY, html TEXT NOT NULL);
CREATE TABLE pages (file TEXT PRIMARY KEY, path TEXT NOT NULL, fingerprint TEXT NOT NULL,
                    lastmod REAL, owner TEXT NOT NULL);
CREATE TABLE staged_topics AS SELECT * FROM topics WHERE 0;
CREATE TABLE staged_authored AS SELECT * FROM authored WHERE 0;
CREATE TABLE search_topics (slug TEXT PRIMARY KEY, tid INTEGER NOT NULL,
                            posts INTEGER NOT NULL, postings BLOB NOT NULL);
CREATE TABLE search_terms (term TEXT PRIMARY KEY, h INTEGER NOT NULL, postings BLOB NOT NULL,
                           entry TEXT);
CREATE INDEX search_terms_by_hash ON search_terms (h);
"""
TABLES = (
    "meta",
    "topics",
    "authored",
    "html",
    "pages",
    "staged_topics",
    "staged_authored",
    "search_topics",
    "search_terms",
)


@dataclass(frozen=True)
class PageRecord:
    """What the last build wrote to one output file, and from what."""

    path: str
    fingerprint: str
    lastmod: float | None
    owner: str


class BuildCache:
    def __init__(self, folder: Path, key: str) -> None:
        """The cache in `folder`: the state folder of the output being built."""
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "cache.sqlite"
        self.key = key
        self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # a lost cache only costs a rebuild
            new = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None
            row = (
                None if new else conn.execute("SELECT value FROM meta WHERE key = 'key'").fetchone()
            )
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

    # Topics ------------------------------------------------------------------------

    def topic_signatures(self) -> dict[str, str]:
        """slug -> signature of the files the cached topic was read from."""
        return dict(self.conn.execute("SELECT slug, signature FROM topics"))

    def topic_data(self, slug: str) -> CachedTopic | None:
        """The cached parse of a topic (see loader.py), or None."""
        row = self.conn.execute("SELECT data FROM topics WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            return None
        cached: CachedTopic = pickle.loads(row[0])
        return cached

    def topic(self, slug: str) -> CachedTopic:
        """The cached parse of a topic this build planned (KeyError if it is not cached)."""
        cached = self.topic_data(slug)
        if cached is None:
            raise KeyError(slug)
        return cached

    def plan(self, slug: str) -> TopicPlan:
        row = self.conn.execute("SELECT plan FROM topics WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            raise KeyError(slug)
        plan: TopicPlan = pickle.loads(row[0])
        return plan

    def entries(self, skip: set[str]) -> Iterator[Entry]:
        """The listing entry of every topic not in `skip`: kept as a tuple of plain values,
        which loads faster than the NamedTuple itself."""
        for slug, entry in self.conn.execute("SELECT slug, entry FROM topics"):
            if slug not in skip:
                yield Entry._make(pickle.loads(entry))

    # Topics read by a build are staged as they come (so the build need not hold them
    # all), and take effect only once the whole site has loaded without a problem.

    def stage(
        self,
        topics: Iterable[tuple[str, str, bytes, bytes, bytes]],
        authored: Iterable[tuple[str, str, str, float, str, bytes]],
    ) -> None:
        """Stage topics (slug, signature, and their data, plan and entry pickled with
        `dump`) and what each author wrote in them (topic, author, digest, lastmod, name,
        pickled data)."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO staged_topics VALUES (?, ?, ?, ?, ?)", topics)
            self.conn.executemany("INSERT INTO staged_authored VALUES (?, ?, ?, ?, ?, ?)", authored)

    def unstage(self, topics: Iterable[str]) -> None:
        rows = [(topic,) for topic in topics]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("DELETE FROM staged_topics WHERE slug = ?", rows)
            self.conn.executemany("DELETE FROM staged_authored WHERE topic = ?", rows)

    def drop_staged(self) -> None:
        self.conn.executescript("DELETE FROM staged_topics; DELETE FROM staged_authored;")

    def commit_staged(self, gone: set[str]) -> None:
        """Make the staged topics the cached ones, and forget the topics in `gone`."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("DELETE FROM authored WHERE topic = ?", ((t,) for t in gone))
            self.conn.executemany("DELETE FROM topics WHERE slug = ?", ((t,) for t in gone))
            self.conn.execute(
                "DELETE FROM authored WHERE topic IN (SELECT slug FROM staged_topics)"
            )
            self.conn.execute("DELETE FROM topics WHERE slug IN (SELECT slug FROM staged_topics)")
            self.conn.execute("INSERT INTO topics SELECT * FROM staged_topics")
            self.conn.execute("INSERT INTO authored SELECT * FROM staged_authored")
            self.conn.execute("DELETE FROM staged_topics")
            self.conn.execute("DELETE FROM staged_authored")

    # What each author wrote in each topic --------------------------------------------

    def authored_digests(self, topics: Iterable[str]) -> dict[tuple[str, str], str]:
        """(topic, author) -> digest of what they wrote there, for the given topics."""
        found: dict[tuple[str, str], str] = {}
        for topic in topics:
            for author, digest in self.conn.execute(
                "SELECT author, digest FROM authored WHERE topic = ?", (topic,)
            ):
                found[topic, author] = digest
        return found

    def authored_rows(self, author: str) -> list[AuthoredRow]:
        """What planning `author`'s page needs of each topic they wrote in, without loading
        what they wrote."""
        return [
            AuthoredRow._make(row)
            for row in self.conn.execute(
                "SELECT topic, digest, lastmod, name FROM authored WHERE author = ? ORDER BY topic",
                (author,),
            )
        ]

    def authors(self) -> list[str]:
        return [a for (a,) in self.conn.execute("SELECT DISTINCT author FROM authored")]

    def authored(self, author: str) -> list[Authored]:
        """What `author` wrote, by topic."""
        their: list[Authored] = [
            pickle.loads(data)
            for (data,) in self.conn.execute(
                "SELECT data FROM authored WHERE author = ? ORDER BY topic", (author,)
            )
        ]
        return their

    # Rendered Markdown ---------------------------------------------------------------

    def html(self, digest: str) -> str | None:
        row = self.conn.execute("SELECT html FROM html WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def missing_html(self, digests: Iterable[str]) -> set[str]:
        """The digests whose rendered HTML is not cached."""
        wanted = set(digests)
        return wanted - self._cached(wanted)

    def _cached(self, digests: set[str]) -> set[str]:
        """Those of `digests` whose rendered HTML is cached (the digests, not rows: a set
        of rows never meets a set of digests)."""
        return {digest for (digest,) in self._in_html("digest", digests)}

    def html_of(self, digests: Iterable[str]) -> dict[str, str]:
        """Digest -> cached HTML, for those of `digests` that are cached."""
        return {digest: html for digest, html in self._in_html("digest, html", set(digests))}

    def _in_html(self, columns: str, digests: set[str]) -> Iterator[tuple[str, ...]]:
        """Rows (of `columns`, all text) of the html table for many digests, asked in
        batches: one query per post costs more than the lookup is worth."""
        wanted = sorted(digests)
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            yield from self.conn.execute(
                f"SELECT {columns} FROM html WHERE digest IN ({','.join('?' * len(batch))})", batch
            )

    def store_html(self, rows: Iterable[tuple[str, str]]) -> None:
        """Remember rendered HTML by digest; committed at once, so a build that dies later
        keeps it."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO html VALUES (?, ?)", rows)

    # Pages ---------------------------------------------------------------------------

    def page_files(self, output: Path) -> list[str]:
        """The files the last build into `output` wrote: all a no-change build needs, and
        much cheaper than their records on a forum of tens of thousands of files."""
        if self.meta("output") != str(output):
            return []
        return [file for (file,) in self.conn.execute("SELECT file FROM pages")]

    def pages(self, output: Path) -> dict[str, PageRecord]:
        """What the last build into `output` wrote (nothing known for another folder)."""
        if self.meta("output") != str(output):
            return {}
        return {
            file: PageRecord(*rest)
            for file, *rest in self.conn.execute(
                "SELECT file, path, fingerprint, lastmod, owner FROM pages"
            )
        }

    def store_pages(
        self, output: Path, current: dict[str, PageRecord], previous: dict[str, PageRecord]
    ) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            if not previous:
                self.conn.execute("DELETE FROM pages")
            self.set_meta("output", str(output))
            self.conn.executemany(
                "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?)",
                [
                    (f, r.path, r.fingerprint, r.lastmod, r.owner)
                    for f, r in current.items()
                    if previous.get(f) != r
                ],
            )
            self.conn.executemany(
                "DELETE FROM pages WHERE file = ?", [(f,) for f in previous if f not in current]
            )

    # The search index (searchindex.py) ------------------------------------------------

    def clear_search(self) -> None:
        self.conn.executescript("DELETE FROM search_topics; DELETE FROM search_terms;")

    def search_topic_ids(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT slug, tid FROM search_topics"))

    def store_search_topics(self, rows: Iterable[tuple[str, int, int, bytes]]) -> None:
        """(slug, topic id, number of posts, pickled postings by term) of indexed topics."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO search_topics VALUES (?, ?, ?, ?)", rows)

    def forget_search_topics(self, slugs: Iterable[str]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("DELETE FROM search_topics WHERE slug = ?", [(s,) for s in slugs])

    def search_postings(self, slugs: Iterable[str]) -> dict[str, dict[str, str]]:
        """Topic -> term -> encoded postings, for those of `slugs` that are indexed."""
        found = {}
        for slug in slugs:
            row = self.conn.execute(
                "SELECT postings FROM search_topics WHERE slug = ?", (slug,)
            ).fetchone()
            if row is not None:
                found[slug] = pickle.loads(row[0])
        return found

    def all_search_postings(self) -> Iterator[tuple[str, dict[str, str]]]:
        for slug, postings in self.conn.execute("SELECT slug, postings FROM search_topics"):
            yield slug, pickle.loads(postings)

    def search_doc_count(self) -> int:
        return int(
            self.conn.execute("SELECT COALESCE(SUM(posts), 0) FROM search_topics").fetchone()[0]
        )

    def search_term(self, term: str) -> dict[str, str]:
        """Topic -> the term's encoded postings there."""
        row = self.conn.execute(
            "SELECT postings FROM search_terms WHERE term = ?", (term,)
        ).fetchone()
        return {} if row is None else dict(pickle.loads(row[0]))

    def store_search_terms(self, rows: Iterable[tuple[str, int, bytes]]) -> None:
        """(term, hash, pickled postings by topic); its shard entry is set apart."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO search_terms VALUES (?, ?, ?, NULL) ON CONFLICT (term) "
                "DO UPDATE SET postings = excluded.postings",
                rows,
            )

    def store_search_entries(self, rows: Iterable[tuple[str, str | None]]) -> None:
        """Each term's entry in its shard (JSON); None: the term is gone."""
        with self.conn:
            self.conn.execute("BEGIN")
            for term, entry in rows:
                if entry is None:
                    self.conn.execute("DELETE FROM search_terms WHERE term = ?", (term,))
                else:
                    self.conn.execute(
                        "UPDATE search_terms SET entry = ? WHERE term = ?", (entry, term)
                    )

    def search_entries(self, low: int, high: int) -> list[tuple[str, str]]:
        """(term, entry) of the terms whose hash is in [low, high], by term."""
        return list(
            self.conn.execute(
                "SELECT term, entry FROM search_terms WHERE h BETWEEN ? AND ? AND entry IS NOT "
                "NULL ORDER BY term",
                (low, high),
            )
        )

    def search_entry_bytes(self) -> int:
        return int(
            self.conn.execute(
                "SELECT COALESCE(SUM(LENGTH(term) + LENGTH(entry) + 4), 0) FROM search_terms"
            ).fetchone()[0]
        )


def dump(data: object) -> bytes:
    return pickle.dumps(data, pickle.HIGHEST_PROTOCOL)
