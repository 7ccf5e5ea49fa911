"""One checkpoint interval: buffer its rows, then commit part -> rejects -> cache -> checkpoint.

Memory is bounded by the interval: ``checkpoint_every`` vectors (dim x 4 bytes each) and
their cache entries. Each step is atomic on its own and idempotent when repeated (same
names, same bytes; cache entries are immutable), so a crash between any two steps is
repaired by redoing the interval.
"""

from __future__ import annotations

import time
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
from edge.cache.base import CacheEntry, PredictionCache


@dataclass
class Interval:
    seq: int
    end: int  # shard index where the interval's lattice slot ends (exclusive)
    results: list[ChunkResult] = field(default_factory=list)
    next_index: int = 0
    position: Position | None = None

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
    ) -> None:
        self.layout = layout
        self.output = output
        self.checkpoints = checkpoints
        self.cache = cache
        self.model_version = model_version
        self.dim = dim
        self.recovering_seq = recovering_seq

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
        counts.written = self._write_cache(entries)
        crash_point("after_cache")

        ckpt.parts = [p for p in ckpt.parts if p.seq < interval.seq] + [committed]
        ckpt.seq = interval.seq + 1
        ckpt.next_index = interval.next_index
        ckpt.position = interval.position
        ckpt.counts.add(counts)
        if rejects:
            ckpt.reject_parts.append(interval.seq)
        ckpt.elapsed_s = elapsed_s
        save_checkpoint(self.checkpoints, self.layout.checkpoint, ckpt)
        crash_point("after_checkpoint")
        return counts

    def _write_cache(self, entries: list[CacheEntry]) -> int:
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
        return self.cache.put_many(entries)


def elapsed_since(start: float, base: float) -> float:
    return base + (time.monotonic() - start)
