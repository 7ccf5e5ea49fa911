"""Request micro-batching: coalesce concurrent requests for one model into one predict call.

A request's inputs (for the serving path: each item with what its cache lookup found) wait
at most ``wait_ms`` after the oldest waiting request arrived, or until ``max_batch_size``
inputs are queued, then all of them run as one hybrid call (one ORT batch for the misses,
one write-back). Batches run one at a time per model: while one runs, new requests queue
and form the next batch, so under load batches grow by themselves and an idle server adds
at most ``wait_ms``. A single request
larger than ``max_batch_size`` runs alone; requests are never split. At most
``max_pending`` requests may wait: one more is refused at once with
:class:`~functions.exceptions.ServiceOverloadedError` (503 + ``Retry-After``). Batches run on
the app's :class:`~functions.lanes.InferenceLane` when given one.

Owned by :class:`functions.inference.ServingPath` on the local server and the Modal web
host. Lambda serves one request per environment: nothing to coalesce.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

from edge.hybrid import HybridResult
from functions.exceptions import ServiceOverloadedError
from functions.lanes import RETRY_AFTER_S, InferenceLane

T = TypeVar("T")  # what a request queues per input (the serving path: an item + its lookup)
RunBatch = Callable[[list[T]], HybridResult]


@dataclass
class _Pending(Generic[T]):
    texts: list[T]
    future: asyncio.Future[HybridResult]
    arrived: float


def split_result(result: HybridResult, start: int, stop: int) -> HybridResult:
    """The part of a coalesced result that belongs to one request (``written`` is shared)."""
    return HybridResult(
        vectors=result.vectors[start:stop],
        cached=result.cached[start:stop],
        model_version=result.model_version,
        cache_error=result.cache_error,
        written=result.written,
    )


class MicroBatcher(Generic[T]):
    def __init__(
        self,
        run: RunBatch[T],
        *,
        max_batch_size: int,
        wait_ms: float,
        max_pending: int | None = None,
        lane: InferenceLane | None = None,
    ) -> None:
        if max_batch_size < 1 or wait_ms < 0 or (max_pending is not None and max_pending < 1):
            raise ValueError("max_batch_size must be >= 1, wait_ms >= 0, max_pending >= 1")
        self._run = run
        self.max_pending = max_pending
        self.lane = lane
        self.max_batch_size = max_batch_size
        self.wait_s = wait_ms / 1000.0
        self._pending: deque[_Pending[T]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0  # predict calls made; requests / batches = coalescing factor
        self.requests = 0

    async def submit(self, texts: Sequence[T]) -> HybridResult:
        """Queue ``texts`` (items already checked against the model's limits); await the
        result."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._loop is not loop:
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._work(), name="precast-micro-batcher")
        assert self._wakeup is not None
        if self.max_pending is not None and len(self._pending) >= self.max_pending:
            raise ServiceOverloadedError(
                f"the micro-batch queue is full ({self.max_pending} requests waiting); "
                f"retry after {RETRY_AFTER_S} s",
                retry_after_s=RETRY_AFTER_S,
                queued=len(self._pending),
                limit=self.max_pending,
            )
        item = _Pending(list(texts), loop.create_future(), loop.time())
        self._pending.append(item)
        self.requests += 1
        self._wakeup.set()
        return await item.future

    async def aclose(self) -> None:
        """Stop the worker; requests still waiting fail with ``CancelledError``."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        while self._pending:
            item = self._pending.popleft()
            if not item.future.done():
                item.future.cancel()

    @property
    def pending(self) -> int:
        """Requests waiting for their batch to start."""
        return len(self._pending)

    def _queued_texts(self) -> int:
        return sum(len(p.texts) for p in self._pending)

    async def _work(self) -> None:
        assert self._wakeup is not None and self._loop is not None
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            deadline = self._pending[0].arrived + self.wait_s
            while self._queued_texts() < self.max_batch_size:
                remaining = deadline - self._loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
            await self._execute(self._take())

    def _take(self) -> list[_Pending[T]]:
        batch: list[_Pending[T]] = []
        size = 0
        while self._pending:
            nxt = self._pending[0]
            if nxt.future.done():  # the client went away while waiting
                self._pending.popleft()
                continue
            if batch and size + len(nxt.texts) > self.max_batch_size:
                break
            batch.append(self._pending.popleft())
            size += len(nxt.texts)
        return batch

    async def _execute(self, batch: list[_Pending[T]]) -> None:
        if not batch:
            return
        texts = [t for p in batch for t in p.texts]
        self.batches += 1
        try:
            if self.lane is not None:
                result = await self.lane.run(self._run, texts)
            else:
                result = await run_in_threadpool(self._run, texts)
        except Exception as exc:  # every waiting request gets the fault, the worker lives on
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        start = 0
        for p in batch:
            stop = start + len(p.texts)
            if not p.future.done():
                p.future.set_result(split_result(result, start, stop))
            start = stop
