"""``GET /metrics`` in the Prometheus text format, for the local and Modal hosts.

Same numbers and names as the Lambda host's EMF metrics (:mod:`functions.metric_names`),
plus what only a long-lived server has: requests by route and status, texts per inference
call, the inference queue depth, 503 refusals, and the served model versions. One
``CollectorRegistry`` per app (no global state); ``prometheus_client`` is imported only by
hosts that serve ``/metrics`` (never on Lambda's cold-start path).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions import metric_names as names

if TYPE_CHECKING:
    from functions.inference import PredictStats

LATENCY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class PrometheusMetrics:
    def __init__(self, models: dict[str, str], queue_depth: Callable[[], float]) -> None:
        """``models``: name -> served version; ``queue_depth``: read at every scrape."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        http = ["method", "route", "status"]
        self.latency = Histogram(
            names.LATENCY.prometheus,
            names.LATENCY.help,
            http,
            buckets=LATENCY_BUCKETS_MS,
            registry=r,
        )
        self.requests = Counter(names.REQUESTS.prometheus, names.REQUESTS.help, http, registry=r)
        self.items = Counter(names.ITEMS.prometheus, names.ITEMS.help, ["model"], registry=r)
        self.hits = Counter(
            names.CACHE_HITS.prometheus, names.CACHE_HITS.help, ["model"], registry=r
        )
        self.misses = Counter(
            names.CACHE_MISSES.prometheus, names.CACHE_MISSES.help, ["model"], registry=r
        )
        self.unavailable = Counter(
            names.CACHE_UNAVAILABLE.prometheus, names.CACHE_UNAVAILABLE.help, ["model"], registry=r
        )
        self.batch_size = Histogram(
            names.BATCH_SIZE.prometheus,
            names.BATCH_SIZE.help,
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.overloaded = Counter(names.OVERLOADED.prometheus, names.OVERLOADED.help, registry=r)
        depth = Gauge(names.QUEUE_DEPTH.prometheus, names.QUEUE_DEPTH.help, registry=r)
        depth.set_function(queue_depth)
        info = Gauge(
            names.MODEL_INFO.prometheus, names.MODEL_INFO.help, ["model", "version"], registry=r
        )
        for model, version in models.items():
            info.labels(model=model, version=version).set(1)

    def observe_predict(self, stats: PredictStats) -> None:
        self.items.labels(stats.model).inc(stats.items)
        self.hits.labels(stats.model).inc(stats.hits)
        self.misses.labels(stats.model).inc(stats.misses)
        self.unavailable.labels(stats.model).inc(int(stats.cache_error is not None))

    def observe_batch(self, model: str, texts: int) -> None:
        self.batch_size.labels(model).observe(texts)

    def observe_request(self, method: str, route: str, status: int, ms: float) -> None:
        labels = (method, route, str(status))
        self.latency.labels(*labels).observe(ms)
        self.requests.labels(*labels).inc()
        if status == 503:
            self.overloaded.inc()

    async def endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Times every HTTP request (to the end of its response) and counts it by route."""

    def __init__(
        self, app: ASGIApp, *, metrics: PrometheusMetrics, routes: Sequence[BaseRoute]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _route(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", "other"))
        return "unmatched"  # bounded label set: unknown paths share one label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            ms = (time.perf_counter() - start) * 1000.0
            self.metrics.observe_request(scope["method"], self._route(scope), status, ms)
