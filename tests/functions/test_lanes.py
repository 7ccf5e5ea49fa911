"""The inference lane's bounded queue and the micro-batcher's (unit: no model, no server).

Work is held at a threading.Event the test opens, so "full" is a state the test builds,
not a race it hopes to win.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from edge.hybrid import HybridResult
from functions.batcher import MicroBatcher
from functions.exceptions import ServiceOverloadedError
from functions.lanes import (
    INFERENCE_NICENESS,
    RETRY_AFTER_S,
    CacheLane,
    InferenceLane,
    serving_session_config,
)

WAIT_S = 60


def test_a_full_lane_refuses_at_once_then_admits_again() -> None:
    """GIVEN a lane with 1 worker and max_queue=1, one call running (held) and one waiting
    WHEN a third call comes THEN ServiceOverloadedError (retry after 1 s, queued 1 of 1) at
    once; once the first two finish, a new call is admitted and runs."""
    lane = InferenceLane(workers=1, max_queue=1)
    gate, started = threading.Event(), threading.Event()

    def held() -> str:
        started.set()
        assert gate.wait(WAIT_S)
        return "done"

    async def main() -> tuple[list[str], ServiceOverloadedError, str]:
        first = asyncio.ensure_future(lane.run(held))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, WAIT_S)
        second = asyncio.ensure_future(lane.run(lambda: "second"))
        await asyncio.sleep(0)  # let it take its place (admission is synchronous)
        assert (lane.in_flight, lane.queued) == (2, 1)
        with pytest.raises(ServiceOverloadedError) as info:
            await lane.run(lambda: "third")
        gate.set()
        done = list(await asyncio.gather(first, second))
        again = await lane.run(lambda: "again")
        return done, info.value, again

    done, refused, again = asyncio.run(main())
    lane.close()
    assert done == ["done", "second"] and again == "again"
    assert (refused.retry_after_s, refused.queued, refused.limit) == (RETRY_AFTER_S, 1, 1)
    assert lane.refused == 1 and lane.in_flight == 0


def test_lanes_restart_after_close() -> None:
    """GIVEN lanes closed by an app's lifespan shutdown WHEN the app is started again and
    calls them THEN they run (new threads), rather than failing every request."""
    lane, cache_lane = InferenceLane(workers=1, max_queue=0), CacheLane(workers=1)
    assert asyncio.run(lane.run(lambda: 1)) == 1
    lane.close()
    cache_lane.close()
    assert asyncio.run(lane.run(lambda: 2)) == 2
    assert asyncio.run(cache_lane.run(lambda: 3)) == 3
    lane.close()
    cache_lane.close()


def test_nonsense_lane_settings_are_refused() -> None:
    """GIVEN zero workers or a negative queue WHEN a lane is built THEN ValueError."""
    with pytest.raises(ValueError):
        InferenceLane(workers=0, max_queue=1)
    with pytest.raises(ValueError):
        InferenceLane(workers=1, max_queue=-1)


def test_a_full_micro_batcher_refuses_with_overloaded() -> None:
    """GIVEN a batcher with max_pending=2 whose running batch is held WHEN two requests wait
    and a third arrives THEN the third gets ServiceOverloadedError at once and the two
    waiting ones are served once the batch finishes."""
    gate, started = threading.Event(), threading.Event()

    def run(texts: list[str]) -> HybridResult:
        started.set()
        assert gate.wait(WAIT_S)
        return HybridResult(np.zeros((len(texts), 2), np.float32), [False] * len(texts), "v1")

    async def main() -> list[int]:
        batcher = MicroBatcher(run, max_batch_size=1, wait_ms=0, max_pending=2)
        running = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, WAIT_S)
        waiting = [asyncio.ensure_future(batcher.submit([t])) for t in ("b", "c")]
        await asyncio.sleep(0)
        with pytest.raises(ServiceOverloadedError) as info:
            await batcher.submit(["d"])
        assert info.value.limit == 2
        gate.set()
        results = await asyncio.gather(running, *waiting)
        await batcher.aclose()
        return [len(r.vectors) for r in results]

    assert asyncio.run(main()) == [1, 1, 1]


def test_inference_runs_at_a_lower_cpu_priority_than_the_caller() -> None:
    """GIVEN an inference lane and a cache lane WHEN each reports its thread's nice value THEN
    the inference thread's is INFERENCE_NICENESS above the caller's and the cache lane's is
    the caller's own (cache reads keep full priority)."""
    import os

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    lane, cache_lane = InferenceLane(workers=1, max_queue=0), CacheLane(workers=1)
    try:
        inference_nice = asyncio.run(lane.run(nice))
        cache_nice = asyncio.run(cache_lane.run(nice))
    finally:
        lane.close()
        cache_lane.close()
    mine = nice()
    assert inference_nice == min(19, mine + INFERENCE_NICENESS)
    assert cache_nice == mine


def test_serving_session_config_splits_the_cores_between_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN the CPUs this process may use WHEN a server with 1, 2 or many workers asks for
    its ORT settings THEN each run gets cores // workers threads (at least 1); an explicit
    PRECAST_ORT_THREADS is left to decide."""
    import os

    from edge.session import ENV_THREADS

    monkeypatch.delenv(ENV_THREADS, raising=False)
    cores = len(os.sched_getaffinity(0))
    assert serving_session_config(1).intra_op_threads == cores
    assert serving_session_config(2).intra_op_threads == max(1, cores // 2)
    assert serving_session_config(10_000).intra_op_threads == 1
    monkeypatch.setenv(ENV_THREADS, "3")
    assert serving_session_config(2).resolved_threads() == 3


def test_the_local_host_serves_on_uvloop_and_httptools() -> None:
    """GIVEN the functions extra installed WHEN uvicorn resolves its automatic loop, and
    `precast serve` picks its HTTP protocol (the one bounding request heads) THEN they are
    uvloop and httptools: the C event loop and parser that keep the event loop's CPU per
    request low for cache hits."""
    import asyncio

    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from functions.local_protocol import limited_protocol

    served = limited_protocol(max_header_bytes=1024, header_timeout_s=1.0)
    assert issubclass(served, HttpToolsProtocol)

    config = uvicorn.Config(lambda *a: None, loop="auto", http="auto")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    loop_factory = config.get_loop_factory()
    assert loop_factory is not None
    loop = loop_factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
    asyncio.set_event_loop(None)
