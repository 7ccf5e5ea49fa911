"""Helpers for the function tests: recorded events, EMF parsing, a live uvicorn server."""

from __future__ import annotations

import base64
import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

EVENTS = Path(__file__).resolve().parents[1] / "events"
LAMBDA_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "precast",
    "POWERTOOLS_SERVICE_NAME": "precast",
}


def load_event(name: str) -> dict[str, Any]:
    """A recorded Function URL event (payload 2.0) from tests/events/."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def with_body(event: dict[str, Any], body: bytes | str, *, b64: bool = False) -> dict[str, Any]:
    """A copy of ``event`` carrying ``body`` (Content-Length kept truthful)."""
    out = copy.deepcopy(event)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    out["body"] = base64.b64encode(raw).decode() if b64 else raw.decode("utf-8")
    out["isBase64Encoded"] = b64
    out["headers"]["content-length"] = str(len(raw))
    return out


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF objects powertools printed."""
    blobs = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def log_records(stdout: str) -> list[dict[str, Any]]:
    records = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' not in line:
            records.append(json.loads(line))
    return records


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def response_json(response: dict[str, Any]) -> Any:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return json.loads(body)


class LiveServer:
    """uvicorn serving an ASGI app in a thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:  # bounded poll for a condition; decides no assertion
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)  # (bounded poll, see above)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def assert_rows_identical(got: Any, reference: Any) -> None:
    """Row i of ``got`` is bit for bit text i's vector as ``edge`` computes it alone: on CPU
    every text runs alone (edge/execution.py), so batching, micro-batching and the cache
    change nothing, and a JSON round trip of a float32 is exact."""
    import numpy as np

    g = np.asarray(got, dtype=np.float32)
    r = np.asarray(reference, dtype=np.float32)
    assert g.shape == r.shape, (g.shape, r.shape)
    np.testing.assert_array_equal(g, r)


@contextmanager
def coalesce_by_size(batcher: Any, texts: int) -> Iterator[None]:
    """Make ``batcher`` start its next batch exactly when ``texts`` texts are queued (the time
    window becomes a 10-minute fallback), so "N concurrent requests form one batch" holds
    however fast the machine delivers them. Restores the batcher's settings afterwards."""
    saved = batcher.max_batch_size, batcher.wait_s
    batcher.max_batch_size, batcher.wait_s = texts, 600.0
    try:
        yield
    finally:
        batcher.max_batch_size, batcher.wait_s = saved


class LambdaTransport(httpx.BaseTransport):
    """httpx requests -> Function URL events (payload 2.0) -> a Lambda handler: ``invoke``
    takes the event and returns the Function URL response dict."""

    def __init__(self, invoke: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.invoke = invoke
        self.template = load_event("function_url_predict.json")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        event = copy.deepcopy(self.template)
        event["rawPath"] = event["requestContext"]["http"]["path"] = request.url.path
        event["rawQueryString"] = request.url.query.decode()
        event["queryStringParameters"] = dict(request.url.params)
        event["requestContext"]["http"]["method"] = request.method
        event["headers"] = {k.lower(): v for k, v in request.headers.items()}
        event["body"] = base64.b64encode(request.read()).decode()
        event["isBase64Encoded"] = True
        out = self.invoke(event)
        raw = out.get("body", "")
        data = base64.b64decode(raw) if out.get("isBase64Encoded") else raw.encode()
        return httpx.Response(out["statusCode"], headers=out.get("headers"), content=data)
