"""The persistent build cache in `.forumgen/cache.sqlite`.

It remembers three things so a build costs what changed, not what exists:
- parsed topics, keyed by the name, mtime and size of every file in the topic's folder
  (an unchanged forum is not re-read);
- rendered Markdown, keyed by a hash of the source (and of the rendering settings);
- for every output file, a fingerprint of everything it was rendered from (a page whose
  inputs did not change is not rendered again).

Everything in it can be recomputed: it is dropped whole when forumgen's version or the
Markdown settings change, and deleting the file is always safe.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .locks import state_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topics (slug TEXT PRIMARY KEY, signature TEXT NOT NULL,
                                   data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS html (digest TEXT PRIMARY KEY, html TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (file TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
"""


class BuildCache:
    def __init__(self, site_dir: Path, key: str) -> None:
        self.path = state_dir(site_dir) / "cache.sqlite"
        self.key = key
        self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # a lost cache only costs a rebuild
            conn.executescript(SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'key'").fetchone()
        except sqlite3.DatabaseError:  # a corrupt cache is thrown away, never trusted
            self.path.unlink(missing_ok=True)
            return self._open()
        if row is None or row[0] != self.key:
            conn.executescript("DELETE FROM topics; DELETE FROM html; DELETE FROM pages;")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('key', ?)", (self.key,))
        return conn

    def reopen(self) -> None:
        """A fresh connection, for a process forked from the one that opened the cache.
        The inherited connection is kept, never closed: closing it here could make SQLite
        checkpoint and remove the WAL file that the parent process is still using."""
        self._inherited = self.conn
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # Topics ------------------------------------------------------------------------

    def topics(self) -> dict[str, tuple[str, bytes]]:
        """slug -> (signature, pickled data) for every cached topic."""
        return {slug: (sig, data) for slug, sig, data in
                self.conn.execute("SELECT slug, signature, data FROM topics")}

    def store_topics(self, rows: Iterable[tuple[str, str, Any]], keep: set[str]) -> None:
        """Save changed topics and forget those that no longer exist."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT OR REPLACE INTO topics VALUES (?, ?, ?)",
                ((slug, sig, pickle.dumps(data, pickle.HIGHEST_PROTOCOL))
                 for slug, sig, data in rows))
            gone = [(s,) for (s,) in self.conn.execute("SELECT slug FROM topics") if s not in keep]
            self.conn.executemany("DELETE FROM topics WHERE slug = ?", gone)

    # Rendered Markdown ---------------------------------------------------------------

    def html(self, digest: str) -> str | None:
        row = self.conn.execute("SELECT html FROM html WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def store_html(self, rows: Iterable[tuple[str, str]]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO html VALUES (?, ?)", rows)

    # Page fingerprints ---------------------------------------------------------------

    def fingerprints(self, output: Path) -> dict[str, str]:
        """What the last build into `output` wrote (nothing known for another folder)."""
        if self.meta("output") != str(output):
            return {}
        return dict(self.conn.execute("SELECT file, fingerprint FROM pages"))

    def store_fingerprints(self, output: Path, current: dict[str, str],
                           previous: dict[str, str]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            if not previous:
                self.conn.execute("DELETE FROM pages")
            self.set_meta("output", str(output))
            self.conn.executemany("INSERT OR REPLACE INTO pages VALUES (?, ?)",
                                  [(f, p) for f, p in current.items() if previous.get(f) != p])
            self.conn.executemany("DELETE FROM pages WHERE file = ?",
                                  [(f,) for f in previous if f not in current])
