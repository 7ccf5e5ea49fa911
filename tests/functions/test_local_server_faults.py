"""The local server under faults, over real HTTP on loopback: slow and vanishing clients, a
full inference queue, cache hits while inference is busy, a cache that fails, /metrics.

Nothing here waits on the clock to decide an assertion: inference is held at a gate the
test opens, and the test waits for events the server emits (a log record, a worker that
entered the gate, the lane's own counters).
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from function_events import LiveServer

from edge.cache import SQLiteCache
from edge.hybrid import CacheRead, HybridResult, Item
from functions.cache_log import CacheFailureLog
from functions.local_host import create_local_app
from functions.registry import ModelRegistry
from functions.settings import Settings
from optimize import corpus

pytestmark = pytest.mark.integration
PREDICT = "/v1/models/minilm/predict"
WAIT_S = 60  # upper bound for a synchronization that normally takes milliseconds


class GatedRegistry(ModelRegistry):
    """The real registry, except that inference (a call with misses) waits at a gate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Semaphore(0)

    def serve(
        self, name: str, items: Sequence[Item], *, read: CacheRead | None = None
    ) -> HybridResult:
        if read is None or read.misses:
            self.entered.release()
            assert self.gate.wait(WAIT_S), "the test never opened the gate"
        return super().serve(name, items, read=read)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():  # a bounded wait for a state the server reaches; decides nothing
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.005)


@pytest.fixture
def gated(sample_model: Any, tmp_path: Path) -> Iterator[tuple[LiveServer, GatedRegistry]]:
    registry = GatedRegistry({sample_model.name: sample_model}, SQLiteCache(tmp_path / "c.sqlite"))
    settings = Settings(
        artifact_dirs=(sample_model.directory,),
        inference_workers=1,
        max_queue=1,
        body_timeout_s=0.5,
    )
    app = create_local_app(registry, settings)
    with LiveServer(app) as live:
        live.app = app  # type: ignore[attr-defined]
        yield live, registry
        registry.gate.set()
    app.state.replay.close()
    registry.close()


def _post(url: str, texts: list[str]) -> httpx.Response:
    return httpx.post(f"{url}{PREDICT}", json={"inputs": texts}, timeout=WAIT_S)


def test_hits_are_served_while_inference_is_busy_and_a_full_queue_is_503(
    gated: tuple[LiveServer, GatedRegistry],
) -> None:
    """GIVEN one inference worker held at a gate by request A, and request B waiting for it
    (max_queue=1) WHEN a third miss arrives THEN it is refused at once with 503 and
    Retry-After; AND a request whose text is cached is answered 200 from the cache while the
    gate is still closed; THEN A and B complete once the gate opens."""
    server, registry = gated
    cached_text, a, b, c = corpus.sample(4, offset=3100)
    assert _post(server.url, [cached_text]).status_code == 200  # now in the cache
    assert registry.entered.acquire(timeout=WAIT_S)
    registry.gate.clear()
    lane = server.app.state.inference  # type: ignore[attr-defined]
    results: dict[str, httpx.Response] = {}
    threads = [
        threading.Thread(target=lambda t=t: results.__setitem__(t, _post(server.url, [t])))
        for t in (a, b)
    ]
    threads[0].start()
    assert registry.entered.acquire(timeout=WAIT_S)  # A holds the only worker
    threads[1].start()
    _wait_until(lambda: lane.queued == 1)  # B waits for it
    assert "precast_queue_depth 1.0" in httpx.get(f"{server.url}/metrics").text

    refused = _post(server.url, [c])
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert (error["type"], error["limit"], error["allowed"]) == ("overloaded", "max_queue", 1)

    hit = _post(server.url, [cached_text])
    assert hit.status_code == 200
    assert hit.json()["cached"] == [True]
    assert not registry.gate.is_set()  # answered while inference was still held

    registry.gate.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert [results[t].status_code for t in (a, b)] == [200, 200]

    metrics = httpx.get(f"{server.url}/metrics").text
    assert "precast_overloaded_total 1.0" in metrics
    assert (
        'precast_requests_total{method="POST",route="/v1/models/{model}/predict",status="503"} 1.0'
        in metrics
    )


