"""Local host: the same app on uvicorn, behaving like a Function URL (``precast serve``).

Besides the API routes it answers the Lambda runtime interface emulator's path,
``POST /2015-03-31/functions/function/invocations``: the body is a Lambda event (e.g. a
recorded Function URL event from tests/events/), run through the very wrapper the Lambda
host uses (Mangum + powertools Logger/Metrics), and the handler's return value is the
response body, as the emulator returns it. Any JSON is handed over, as Lambda would: the
handler answers events it does not serve with a 400 refusal of its own. That replay path
shares the loaded models and cache but not the micro-batchers: Mangum drives its own
event loop, in a dedicated thread.

``GET /metrics`` serves the Prometheus metrics (:mod:`functions.prometheus`), and a request
body must arrive within ``body_timeout_s`` (408 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.environment import DEFAULT_HEADER_TIMEOUT_S, DEFAULT_MAX_HEADER_BYTES
from functions.app import create_app
from functions.body import parse_json, read_body
from functions.lambda_host import MetricsObserver, build_handler, make_logger, make_metrics
from functions.registry import ModelRegistry
from functions.settings import Settings

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
LOCAL_FUNCTION_NAME = "precast-local"


@dataclass
class LocalLambdaContext:
    """The attributes of a Lambda context that Mangum and powertools read."""

    function_name: str = LOCAL_FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = (
        f"arn:aws:lambda:us-east-1:000000000000:function:{LOCAL_FUNCTION_NAME}"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{LOCAL_FUNCTION_NAME}"
    log_stream_name: str = "local"
    timeout_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


class LambdaEventReplay:
    """Runs Lambda events through ``build_handler(Mangum(app))`` one at a time, like Lambda."""

    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.metrics = make_metrics()
        plain = replace(settings, micro_batch=False)
        app = create_app(registry, settings=plain, observer=MetricsObserver(self.metrics))
        self.handler = build_handler(
            Mangum(app, lifespan="off"), logger=make_logger(), metrics=self.metrics
        )
        # Mangum drives its own event loop, so invocations run off uvicorn's, one at a time.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="precast-replay")
        self._max_body = settings.max_body_bytes * 2  # an event wraps (and may base64) a body
        self._body_timeout_s = settings.body_timeout_s
        self._lock = threading.Lock()

    def invoke(self, event: Any) -> dict[str, Any]:
        with self._lock:
            return self.handler(event, LocalLambdaContext())

    async def endpoint(self, request: Request) -> Response:
        body = await read_body(request, self._max_body, timeout_s=self._body_timeout_s)
        event = parse_json(body)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, self.invoke, event)
        return Response(json.dumps(result), media_type="application/json")

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def create_local_app(
    registry: ModelRegistry, settings: Settings, *, api_token: str | None = None
) -> Starlette:
    """The API (micro-batched if ``settings.micro_batch``) plus the Lambda replay route;
    with ``api_token`` every route but /healthz needs it as a bearer token
    (:mod:`functions.auth`)."""
    replay = LambdaEventReplay(registry, settings)
    app = create_app(
        registry,
        settings=settings,
        extra_routes=[Route(INVOKE_PATH, replay.endpoint, methods=["POST"])],
        prometheus=True,
    )
    app.state.replay = replay
    if api_token is not None:
        from functions.auth import BearerAuthMiddleware

        app.add_middleware(BearerAuthMiddleware, token=api_token)
    return app


def serve(
    registry: ModelRegistry,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
    api_token: str | None = None,
) -> None:
    """Run uvicorn until interrupted, then close the replay thread and the registry.

    HTTP/1.1 is httptools (on uvloop) with bounded request heads
    (:mod:`functions.local_protocol`): over
    ``max_header_bytes`` is a 431, not complete within ``header_timeout_s`` a 408.

    The app's own logs (``precast.functions``: cache failures, client disconnects, faults)
    go to stderr at ``log_level``, next to uvicorn's.
    """
    import uvicorn

    from functions.local_protocol import limited_protocol

    app_logger = logging.getLogger("precast.functions")
    if not app_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        app_logger.addHandler(handler)
        app_logger.setLevel(log_level.upper())
        app_logger.propagate = False
    app = create_local_app(registry, settings, api_token=api_token)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            http=limited_protocol(
                max_header_bytes=max_header_bytes, header_timeout_s=header_timeout_s
            ),
        )
    finally:
        app.state.replay.close()
        registry.close()
