"""SQLite prediction cache: the embedded default, also on devices.

WAL mode lets many readers run while one writer commits; each ``put_many`` is one
transaction, so a crash mid-write leaves either all of a batch or none of it. Writes use
``INSERT OR IGNORE``: entries are immutable per key, so a retried batch is a no-op.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from edge.cache.base import CacheEntry, decode_vector, encode_vector
from edge.exceptions import CacheError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    key TEXT PRIMARY KEY,
    model_version TEXT NOT NULL,
    vector BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    computed_by TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"""
_COLUMNS = "key, model_version, vector, created_at, expires_at, computed_by"
_MAX_VARS = 500  # stay well under SQLite's bound-parameter limit


class SQLiteCache:
    reads_are_local = True  # WAL: readers never wait for the writer (see reads_are_local)

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._timeout = timeout_s
        self._generation = 0  # bumped by reconnect(): older per-thread handles are reopened
        try:
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(predictions)")}
            if "computed_by" not in columns:  # a cache file written before the column
                conn.execute(
                    "ALTER TABLE predictions ADD COLUMN computed_by TEXT NOT NULL DEFAULT ''"
                )
        except sqlite3.Error as exc:
            raise CacheError(f"cannot open SQLite cache at {self.path}: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "generation", 0) != self._generation:
            conn.close()  # opened before reconnect(): each thread closes its own handle
            conn = None
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            self._local.conn = conn
            self._local.generation = self._generation
        return conn

    def reconnect(self) -> None:
        """Every thread opens a fresh handle on its next call (sqlite3 handles belong to the
        thread that opened them, so each closes its own); this thread's closes now."""
        self.close()
        self._generation += 1

    def get_many(self, model_version: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        out: dict[str, CacheEntry] = {}
        now = time.time()
        unique = list(dict.fromkeys(keys))
        try:
            for start in range(0, len(unique), _MAX_VARS):
                chunk = unique[start : start + _MAX_VARS]
                marks = ",".join("?" * len(chunk))
                rows = self._conn().execute(
                    f"SELECT {_COLUMNS} FROM predictions"
                    f" WHERE model_version = ? AND key IN ({marks})",
                    [model_version, *chunk],
                )
                for key, version, blob, created, expires, by in rows:
                    entry = CacheEntry(key, version, decode_vector(blob), created, expires, by)
                    if not entry.expired(now):
                        out[key] = entry
        except sqlite3.Error as exc:
            raise CacheError(f"SQLite cache read failed ({self.path}): {exc}") from None
        return out

    def put_many(self, entries: Sequence[CacheEntry]) -> int:
        if not entries:
            return 0
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            before = conn.total_changes
            conn.executemany(
                f"INSERT OR IGNORE INTO predictions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.key,
                        e.model_version,
                        encode_vector(e.vector),
                        e.created_at,
                        e.expires_at,
                        e.computed_by,
                    )
                    for e in entries
                ],
            )
            written = conn.total_changes - before
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise CacheError(f"SQLite cache write failed ({self.path}): {exc}") from None
        return written

    def count(self, model_version: str | None = None) -> int:
        if model_version is None:
            row = self._conn().execute("SELECT COUNT(*) FROM predictions").fetchone()
        else:
            row = (
                self._conn()
                .execute(
                    "SELECT COUNT(*) FROM predictions WHERE model_version = ?", (model_version,)
                )
                .fetchone()
            )
        return int(row[0])

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
