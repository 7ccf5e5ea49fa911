"""The one ASGI app every host serves: Lambda (Mangum), Modal (asgi_app) and local uvicorn.

    registry = ModelRegistry.from_settings(settings)      # models + cache, once per process
    app = create_app(registry, settings=settings)

Routes: ``POST /v1/models/{model}/predict``, ``GET /v1/models``, ``GET /v1/models/{model}``,
``GET /healthz``, ``GET /openapi.json``, the client dialects of :mod:`functions.compat`
(OpenAI ``POST /v1/embeddings``, text-embeddings-inference ``POST /embed`` and
``GET /info``), and ``GET /metrics`` (Prometheus) when
``prometheus=True`` (local and Modal hosts). The app owns its lanes and micro-batchers
(stopped on lifespan shutdown) but not the registry: the host that built the registry
closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from functions.batcher import MicroBatcher
from functions.compat import CompatEndpoints
from functions.compat_tasks import TaskEndpoints
from functions.errors import EXCEPTION_HANDLERS, CatchAllMiddleware
from functions.lanes import CacheLane, InferenceLane, favour_event_loop
from functions.registry import ModelRegistry
from functions.routes import BatchObserver, Endpoints, PredictObserver
from functions.settings import Settings


def create_app(
    registry: ModelRegistry,
    *,
    settings: Settings,
    observer: PredictObserver | None = None,
    extra_routes: list[Route] | None = None,
    prometheus: bool = False,
) -> Starlette:
    """Build the app. ``settings.micro_batch`` turns on per-model request coalescing."""
    inference = InferenceLane(workers=settings.inference_workers, max_queue=settings.max_queue)
    cache_lane = CacheLane()
    observers = [observer] if observer is not None else []
    on_batch: BatchObserver | None = None
    metrics = None
    batchers: dict[str, MicroBatcher] = {}
    if prometheus:
        from functions.prometheus import PrometheusMetrics

        versions = {n: registry.models[n].version for n in registry.names()}
        metrics = PrometheusMetrics(
            versions,
            queue_depth=lambda: inference.queued + sum(b.pending for b in batchers.values()),
        )
        observers.append(metrics.observe_predict)
        on_batch = metrics.observe_batch
    if settings.micro_batch:
        batchers = registry.batchers(
            max_batch_size=settings.max_batch_size,
            wait_ms=settings.batch_wait_ms,
            max_pending=settings.max_queue,
            lane=inference,
            on_batch=on_batch,
        )
    ep = Endpoints(
        registry,
        settings,
        inference=inference,
        cache_lane=cache_lane,
        batchers=batchers,
        observers=observers,
        on_batch=on_batch,
        metrics_route=metrics is not None,
    )
    compat = CompatEndpoints(ep)
    tasks = TaskEndpoints(compat)
    routes = [
        Route("/healthz", ep.healthz, methods=["GET"]),
        Route("/openapi.json", ep.openapi, methods=["GET"]),
        Route("/v1/models", ep.list_models, methods=["GET"]),
        Route("/v1/models/{model}", ep.model_info, methods=["GET"]),
        Route("/v1/models/{model}/predict", ep.predict, methods=["POST"]),
        Route("/v1/embeddings", compat.openai_embeddings, methods=["POST"]),
        Route("/embed", compat.tei_embed, methods=["POST"]),
        Route("/predict", tasks.predict, methods=["POST"]),
        Route("/rerank", tasks.rerank, methods=["POST"]),
        Route("/info", compat.tei_info, methods=["GET"]),
        *(extra_routes or []),
    ]
    middleware = [Middleware(CatchAllMiddleware)]
    if metrics is not None:
        from functions.prometheus import RequestMetricsMiddleware

        routes.append(Route("/metrics", metrics.endpoint, methods=["GET"]))
        middleware.insert(0, Middleware(RequestMetricsMiddleware, metrics=metrics, routes=routes))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        favour_event_loop()  # this process serves requests: keep hits' GIL waits short
        try:
            yield
        finally:
            for batcher in batchers.values():
                await batcher.aclose()
            inference.close()
            cache_lane.close()

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.batchers = batchers
    app.state.inference = inference
    app.state.cache_lane = cache_lane
    app.state.metrics = metrics
    return app
