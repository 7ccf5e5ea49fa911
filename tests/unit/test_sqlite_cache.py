"""SQLite prediction cache: hit, miss, stale version, expiry, idempotent writes, concurrency."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from edge.cache import CacheEntry, SQLiteCache, cache_key, open_cache
from edge.cache.base import normalize_input


def vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(8).astype(np.float32)


def test_key_depends_on_version_and_normalized_text() -> None:
    assert cache_key("v1", "héllo") == cache_key("v1", " he\u0301llo \n")  # NFC + strip
    assert cache_key("v1", "hello") != cache_key("v2", "hello")
    assert cache_key("v1", "Hello") != cache_key("v1", "hello")  # case is the model's business
    assert normalize_input("  a b ") == "a b"


def test_round_trip_hit_miss_and_stale_version(tmp_path: Path) -> None:
    """GIVEN entries for v1 WHEN read as v1 and v2 THEN v1 hits exactly, v2 never sees them."""
    cache = SQLiteCache(tmp_path / "c.sqlite")
    e = CacheEntry.make("v1", "hello", vec(1))
    assert cache.put_many([e]) == 1
    got = cache.get_many("v1", [e.key, cache_key("v1", "other")])
    assert list(got) == [e.key]
    assert np.array_equal(got[e.key].vector, e.vector)
    assert got[e.key].model_version == "v1"
    assert cache.get_many("v2", [e.key]) == {}


def test_writes_are_idempotent_and_never_clobber(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    first = CacheEntry.make("v1", "hello", vec(1))
    again = CacheEntry.make("v1", "hello", vec(2))
    assert cache.put_many([first]) == 1
    assert cache.put_many([again, first]) == 0
    assert np.array_equal(cache.get_many("v1", [first.key])[first.key].vector, first.vector)
    assert cache.count() == 1


def test_expired_entries_are_misses(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    e = CacheEntry("k", "v1", vec(1), time.time() - 10, expires_at=time.time() - 1)
    cache.put_many([e])
    assert cache.get_many("v1", ["k"]) == {}


def test_concurrent_readers_and_writer(tmp_path: Path) -> None:
    """GIVEN 4 reader threads and a writer WHEN they run together THEN no errors, all land."""
    path = tmp_path / "c.sqlite"
    cache = open_cache(f"sqlite:{path}")
    entries = [CacheEntry.make("v1", f"text {i}", vec(i)) for i in range(400)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        local = SQLiteCache(path)
        try:
            while not stop.is_set():
                for e in local.get_many("v1", [x.key for x in entries[:50]]).values():
                    assert e.vector.shape == (8,)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for start in range(0, 400, 40):
        cache.put_many(entries[start : start + 40])
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache.get_many("v1", [e.key for e in entries])) == 400


def test_crash_mid_write_leaves_all_or_nothing(tmp_path: Path) -> None:
    """GIVEN a writer process killed mid-transaction WHEN reopened THEN the batch is absent."""
    import subprocess
    import sys

    path = tmp_path / "c.sqlite"
    SQLiteCache(path).put_many([CacheEntry.make("v1", "kept", vec(0))])
    code = f"""
import os, sqlite3
conn = sqlite3.connect({str(path)!r}, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
for i in range(100):
    conn.execute(
        "INSERT INTO predictions (key, model_version, vector, created_at)"
        " VALUES (?, 'v1', x'00', 0)",
        (f"k{{i}}",),
    )
os.kill(os.getpid(), 9)
"""
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    cache = SQLiteCache(path)
    assert cache.count() == 1


def test_reconnect_gives_every_thread_a_new_handle(tmp_path: Path) -> None:
    """GIVEN handles opened on this thread and on a worker thread WHEN reconnect() runs (a
    snapshot restore) THEN both threads get a new handle on their next call, and the entries
    written before are still read."""
    from concurrent.futures import ThreadPoolExecutor

    cache = SQLiteCache(tmp_path / "c.sqlite")
    entry = CacheEntry.make("v1", "hello", vec(3))
    cache.put_many([entry])
    with ThreadPoolExecutor(max_workers=1) as worker:
        before = (cache._conn(), worker.submit(cache._conn).result())
        cache.reconnect()
        after = (cache._conn(), worker.submit(cache._conn).result())
        assert worker.submit(cache.get_many, "v1", [entry.key]).result().keys() == {entry.key}
    assert after[0] is not before[0] and after[1] is not before[1]
    assert cache.get_many("v1", [entry.key])[entry.key].vector.tolist() == entry.vector.tolist()
    cache.close()