class RemoteLikeCache:
    """The real SQLite cache seen as a remote backend: same data, but it does not say its
    reads are local, so the server must send its lookups to the cache lane."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteCache(path)

    def get_many(self, model_version: str, keys: Sequence[str]) -> Any:
        return self.inner.get_many(model_version, keys)

    def put_many(self, entries: Sequence[Any]) -> int:
        return self.inner.put_many(entries)

    def reconnect(self) -> None:
        self.inner.reconnect()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("backend", ["sqlite", "remote"])
def test_local_cache_reads_skip_the_cache_lane_and_the_gil_interval_is_short(
    sample_model: Any, tmp_path: Path, backend: str
) -> None:
    """GIVEN a server whose cache is the local SQLite file, or the same file behind a backend
    that does not declare local reads WHEN a text is computed and then asked again (a hit)
    THEN the hit is served in both cases, the SQLite lookups never start a cache-lane thread
    while the remote-like backend's do; AND a serving app shortens the GIL switch interval
    to GIL_SWITCH_INTERVAL_S (so a hit's GIL waits behind busy inference stay short)."""
    import sys

    from functions.lanes import GIL_SWITCH_INTERVAL_S

    path = tmp_path / "c.sqlite"
    cache: Any = SQLiteCache(path) if backend == "sqlite" else RemoteLikeCache(path)
    registry = ModelRegistry({sample_model.name: sample_model}, cache)
    app = create_local_app(registry, Settings(artifact_dirs=(sample_model.directory,)))
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # CPython's default (an earlier server here shortened it)
    try:
        with LiveServer(app) as server:
            assert sys.getswitchinterval() == GIL_SWITCH_INTERVAL_S
            text = corpus.sample(1, offset=3300)[0]
            assert _post(server.url, [text]).json()["cached"] == [False]
            assert _post(server.url, [text]).json()["cached"] == [True]
            lane_threads = app.state.cache_lane._threads._executor  # started on first use
            assert (lane_threads is None) == (backend == "sqlite")
    finally:
        sys.setswitchinterval(before)
        app.state.replay.close()
        registry.close()


class _Records(logging.Handler):
    """Collects records of one logger; ``seen`` is set when one matching ``needle`` arrives."""

    def __init__(self, needle: str) -> None:
        super().__init__(logging.DEBUG)
        self.needle = needle
        self.records: list[logging.LogRecord] = []
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if self.needle in record.getMessage():
            self.seen.set()


@pytest.fixture
def app_log() -> Iterator[Callable[[str], _Records]]:
    logger = logging.getLogger("precast.functions")
    handlers: list[_Records] = []
    previous = logger.level
    logger.setLevel(logging.DEBUG)

    def attach(needle: str) -> _Records:
        handler = _Records(needle)
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    yield attach
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(previous)


def _partial_request(port: int, *, declared: int, sent: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def test_a_client_that_disconnects_mid_body_is_logged_at_info(
    gated: tuple[LiveServer, GatedRegistry], app_log: Callable[[str], _Records]
) -> None:
    """GIVEN a client that declares 1,000 bytes, sends 14 and hangs up WHEN the server notices
    THEN it logs the disconnect at INFO, and nothing at ERROR (no traceback, no fault)."""
    server, _ = gated
    log = app_log("disconnected")
    _partial_request(server.port, declared=1000, sent=b'{"inputs": ["x').close()
    assert log.seen.wait(WAIT_S)
    (record,) = [r for r in log.records if "disconnected" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert "after 14 bytes" in record.getMessage()
    assert not [r for r in log.records if r.levelno >= logging.ERROR]


def test_a_body_that_never_completes_gets_408_at_the_deadline(
    gated: tuple[LiveServer, GatedRegistry],
) -> None:
    """GIVEN body_timeout_s=0.5 and a client that declares 1,000 bytes, sends 14 and waits
    WHEN the deadline passes THEN the server answers 408 body_timeout (it does not hold the
    connection for as long as the client likes)."""
    server, _ = gated
    sock = _partial_request(server.port, declared=1000, sent=b'{"inputs": ["x')
    try:
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)  # blocks until the server answers (socket timeout: WAIT_S)
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_cache_failures_are_logged_rate_limited_and_served_live(
    sample_model: Any, tmp_path: Path, app_log: Callable[[str], _Records]
) -> None:
    """GIVEN a SQLite cache whose table is gone (every read fails) WHEN three requests arrive
    THEN all three are served live with cache.error set, one WARNING names the failure, and
    /metrics counts three cache-unavailable requests."""
    path = tmp_path / "broken.sqlite"
    cache = SQLiteCache(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE predictions")
    registry = ModelRegistry({sample_model.name: sample_model}, cache)
    app = create_local_app(registry, Settings(artifact_dirs=(sample_model.directory,)))
    log = app_log("prediction cache failed")
    with LiveServer(app) as server:
        bodies = [_post(server.url, corpus.sample(1, offset=3200 + i)).json() for i in range(3)]
        metrics = httpx.get(f"{server.url}/metrics").text
    app.state.replay.close()
    registry.close()
    assert all(b["cache"]["error"] and b["cached"] == [False] for b in bodies)
    warnings = [r for r in log.records if "prediction cache failed" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "SQLite cache read failed" in warnings[0].getMessage()
    assert 'precast_cache_unavailable_total{model="minilm"} 3.0' in metrics


def test_cache_failure_log_logs_once_per_interval_with_the_suppressed_count() -> None:
    """GIVEN a CacheFailureLog with a 60 s interval and an injected clock WHEN failures come
    at t=0, 1, 2, 61 THEN the first and the fourth are logged, the fourth saying 2 more."""
    now = [0.0]
    logger = logging.getLogger("precast.test.cache_log")
    handler = _Records("cache failed")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        log = CacheFailureLog(interval_s=60.0, clock=lambda: now[0], log=logger)
        logged = []
        for t in (0.0, 1.0, 2.0, 61.0):
            now[0] = t
            logged.append(log("minilm", "timeout"))
    finally:
        logger.removeHandler(handler)
    assert logged == [True, False, False, True]
    assert "0 more failures" in handler.records[0].getMessage()
    assert "2 more failures" in handler.records[1].getMessage()
