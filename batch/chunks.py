"""Cut a shard's records into inference chunks on a fixed lattice, and infer each chunk.

Chunk boundaries depend only on a record's index in its shard: intervals of
``interval`` records start at multiples of ``interval`` and are cut into chunks of
``chunk`` records from their start. An interrupted run resumes on the same lattice, so
every attempt hands the model the same batches. That matters: dynamic int8 quantization
scales activations per batch, so the same text in a different batch gives a (slightly)
different vector, and "a rerun produces exactly the same output" needs equal batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from batch.checkpoint import Counts
from batch.readers import RawRecord
from batch.records import ValidRecord, reject, validate
from batch.rejects import Reject
from edge.cache.base import CacheEntry, PredictionCache, cache_key, pair_cache_key
from edge.exceptions import InputLimitError
from edge.hybrid import computed_entry, pairs_with_cache, predict_with_cache
from edge.model import EdgeModel

F32 = npt.NDArray[np.float32]


def interval_end(index: int, interval: int) -> int:
    return (index // interval + 1) * interval


def chunk_end(index: int, interval: int, chunk: int) -> int:
    start = index // interval * interval
    return min(start + ((index - start) // chunk + 1) * chunk, start + interval)


def group_chunks(
    records: Iterable[RawRecord], interval: int, chunk: int
) -> Iterator[list[RawRecord]]:
    """Shard indices are consecutive, so a chunk is complete as soon as its last index is
    read: nothing is read ahead of what the next commit covers."""
    current: list[RawRecord] = []
    for record in records:
        current.append(record)
        if record.index + 1 == chunk_end(record.index, interval, chunk):
            yield current
            current = []
    if current:
        yield current


@dataclass
class ChunkResult:
    ids: list[str | int] = field(default_factory=list)
    vectors: F32 | None = None
    entries: list[CacheEntry] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    cache_error: str | None = None


class RecoveredPart:
    """Rows of a part an interrupted attempt wrote before its checkpoint. Reusing them
    (instead of recomputing) keeps vectors identical even if the cache holds only some of
    that interval's entries (a DynamoDB batch is not one transaction).

    They are written to the cache tagged with this host's ``computed_by``, so they must be
    what this host computes: the first recovered row is recomputed here and compared bit
    for bit (``checked``); a part written by another host kind or plan (a spot retry on
    another instance type) is discarded (``refused``) and its interval recomputed."""

    def __init__(self, ids: list[Any], vectors: F32) -> None:
        self.ids = [str(i) for i in ids]
        self.vectors = vectors
        self.cursor = 0
        self.valid = True
        self.checked = False
        self.refused = False

    def take(self, ids: list[str | int]) -> F32 | None:
        end = self.cursor + len(ids)
        if not self.valid or self.ids[self.cursor : end] != [str(i) for i in ids]:
            self.valid = False
            return None
        out = self.vectors[self.cursor : end]
        self.cursor = end
        return out


class ChunkProcessor:
    def __init__(
        self,
        model: EdgeModel,
        cache: PredictionCache | None,
        *,
        id_field: str,
        text_field: str,
        skip_cached: bool,
        ttl_s: float | None,
    ) -> None:
        self.model = model
        self.cache = cache
        self.id_field = id_field
        self.text_field = text_field
        self.skip_cached = skip_cached
        self.ttl_s = ttl_s
        self.pairs = model.manifest.task == "text-ranking"  # (query, passage) records

    def process(self, records: list[RawRecord], recovered: RecoveredPart | None) -> ChunkResult:
        out = ChunkResult()
        valid: list[ValidRecord] = []
        for raw in records:
            checked = validate(
                raw,
                id_field=self.id_field,
                text_field=self.text_field,
                limits=self.model.limits,
                pairs=self.pairs,
            )
            if isinstance(checked, Reject):
                out.rejects.append(checked)
            else:
                valid.append(checked)
        if not self.model.limits.truncate:
            valid = self._reject_overlong(valid, out.rejects)
        out.counts.read = len(records)
        out.counts.rejected = len(out.rejects)
        out.ids = [v.id for v in valid]
        texts = [v.text for v in valid]
        if not valid:
            out.vectors = np.empty((0, self.model.manifest.dim), dtype=np.float32)
            return out
        reused = recovered.take(out.ids) if recovered is not None else None
        if reused is not None and recovered is not None and not recovered.checked:
            recovered.checked = True
            if not np.array_equal(self._live(valid[:1])[0], reused[0]):
                recovered.valid, recovered.refused, reused = False, True, None
        if reused is not None:
            out.vectors = reused
            out.counts.recovered = len(valid)
            if self.cache is not None:
                out.entries = [
                    computed_entry(self.model, self._key(v), vector, ttl_s=self.ttl_s)
                    for v, vector in zip(valid, reused, strict=True)
                ]
            return out
        cache = self.cache if self.skip_cached else None
        if self.pairs:
            result = pairs_with_cache(
                self.model,
                cache,
                [v.pair for v in valid if v.pair is not None],
                write_back=False,  # entries are committed with the interval's part
                ttl_s=self.ttl_s,
            )
        else:
            result = predict_with_cache(
                self.model,
                cache,
                texts,
                write_back=False,  # entries are committed with the interval's part
                ttl_s=self.ttl_s,
                enforce_limits=False,
            )
        out.vectors = result.vectors
        out.cache_error = result.cache_error
        out.counts.cached = result.hits
        out.counts.predicted = len(valid) - result.hits
        if self.cache is not None:
            out.entries = result.new_entries
        return out

    def _live(self, valid: list[ValidRecord]) -> F32:
        """What this host computes for ``valid``, cache bypassed."""
        if self.pairs:
            pairs = [v.pair for v in valid if v.pair is not None]
            return pairs_with_cache(self.model, None, pairs, write_back=False).vectors
        texts = [v.text for v in valid]
        return predict_with_cache(
            self.model, None, texts, write_back=False, enforce_limits=False
        ).vectors

    def _key(self, v: ValidRecord) -> str:
        version = self.model.version
        if v.pair is not None:
            return pair_cache_key(version, *v.pair)
        return cache_key(version, v.text)

    def _reject_overlong(
        self, valid: list[ValidRecord], rejects: list[Reject]
    ) -> list[ValidRecord]:
        """Models that do not truncate reject texts over max_tokens (found by tokenizing)."""
        kept: list[ValidRecord] = []
        start = 0
        while start < len(valid):
            try:
                if self.pairs:
                    self.model.tokenizer.encode_pairs([v.pair or ("", "") for v in valid[start:]])
                else:
                    self.model.tokenizer.encode([v.text for v in valid[start:]])
            except InputLimitError as exc:
                bad = start + (exc.index or 0)
                kept.extend(valid[start:bad])
                detail = str(exc).replace(f"inputs[{exc.index}]", "text")
                rejects.append(reject(valid[bad].raw, valid[bad].id, "max_tokens", detail))
                start = bad + 1
                continue
            kept.extend(valid[start:])
            break
        rejects.sort(key=lambda r: r.record)
        return kept
