"""The one ASGI app every host serves: Lambda (Mangum), Modal (asgi_app) and local uvicorn.

    registry = ModelRegistry.from_settings(settings)      # models + cache, once per process
    app = create_app(registry, settings=settings)

Routes: ``POST /v1/models/{model}/predict``, ``GET /v1/models``, ``GET /v1/models/{model}``,
``GET /healthz``, ``GET /openapi.json``, the client dialects of :mod:`functions.compat`
(OpenAI ``POST /v1/embeddings``, text-embeddings-inference ``POST /embed`` and
``GET /info``), and ``GET /metrics`` (Prometheus) when
``prometheus=True`` (local and Modal hosts). Every inference route answers through the
app's one :class:`~functions.inference.ServingPath` (its lanes and micro-batchers stop on
lifespan shutdown); the app does not own the registry: the host that built it closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from functions.compat import CompatEndpoints
from functions.compat_tasks import TaskEndpoints
from functions.errors import EXCEPTION_HANDLERS, CatchAllMiddleware
from functions.inference import PredictObserver, ServingPath
from functions.lanes import favour_event_loop
from functions.registry import ModelRegistry
from functions.routes import Endpoints
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
    path = ServingPath(registry, settings, observers=[observer] if observer is not None else [])
    metrics = None
    if prometheus:
        from functions.prometheus import PrometheusMetrics

        versions = {n: registry.models[n].version for n in registry.names()}
        metrics = PrometheusMetrics(versions, queue_depth=lambda: path.queue_depth)
        path.observers.append(metrics.observe_predict)
        path.on_batch = metrics.observe_batch
    ep = Endpoints(registry, settings, path, metrics_route=metrics is not None)
    compat = CompatEndpoints(registry, settings, path)
    tasks = TaskEndpoints(registry, settings, path)
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
            await path.aclose()

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.serving = path
    app.state.batchers = path.batchers
    app.state.inference = path.inference
    app.state.cache_lane = path.cache_lane
    app.state.metrics = metrics
    return app
