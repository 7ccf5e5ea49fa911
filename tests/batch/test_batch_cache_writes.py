"""A failed cache write is retried within its checkpoint interval before the interval fails."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from batch.interval import CACHE_WRITE_ROUNDS, Committer
from batch.layout import RunLayout
from batch.shards import ShardSpec
from batch.storage import LocalStorage
from edge.cache import SQLiteCache
from edge.cache.base import CacheEntry, CacheWriteIncompleteError
from edge.exceptions import CacheUnavailableError


class FlakyCache(SQLiteCache):
    """A real SQLite cache whose first ``bad_rounds`` writes land only half their entries and
    report the rest as failed, as DynamoDBCache does when some puts stay throttled."""

    def __init__(self, path: Path, bad_rounds: int) -> None:
        super().__init__(path)
        self.bad_rounds = bad_rounds
        self.calls: list[int] = []

    def put_many(self, entries: Sequence[CacheEntry]) -> int:
        self.calls.append(len(entries))
        if len(self.calls) > self.bad_rounds:
            return super().put_many(entries)
        half = len(entries) // 2
        written = super().put_many(entries[:half])
        raise CacheWriteIncompleteError(
            "throttled", written=written, failed_keys=[e.key for e in entries[half:]]
        )


def committer(tmp_path: Path, cache: SQLiteCache, retries: list[tuple[int, int]]) -> Committer:
    layout = RunLayout(str(tmp_path / "out"), "r1", ShardSpec(0, 1), "jsonl")
    storage = LocalStorage()
    return Committer(
        layout=layout, output=storage, checkpoints=storage, cache=cache, model_version="v1",
        dim=4, recovering_seq=0, on_retry=lambda seq, n, left, err: retries.append((n, left)),
    )  # fmt: skip


def entries(n: int) -> list[CacheEntry]:
    vectors = np.eye(n, 4, dtype=np.float32)
    return [CacheEntry.make("v1", f"text {i}", vectors[i]) for i in range(n)]


def test_failed_writes_are_retried_and_the_interval_commits(tmp_path: Path) -> None:
    """GIVEN a cache whose first two write rounds land only half their entries WHEN an
    interval's 8 entries are written THEN the failed ones (and only they) are written again,
    each retry is reported, and in the end all 8 are new and in the cache."""
    cache = FlakyCache(tmp_path / "c.sqlite", bad_rounds=2)
    retries: list[tuple[int, int]] = []
    written = committer(tmp_path, cache, retries)._put_with_rounds(entries(8), 0)
    assert written == 8 and cache.calls == [8, 4, 2]
    assert retries == [(1, 4), (2, 2)]
    assert set(cache.get_many("v1", [e.key for e in entries(8)])) == {e.key for e in entries(8)}


def test_writes_still_failing_after_the_rounds_fail_the_interval(tmp_path: Path) -> None:
    """GIVEN a cache that keeps failing WHEN an interval is written THEN after
    CACHE_WRITE_ROUNDS rounds CacheUnavailableError (the job exits 75, its checkpoint not
    advanced) says how many entries are left."""
    cache = FlakyCache(tmp_path / "c.sqlite", bad_rounds=CACHE_WRITE_ROUNDS)
    retries: list[tuple[int, int]] = []
    with pytest.raises(CacheUnavailableError, match=f"after {CACHE_WRITE_ROUNDS} rounds"):
        committer(tmp_path, cache, retries)._put_with_rounds(entries(16), 3)
    assert len(cache.calls) == CACHE_WRITE_ROUNDS and len(retries) == CACHE_WRITE_ROUNDS - 1
