"""Lambda wiring: powertools Logger, Metrics and Tracer around a Mangum handler.

Kept apart from ``lambda_handler.py`` (which is only module-level assembly) so the local
server can replay a recorded Function URL event through exactly the same wrapper.

Every event gets an answer: :mod:`functions.lambda_events` checks it first (400 for a
malformed Function URL event, a logged 400 refusal for any other event source), and a fault
in the adapter itself is a logged 500. Each invocation logs one ``request`` line and its
``Latency``, whatever the event was.

Metrics (CloudWatch EMF, namespace ``precast``, flushed once per invocation; names in
:mod:`functions.metric_names`): ``Latency`` (ms, every invocation), ``Items``,
``CacheHits``, ``CacheMisses`` and ``CacheUnavailable`` (0/1; every inference route), and
powertools' own ``ColdStart``.

The X-Ray SDK costs ~0.6 s of imports (it pulls botocore), so the Tracer is only built when
tracing is on: inside Lambda and ``POWERTOOLS_TRACE_DISABLED`` not true (powertools' rule).
Off Lambda there is no daemon and no tracer.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from functions import metric_names as names
from functions.errors import INTERNAL_ERROR_MESSAGE, error_body, request_error_body
from functions.exceptions import RequestError
from functions.inference import PredictStats
from functions.lambda_events import describe, read_event

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

ENV_SERVICE = "POWERTOOLS_SERVICE_NAME"
ENV_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"
DEFAULT_SERVICE = "precast"
DEFAULT_NAMESPACE = "precast"

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_logger(environ: Mapping[str, str] | None = None) -> Logger:
    env = os.environ if environ is None else environ
    return Logger(service=env.get(ENV_SERVICE, DEFAULT_SERVICE))


def make_metrics(environ: Mapping[str, str] | None = None) -> Metrics:
    env = os.environ if environ is None else environ
    return Metrics(
        namespace=env.get(ENV_NAMESPACE, DEFAULT_NAMESPACE),
        service=env.get(ENV_SERVICE, DEFAULT_SERVICE),
    )


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get(ENV_TRACE_DISABLED, "false").strip().lower() in ("1", "true", "yes", "on"):
        return False
    in_lambda = bool(env.get("LAMBDA_TASK_ROOT"))
    emulated = bool(env.get("AWS_SAM_LOCAL") or env.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated


def make_tracer(
    *, patch_botocore: bool = False, environ: Mapping[str, str] | None = None
) -> Tracer | None:
    """A Tracer when tracing is on, else None. Patches botocore only for a DynamoDB cache."""
    if not tracing_enabled(environ):
        return None
    from aws_lambda_powertools import Tracer

    env = os.environ if environ is None else environ
    tracer = Tracer(service=env.get(ENV_SERVICE, DEFAULT_SERVICE), auto_patch=False)
    if patch_botocore:
        tracer.patch(["botocore"])
    return tracer


class MetricsObserver:
    """Records one predict request's numbers on the invocation's EMF blob."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, stats: PredictStats) -> None:
        values = (stats.items, stats.hits, stats.misses, int(stats.cache_error is not None))
        for metric, value in zip(names.PREDICT_EMF, values, strict=True):
            self.metrics.add_metric(name=metric.emf, unit=MetricUnit(metric.unit), value=value)
        m = self.metrics
        m.add_metadata(key="model", value=stats.model)
        if stats.cache_error is not None:
            m.add_metadata(key="cache_error", value=stats.cache_error)


def build_handler(
    asgi_handler: LambdaHandler,
    *,
    logger: Logger,
    metrics: Metrics,
    tracer: Tracer | None = None,
) -> LambdaHandler:
    """Wrap ``Mangum(app)``: correlation id from ``requestContext.requestId``, Latency, flush.

    Mangum runs each request on the calling thread's current event loop. The wrapper pins
    its own loop there first, so code that ended the thread's loop in between (anything
    calling ``asyncio.run`` in the same process) cannot break the next invocation.
    """
    loop = asyncio.new_event_loop()

    def respond(event: Any, context: Any) -> tuple[dict[str, Any], str | None, str | None]:
        """The response, the method and the path; never raises."""
        try:
            request = read_event(event)
        except RequestError as exc:
            logger.warning(
                "refused event",
                extra={"event_type": describe(event), "error": exc.error_type, "reason": str(exc)},
            )
            return _function_url_response(exc.status, request_error_body(exc)), None, None
        try:
            response = asgi_handler(request.event, context)
        except Exception:
            logger.exception("the ASGI adapter failed", extra={"path": request.path})
            body = error_body("internal_error", INTERNAL_ERROR_MESSAGE)
            response = _function_url_response(500, body)
        return response, request.method, request.path

    def handle(event: Any, context: Any) -> dict[str, Any]:
        asyncio.set_event_loop(loop)
        start = time.perf_counter()
        response, method, path = respond(event, context)
        latency_ms = (time.perf_counter() - start) * 1000.0
        metrics.add_metric(
            name=names.LATENCY.emf, unit=MetricUnit(names.LATENCY.unit), value=latency_ms
        )
        logger.info(
            "request",
            extra={
                "method": method,
                "path": path,
                "status": response.get("statusCode"),
                "latency_ms": round(latency_ms, 2),
            },
        )
        return response

    wrapped: LambdaHandler = metrics.log_metrics(handle, capture_cold_start_metric=True)
    if tracer is not None:
        wrapped = tracer.capture_lambda_handler(wrapped, capture_response=False)
    injected: LambdaHandler = logger.inject_lambda_context(
        wrapped, correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL, clear_state=True
    )
    return injected


def _function_url_response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
