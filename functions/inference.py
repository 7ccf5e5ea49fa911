"""The one serving path: every route, and the Modal host's batched method, answer here.

A route's parser hands over checked inputs (limits, types, blanks and Unicode checked
once, prompts prefixed) as a list of :data:`edge.hybrid.Item`: texts, (text, text_pair)
or (query, passage) pairs, or both. :meth:`ServingPath.serve` then

1. reads the cache: a local SQLite read (sub-millisecond, never waiting for a writer) on
   the event loop, a remote lookup on the cache lane;
2. answers a request whose items are all cached right there, without entering the
   inference lane (its bounded queue answers 503 when full) or a micro-batcher;
3. runs the misses, the lookup passed on (never read twice): coalesced with other
   requests by the model's micro-batcher when micro-batching is on, else on the inference
   lane;
4. reports, for every route alike: a cache failure is logged (rate-limited,
   :mod:`functions.cache_log`), and each observer (Lambda's EMF, Prometheus) gets one
   :class:`PredictStats` per request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from edge.cache.base import reads_are_local
from edge.hybrid import CacheRead
from functions.batcher import MicroBatcher
from functions.cache_log import CacheFailureLog
from functions.lanes import CacheLane, InferenceLane

if TYPE_CHECKING:
    from edge.hybrid import HybridResult, Item
    from edge.model import EdgeModel
    from functions.registry import ModelRegistry
    from functions.settings import Settings


@dataclass(frozen=True)
class PredictStats:
    """What one request did; hosts turn it into metrics (Lambda: EMF, others: Prometheus)."""

    model: str
    items: int
    hits: int
    misses: int
    cache_error: str | None


@dataclass(frozen=True)
class _Looked:
    """One item queued for a micro-batch, with the lookup it came with (index ``at``)."""

    item: Item
    read: CacheRead
    at: int


def _merged(looked: Sequence[_Looked]) -> CacheRead:
    """The lookups of a coalesced batch as one, in the batch's order."""
    keys = [q.read.keys[q.at] for q in looked]
    found = {k: q.read.found[k] for q, k in zip(looked, keys, strict=True) if k in q.read.found}
    error = next((q.read.error for q in looked if q.read.error is not None), None)
    return CacheRead(keys, found, error)


PredictObserver = Callable[[PredictStats], None]
BatchObserver = Callable[[str, int], None]  # (model, items in one inference call)


class ServingPath:
    """The cache lane, the inference lane, the micro-batchers and the reports of one app."""

    def __init__(
        self,
        registry: ModelRegistry,
        settings: Settings,
        *,
        observers: Sequence[PredictObserver] = (),
        on_batch: BatchObserver | None = None,
        cache_failures: CacheFailureLog | None = None,
    ) -> None:
        self.registry = registry
        self.inference = InferenceLane(
            workers=settings.inference_workers, max_queue=settings.max_queue
        )
        self.cache_lane = CacheLane()
        self.observers = list(observers)
        self.on_batch = on_batch
        self.cache_failures = cache_failures or CacheFailureLog()
        self.batchers: dict[str, MicroBatcher[_Looked]] = {}
        if settings.micro_batch:  # coalesced batches skip the per-request batch limit
            self.batchers = {
                name: MicroBatcher(
                    partial(self._run_batch, name),
                    max_batch_size=settings.max_batch_size,
                    wait_ms=settings.batch_wait_ms,
                    max_pending=settings.max_queue,
                    lane=self.inference,
                )
                for name in registry.names()
            }

    @property
    def queue_depth(self) -> int:
        """Requests waiting for an inference worker or a micro-batch."""
        return self.inference.queued + sum(b.pending for b in self.batchers.values())

    async def serve(self, model: EdgeModel, items: Sequence[Item]) -> HybridResult:
        """One request's rows, in order (``items`` checked by the route's parser)."""
        result = await self._answer(model.name, items)
        self._report(model.name, result)
        return result

    def serve_blocking(self, model: EdgeModel, items: Sequence[Item]) -> HybridResult:
        """:meth:`serve` for a caller that is an inference worker itself (Modal's
        ``@modal.batched`` method): the same lookup, write-back and reports, no lanes."""
        result = self.registry.serve(model.name, items)
        self._report(model.name, result)
        return result

    async def _answer(self, name: str, items: Sequence[Item]) -> HybridResult:
        cache = self.registry.cache
        if cache is None or reads_are_local(cache):
            read = self.registry.read(name, items)  # keys only, or a local SQLite read
        else:
            read = await self.cache_lane.run(self.registry.read, name, items)
        if not read.misses:  # every item cached: assemble here, no inference lane
            return self.registry.serve(name, items, read=read)
        batcher = self.batchers.get(name)
        if batcher is not None:  # coalesced with other requests, each with its lookup
            return await batcher.submit([_Looked(x, read, i) for i, x in enumerate(items)])
        if self.on_batch is not None:
            self.on_batch(name, len(read.misses))
        return await self.inference.run(partial(self.registry.serve, name, items, read=read))

    def _run_batch(self, name: str, looked: list[_Looked]) -> HybridResult:
        read = _merged(looked)
        if self.on_batch is not None:
            self.on_batch(name, len(read.misses))
        return self.registry.serve(name, [q.item for q in looked], read=read)

    def _report(self, name: str, result: HybridResult) -> None:
        if result.cache_error is not None:
            self.cache_failures(name, result.cache_error)
        stats = PredictStats(
            name, len(result.cached), result.hits, result.misses, result.cache_error
        )
        for observe in self.observers:
            observe(stats)

    async def aclose(self) -> None:
        """Stop the micro-batchers and both lanes (lifespan shutdown); they restart on use."""
        for batcher in self.batchers.values():
            await batcher.aclose()
        self.inference.close()
        self.cache_lane.close()
