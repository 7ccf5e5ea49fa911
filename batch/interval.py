"""One checkpoint interval: buffer its rows, then commit part -> rejects -> cache -> checkpoint.

Memory is bounded by the interval: ``checkpoint_every`` vectors (dim x 4 bytes each) and
their cache entries. Each step is atomic on its own and idempotent when repeated (same
names, same bytes; cache entries are immutable), so a crash between any two steps is
repaired by redoing the interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from batch.checkpoint import Checkpoint, CommittedPart, Counts, digest, save_checkpoint
from batch.chunks import ChunkResult
from batch.crashpoints import armed, crash_point, kill_now
from batch.layout import RunLayout
from batch.parts import encode_part
from batch.readers import Position
from batch.rejects import encode_rejects
from batch.storage import Storage
from edge.cache.base import CacheEntry, CacheWriteIncompleteError, PredictionCache
from edge.exceptions import CacheUnavailableError

# Rounds of cache writes per interval: each put already had the client's own retries; a
# round retries only the entries that failed. Then the interval fails (exit 75) with its
# checkpoint not advanced, and AWS Batch retries the job.
CACHE_WRITE_ROUNDS = 3


@dataclass
class Interval:
    seq: int
    end: int  # shard index where the interval's lattice slot ends (exclusive)
    results: list[ChunkResult] = field(default_factory=list)
    next_index: int = 0
    position: Position | None = None
    input_sha256: list[str] = field(default_factory=list)  # the input's digests at position

    def add(self, result: ChunkResult, *, next_index: int, position: Position) -> None:
        self.results.append(result)
        self.next_index = next_index
        self.position = position

    @property
    def full(self) -> bool:
        return self.next_index >= self.end


class Committer:
    def __init__(
        self,
        *,
        layout: RunLayout,
        output: Storage,
        checkpoints: Storage,
        cache: PredictionCache | None,
        model_version: str,
        dim: int,
        recovering_seq: int,
        on_retry: Callable[[int, int, int, str], None] | None = None,
    ) -> None:
        self.layout = layout
        self.output = output
        self.checkpoints = checkpoints
        self.cache = cache
        self.model_version = model_version
        self.dim = dim
        self.recovering_seq = recovering_seq
        self.on_retry = on_retry  # (seq, round, entries left, error): the job logs it

    def commit(self, interval: Interval, ckpt: Checkpoint, *, elapsed_s: float) -> Counts:
        """Commit ``interval`` and advance ``ckpt`` (saved last). Returns its counts."""
        assert interval.position is not None
        ids = [i for r in interval.results for i in r.ids]
        parts = [r.vectors for r in interval.results if r.vectors is not None and len(r.vectors)]
        vectors = np.concatenate(parts) if parts else np.empty((0, self.dim), dtype=np.float32)
        data = encode_part(self.layout.output_format, ids, vectors, self.model_version)
        self.output.write_bytes(self.layout.part(interval.seq), data)
        committed = CommittedPart(
            seq=interval.seq,
            name=self.layout.part_name(interval.seq),
            rows=len(ids),
            size=len(data),
            sha256=digest(data),
            start_index=ckpt.next_index,
            start_position=ckpt.position,
            counts_before=Counts(**vars(ckpt.counts)),
            rejects_before=len(ckpt.reject_parts),
            input_before=list(ckpt.input_sha256),
        )
        crash_point("after_part")

        rejects = [x for r in interval.results for x in r.rejects]
        rejects_uri = self.layout.rejects(interval.seq)
        stale = interval.seq == self.recovering_seq and self.output.exists(rejects_uri)
        if rejects or stale:  # rewrite a stale file even if empty: no duplicate rejects
            self.output.write_bytes(rejects_uri, encode_rejects(rejects))
            crash_point("after_rejects")

        counts = Counts()
        for r in interval.results:
            counts.add(r.counts)
        entries = [e for r in interval.results for e in r.entries]
        counts.written = self._write_cache(entries, interval.seq)
        crash_point("after_cache")

        ckpt.parts = [p for p in ckpt.parts if p.seq < interval.seq] + [committed]
        ckpt.seq = interval.seq + 1
        ckpt.next_index = interval.next_index
        ckpt.position = interval.position
        ckpt.input_sha256 = list(interval.input_sha256)
        ckpt.counts.add(counts)
        if rejects:
            ckpt.reject_parts.append(interval.seq)
        ckpt.elapsed_s = elapsed_s
        save_checkpoint(self.checkpoints, self.layout.checkpoint, ckpt)
        crash_point("after_checkpoint")
        return counts

    def _write_cache(self, entries: list[CacheEntry], seq: int) -> int:
        if self.cache is None or not entries:
            return 0
        # The first prediction of a text wins on every backend, and after a partial write
        # too (a text repeated in one interval may have two slightly different vectors).
        first: dict[str, CacheEntry] = {}
        for entry in entries:
            first.setdefault(entry.key, entry)
        entries = list(first.values())
        if armed("mid_cache"):  # the crash tests: half a batch written, then kill -9
            self.cache.put_many(entries[: len(entries) // 2])
            kill_now()
        return self._put_with_rounds(entries, seq)

    def _put_with_rounds(self, entries: list[CacheEntry], seq: int) -> int:
        """Write ``entries``; entries that fail transiently are retried, up to
        :data:`CACHE_WRITE_ROUNDS` rounds, before :class:`CacheUnavailableError` fails the
        interval. Returns how many entries were new."""
        assert self.cache is not None
        written = 0
        pending = entries
        for round_no in range(1, CACHE_WRITE_ROUNDS + 1):
            try:
                return written + self.cache.put_many(pending)
            except CacheWriteIncompleteError as exc:
                written += exc.written
                failed = set(exc.failed_keys)
                pending = [e for e in pending if e.key in failed]
                error: CacheUnavailableError = exc
            except CacheUnavailableError as exc:  # nothing known to have landed: all again
                error = exc
            if self.on_retry is not None and round_no < CACHE_WRITE_ROUNDS:
                self.on_retry(seq, round_no, len(pending), str(error))
        raise CacheUnavailableError(
            f"{len(pending)} cache writes of interval {seq} still failing after "
            f"{CACHE_WRITE_ROUNDS} rounds: {error}"
        )


def elapsed_since(start: float, base: float) -> float:
    return base + (time.monotonic() - start)
