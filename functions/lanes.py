"""Two lanes of worker threads, so a cached answer never waits behind inference.

- :class:`InferenceLane`: ``workers`` threads run model inference, at a lower CPU
  priority (``INFERENCE_NICENESS``); at most ``max_queue`` more calls may wait. One more is
  refused at once with :class:`~functions.exceptions.ServiceOverloadedError` (503 +
  ``Retry-After``) instead of waiting without bound. The local and Modal hosts give each
  worker ``cores // workers`` ONNX Runtime threads (:func:`serving_session_config`), so
  all inference runs on these threads and their priority covers it.
- :class:`CacheLane`: a few threads for remote cache lookups (DynamoDB: network I/O). A
  local SQLite cache (WAL: a read never waits for a writer, well under a millisecond) is
  read on the event loop itself, saving two thread hand-offs. Either way a request whose
  texts are all cached is answered without entering the inference lane.
- :func:`favour_event_loop`: inference threads hold the GIL for their Python steps
  (inputs, pooling). CPython makes a waiting thread wait up to the switch interval (5 ms
  by default) before the holder must let go, and a cached answer needs the GIL several
  times (request, lookup, response): at the default a hit could wait 15-20 ms behind busy
  inference. The serving process shortens the interval to ``GIL_SWITCH_INTERVAL_S``.

Both count with a lock rather than an asyncio primitive, so one lane serves any event
loop (uvicorn's, or the one the Lambda wrapper pins). Their threads start on first use and
stop in :meth:`close` (lifespan shutdown); an app that is started again gets new ones.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from functions.exceptions import ServiceOverloadedError

if TYPE_CHECKING:
    from edge.session import SessionConfig

T = TypeVar("T")
RETRY_AFTER_S = 1  # inference calls take tens of milliseconds: a second clears the queue
# Inference threads run at a lower CPU priority (Linux per-thread nice) than the event loop
# and the cache lane, so when the cores are busy with inference a cached answer still gets
# one at once. Lowering priority needs no privilege; with nothing else runnable a niced
# thread runs at full speed.
INFERENCE_NICENESS = 10
# How long a thread waiting for the GIL waits before the holder must release it (CPython's
# default is 5 ms). 1 ms keeps a cache hit's few GIL hand-offs short; inference, which runs
# in ONNX Runtime without the GIL, hardly notices the extra switches.
GIL_SWITCH_INTERVAL_S = 0.001


def favour_event_loop() -> None:
    """Shorten the GIL switch interval for a serving process (never lengthens it)."""
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class _Threads:
    """A thread pool started on first use, stopped by :meth:`close`, restartable."""

    def __init__(self, workers: int, prefix: str, nice: int = 0) -> None:
        self._workers = workers
        self._prefix = prefix
        self._nice = nice
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self._workers, thread_name_prefix=self._prefix, initializer=self._lower_priority
                )
            executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def _lower_priority(self) -> None:
        if self._nice and hasattr(os, "setpriority"):  # Linux: PRIO_PROCESS + a thread id
            tid = threading.get_native_id()
            try:
                os.setpriority(
                    os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self._nice
                )
            except OSError:  # a platform without per-thread priorities: run as is
                pass

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class InferenceLane:
    def __init__(self, *, workers: int, max_queue: int) -> None:
        if workers < 1 or max_queue < 0:
            raise ValueError("workers must be >= 1 and max_queue >= 0")
        self.workers = workers
        self.max_queue = max_queue
        self._threads = _Threads(workers, "precast-infer", INFERENCE_NICENESS)
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self.refused = 0

    @property
    def queued(self) -> int:
        """Calls waiting for a worker (not yet running)."""
        return max(0, self._admitted - self.workers)

    @property
    def in_flight(self) -> int:
        return self._admitted

    def admit(self) -> None:
        """Take a place, or raise :class:`ServiceOverloadedError` when the queue is full."""
        with self._lock:
            if self._admitted >= self.workers + self.max_queue:
                self.refused += 1
                raise ServiceOverloadedError(
                    f"the inference queue is full ({self.max_queue} requests waiting for "
                    f"{self.workers} workers); retry after {RETRY_AFTER_S} s",
                    retry_after_s=RETRY_AFTER_S,
                    queued=self.queued,
                    limit=self.max_queue,
                )
            self._admitted += 1

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        self.admit()
        try:
            return await self.run_admitted(fn, *args)
        finally:
            self.release()

    async def run_admitted(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on a worker for a caller that holds a place (see :meth:`admit`)."""
        return await self._threads.run(fn, *args)

    def close(self) -> None:
        self._threads.close()


class CacheLane:
    def __init__(self, *, workers: int = 4) -> None:
        self._threads = _Threads(workers, "precast-cache")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await self._threads.run(fn, *args)

    def close(self) -> None:
        self._threads.close()


def serving_session_config(
    workers: int, *, providers: tuple[str, ...] | str = "auto"
) -> SessionConfig:
    """ONNX Runtime settings for a server with ``workers`` inference threads: each run gets
    ``cores // workers`` intra-op threads (so runs never oversubscribe the cores and ORT
    starts no pool threads of its own at one thread per run); ``PRECAST_ORT_THREADS`` wins."""
    from edge.session import ENV_THREADS, SessionConfig

    if os.environ.get(ENV_THREADS):
        return SessionConfig(providers=providers)
    cores = SessionConfig().resolved_threads()
    return SessionConfig(intra_op_threads=max(1, cores // workers), providers=providers)
