"""The local host over real HTTP: uvicorn on a loopback port, SQLite cache, micro-batching."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from function_events import (
    LiveServer,
    assert_rows_identical,
    coalesce_by_size,
    free_port,
    load_event,
)

from edge.cache import SQLiteCache
from functions.local_host import INVOKE_PATH, create_local_app
from functions.registry import ModelRegistry
from functions.settings import Settings
from optimize import corpus

pytestmark = pytest.mark.integration
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def server(sample_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    cache = SQLiteCache(tmp_path_factory.mktemp("serve") / "cache.sqlite")
    registry = ModelRegistry({sample_model.name: sample_model}, cache)
    settings = Settings(
        artifact_dirs=(sample_model.directory,),
        max_body_bytes=MAX_BODY,
        micro_batch=True,
        batch_wait_ms=25,
        max_batch_size=64,
    )
    app = create_local_app(registry, settings)
    with LiveServer(app) as live:
        live.app = app  # type: ignore[attr-defined]
        yield live
    app.state.replay.close()


def _predict(url: str, texts: list[str]) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/models/minilm/predict", json={"inputs": texts}, timeout=60)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_healthz_over_http(server: LiveServer, sample_model: Any) -> None:
    """GIVEN the local server WHEN GET /healthz THEN 200 with the served version."""
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200
    assert r.json()["models"] == {"minilm": sample_model.version}


def test_miss_then_hit_over_http(server: LiveServer) -> None:
    """GIVEN new texts WHEN posted twice THEN misses then hits, identical vectors."""
    texts = corpus.sample(3, offset=600)
    first, second = _predict(server.url, texts), _predict(server.url, texts)
    assert first["cached"] == [False] * 3 and second["cached"] == [True] * 3
    assert first["predictions"] == second["predictions"]


def test_concurrent_requests_are_coalesced_without_changing_results(
    server: LiveServer, sample_model: Any
) -> None:
    """GIVEN 16 clients posting at once (1-3 new texts each) WHEN micro-batching is on and
    the batcher starts a batch when all their texts are queued THEN one predict call served
    all 16, and every client got the vectors a single uncached call gives for its texts
    (bit for bit: on CPU each text runs alone)."""
    requests = [corpus.sample(1 + i % 3, offset=700 + 5 * i) for i in range(16)]
    batcher = server.app.state.batchers["minilm"]  # type: ignore[attr-defined]
    before_batches, before_requests = batcher.batches, batcher.requests

    async def fire() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            responses = await asyncio.gather(
                *(client.post("/v1/models/minilm/predict", json={"inputs": t}) for t in requests)
            )
        return [r.json() for r in responses]

    with coalesce_by_size(batcher, sum(len(t) for t in requests)):
        bodies = asyncio.run(fire())
    assert batcher.requests - before_requests == 16
    assert batcher.batches - before_batches == 1
    every_text = [t for texts in requests for t in texts]
    alone = np.stack([sample_model.predict([t])[0] for t in every_text])
    got = []
    for texts, body in zip(requests, bodies, strict=True):
        assert body["cached"] == [False] * len(texts)
        got.extend(body["predictions"])
    assert_rows_identical(got, alone)


def test_streamed_body_over_the_cap_is_413(server: LiveServer) -> None:
    """GIVEN a chunked upload with no Content-Length WHEN it passes max_body_bytes THEN 413,
    decided while reading (the rest is never parsed)."""

    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": ["'
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"a" * 1024
        yield b'"]}'

    r = httpx.post(
        f"{server.url}/v1/models/minilm/predict",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["limit"] == "max_body_bytes"
    assert r.json()["error"]["allowed"] == MAX_BODY


def test_declared_length_over_the_cap_is_413(server: LiveServer) -> None:
    """GIVEN Content-Length over the cap WHEN posted THEN 413 states the declared size."""
    body = json.dumps({"inputs": ["b" * MAX_BODY]}).encode()
    r = httpx.post(f"{server.url}/v1/models/minilm/predict", content=body)
    assert r.status_code == 413
    assert r.json()["error"]["actual"] == len(body)


def test_recorded_lambda_event_replays_through_the_handler(server: LiveServer, invoke: Any) -> None:
    """GIVEN the recorded Function URL predict event WHEN posted to the emulator path THEN the
    answer is the Lambda handler's response dict, with the same vectors Lambda gives."""
    event = load_event("function_url_predict.json")
    r = httpx.post(f"{server.url}{INVOKE_PATH}", json=event, timeout=60)
    assert r.status_code == 200
    replayed = r.json()
    assert replayed["statusCode"] == 200
    assert replayed["headers"]["content-type"] == "application/json"
    local = json.loads(replayed["body"])
    on_lambda = json.loads(invoke(event)["body"])
    np.testing.assert_allclose(local["predictions"], on_lambda["predictions"], atol=1e-6)


def test_replay_path_hands_any_json_to_the_handler(server: LiveServer) -> None:
    """GIVEN a plain predict body (not a Lambda event) on the emulator path WHEN posted THEN
    the emulator answers 200 with the handler's own refusal: a 400 Function URL response."""
    r = httpx.post(f"{server.url}{INVOKE_PATH}", json={"inputs": ["x"]})
    assert r.status_code == 200
    assert r.json()["statusCode"] == 400
    error = json.loads(r.json()["body"])["error"]
    assert error["type"] == "unsupported_event"
    assert "Function URL events" in error["message"]


@pytest.mark.slow
def test_precast_serve_command(repo_root: Path, sample_artifact: Path, tmp_path: Path) -> None:
    """GIVEN `precast serve minilm` in a subprocess WHEN queried over HTTP THEN it serves the
    latest artifact with the given cache, and stops cleanly on SIGINT."""
    port = free_port()
    cache = tmp_path / "serve.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "precast.cli", "serve", "minilm", "--port", str(port),
         "--cache", f"sqlite:{cache}", "--log-level", "warning"],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "POWERTOOLS_TRACE_DISABLED": "true"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stdout.read() if proc.stdout else "") from None
                time.sleep(0.2)  # bounded poll until it answers; decides no assertion
        assert health.json()["cache"] is True
        texts = corpus.sample(2, offset=900)
        assert _predict(url, texts)["cached"] == [False, False]
        assert _predict(url, texts)["cached"] == [True, True]
        assert SQLiteCache(cache).count() >= 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"on http://127.0.0.1:{port}" in out
