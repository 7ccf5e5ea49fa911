"""The asyncio micro-batcher with a recording batch function (unit: no model, no server).

The end-to-end check (concurrent HTTP requests give the same vectors as single calls) is
in test_local_serve.py; here the batching rules themselves are pinned down.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from edge.hybrid import HybridResult
from functions.batcher import MicroBatcher


class Recorder:
    """Each text's vector is [len(text), batch number], so results show where they came from."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> HybridResult:
        with self.lock:
            self.batches.append(list(texts))
            number = len(self.batches)
        if self.fail_on in texts:
            raise RuntimeError(f"cannot embed {self.fail_on!r}")
        vectors = np.array([[len(t), number] for t in texts], dtype=np.float32)
        return HybridResult(vectors, [t.startswith("hit") for t in texts], "v1", None, 0)


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_concurrent_requests_share_one_batch_and_get_their_own_rows() -> None:
    """GIVEN 5 requests submitted together WHEN the wait passes THEN one call ran all texts
    and each request got exactly its rows, in order, with its own cache flags."""
    rec = Recorder()

    async def main() -> list[HybridResult]:
        b = MicroBatcher(rec, max_batch_size=64, wait_ms=20)
        reqs = [["a"], ["bb", "hit-ccc"], ["dddd"], ["hit-e", "ff", "ggg"], ["h"]]
        out = await asyncio.gather(*(b.submit(r) for r in reqs))
        await b.aclose()
        return out

    results = _run(main())
    assert len(rec.batches) == 1
    assert rec.batches[0] == ["a", "bb", "hit-ccc", "dddd", "hit-e", "ff", "ggg", "h"]
    assert results[1].vectors[:, 0].tolist() == [2, 7]
    assert results[1].cached == [False, True] and results[1].hits == 1
    assert results[3].vectors[:, 0].tolist() == [5, 2, 3]
    assert [len(r.vectors) for r in results] == [1, 2, 1, 3, 1]


def test_batches_never_exceed_max_batch_size_and_requests_are_not_split() -> None:
    """GIVEN max_batch_size 4 and requests of 3, 2, 2, 1 texts WHEN batched THEN batches hold
    whole requests and at most 4 texts: [3], [2, 2], [1] (or [3,1], [2,2])."""
    rec = Recorder()

    async def main() -> None:
        b = MicroBatcher(rec, max_batch_size=4, wait_ms=20)
        await asyncio.gather(
            b.submit(["a1", "a2", "a3"]), b.submit(["b1", "b2"]), b.submit(["c1", "c2"]),
            b.submit(["d1"]),
        )  # fmt: skip
        await b.aclose()

    _run(main())
    assert all(len(batch) <= 4 for batch in rec.batches)
    groups = {tuple(sorted({t[0] for t in batch})) for batch in rec.batches}
    assert sum(len(g) for g in groups) == 4  # every request whole, each in exactly one batch
    assert len(rec.batches) < 4


def test_a_request_larger_than_the_batch_size_runs_alone() -> None:
    """GIVEN max_batch_size 2 WHEN a request of 5 texts arrives THEN it runs whole, alone."""
    rec = Recorder()

    async def main() -> HybridResult:
        b = MicroBatcher(rec, max_batch_size=2, wait_ms=1)
        out = await b.submit(["1", "22", "333", "4444", "55555"])
        await b.aclose()
        return out

    assert _run(main()).vectors[:, 0].tolist() == [1, 2, 3, 4, 5]
    assert rec.batches == [["1", "22", "333", "4444", "55555"]]


def test_a_failing_batch_fails_its_requests_and_the_batcher_lives_on() -> None:
    """GIVEN a batch whose call raises WHEN awaited THEN those requests get the error and the
    next request is still served."""
    rec = Recorder(fail_on="boom")

    async def main() -> HybridResult:
        b = MicroBatcher(rec, max_batch_size=8, wait_ms=5)
        results = await asyncio.gather(
            b.submit(["fine"]), b.submit(["boom"]), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        later = await b.submit(["later"])
        await b.aclose()
        return later

    assert _run(main()).vectors[:, 0].tolist() == [5]


def test_an_idle_batcher_runs_a_lone_request_once_its_wait_is_over() -> None:
    """GIVEN wait_ms 30 and a lone request WHEN submitted THEN it runs alone, not before its
    wait is over on the loop's clock, and not never (a hang guard bounds the await; how long
    the wait takes in seconds is the benchmark's business)."""
    rec = Recorder()
    started: list[float] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()

        def run(texts: list[str]) -> HybridResult:
            started.append(loop.time())
            return rec(texts)

        b = MicroBatcher(run, max_batch_size=64, wait_ms=30)
        arrived = loop.time()
        await asyncio.wait_for(b.submit(["x"]), timeout=120)
        await b.aclose()
        return arrived

    arrived = _run(main())
    assert rec.batches == [["x"]]
    (start,) = started
    assert start - arrived >= 0.030 - 1e-6


def test_rejects_nonsense_settings() -> None:
    """GIVEN max_batch_size 0 WHEN built THEN ValueError."""
    with pytest.raises(ValueError, match="max_batch_size must be >= 1"):
        MicroBatcher(Recorder(), max_batch_size=0, wait_ms=1)
