"""Per-address rate limits that hold across every worker process.

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
from pathlib import Path

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """'5/minute' -> (5, 60)."""
    match = re.fullmatch(r"(\d+)/(second|minute|hour|day)", text)
    if not match:
        raise ValueError(f"bad rate {text!r}")
    return int(match.group(1)), _UNITS[match.group(2)]


class RateLimiter:
    def __init__(self, db: Path, rate: str) -> None:
        self.db = db
        self.limit, self.window = parse_rate(rate)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # threaded servers share the process's connection
        self._pid = 0
        conn = self._connect()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS hits (address TEXT NOT NULL, at REAL NOT NULL)")
        conn.execute("CREATE INDEX IF NOT EXISTS hits_by_address ON hits (address, at)")

    def _connect(self) -> sqlite3.Connection:
        # One connection per process: gunicorn may fork after the app is created, and a
        # SQLite connection must never be shared across a fork.
        if self._conn is None or self._pid != os.getpid():
            self._conn = sqlite3.connect(self.db, timeout=30, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA synchronous=OFF")
            self._pid = os.getpid()
        return self._conn

    def hit(self, address: str, now: float | None = None) -> float | None:
        """Count one post from `address`: None if allowed, else seconds until it would be."""
        now = time.time() if now is None else now
        since = now - self.window
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM hits WHERE address = ? AND at <= ?", (address, since))
                count, oldest = conn.execute(
                    "SELECT COUNT(*), MIN(at) FROM hits WHERE address = ?", (address,)).fetchone()
                allowed = count < self.limit
                if allowed:
                    conn.execute("INSERT INTO hits (address, at) VALUES (?, ?)", (address, now))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return None if allowed else max(0.0, float(oldest) + self.window - now)
