"""Per-address rate limits and duplicate detection that hold across every worker process.

State lives in SQLite under `.forumgen/`: gunicorn workers are separate processes, so a
counter in memory would let each of them allow the full rate. SQLite gives the
cross-process locking for free; the data is disposable, so it is written without fsync.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """'5/minute' -> (5, 60)."""
    match = re.fullmatch(r"(\d+)/(second|minute|hour|day)", text)
    if not match:
        raise ValueError(f"bad rate {text!r}")
    return int(match.group(1)), _UNITS[match.group(2)]


class _Shared:
    """A SQLite database every worker process uses: one connection per process (gunicorn
    may fork after the app is created, and a connection must never cross a fork), and a
    lock for the threads of one process."""

    def __init__(self, db: Path, schema: str) -> None:
        self.db = db
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        conn = self._connect()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._conn = sqlite3.connect(
                self.db, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA synchronous=OFF")
            self._pid = os.getpid()
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


class RateLimiter:
    def __init__(self, db: Path, rate: str) -> None:
        self.limit, self.window = parse_rate(rate)
        self.shared = _Shared(
            db,
            "CREATE TABLE IF NOT EXISTS hits (address TEXT NOT NULL, "
            "at REAL NOT NULL); CREATE INDEX IF NOT EXISTS "
            "hits_by_address ON hits (address, at);",
        )

    def hit(self, address: str, now: float | None = None) -> float | None:
        """Count one post from `address`: None if allowed, else seconds until it would be."""
        now = time.time() if now is None else now
        with self.shared.transaction() as conn:
            conn.execute(
                "DELETE FROM hits WHERE address = ? AND at <= ?", (address, now - self.window)
            )
            count, oldest = conn.execute(
                "SELECT COUNT(*), MIN(at) FROM hits WHERE address = ?", (address,)
            ).fetchone()
            allowed = count < self.limit
            if allowed:
                conn.execute("INSERT INTO hits (address, at) VALUES (?, ?)", (address, now))
        if allowed:
            return None
        return max(0.0, float(oldest) + self.window - now)


class Duplicates:
    """The posts accepted in the last `window` seconds, by a hash of what they say, so a
    post submitted twice (a double click, a retried request) is stored once and the
    repeat gets the answer of the first."""

    WAIT = 10.0  # how long a repeat waits for the first copy to be stored

    def __init__(self, db: Path, window: float = 60) -> None:
        self.window = window
        self.shared = _Shared(
            db,
            "CREATE TABLE IF NOT EXISTS recent (key TEXT PRIMARY KEY, "
            "at REAL NOT NULL, topic TEXT NOT NULL, post TEXT NOT NULL);",
        )

    def claim(self, key: str) -> tuple[str, str] | None:
        """None if this is the first copy (store it, then call `stored` or `release`), else
        (topic, post id) of the first copy, once stored."""
        deadline = time.monotonic() + self.WAIT
        while True:
            now = time.time()
            with self.shared.transaction() as conn:
                conn.execute("DELETE FROM recent WHERE at <= ?", (now - self.window,))
                row = conn.execute(
                    "SELECT topic, post FROM recent WHERE key = ?", (key,)
                ).fetchone()
                if row is None:
                    conn.execute("INSERT INTO recent VALUES (?, ?, '', '')", (key, now))
            if row is None:
                return None
            if row[1]:
                return row[0], row[1]
            if time.monotonic() > deadline:  # the worker storing the first copy died
                return None
            time.sleep(0.05)

    def stored(self, key: str, topic: str, post: str) -> None:
        with self.shared.transaction() as conn:
            conn.execute("UPDATE recent SET topic = ?, post = ? WHERE key = ?", (topic, post, key))

    def release(self, key: str) -> None:
        with self.shared.transaction() as conn:
            conn.execute("DELETE FROM recent WHERE key = ?", (key,))
