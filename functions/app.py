"""The one ASGI app every host serves: Lambda (Mangum), Modal (asgi_app) and local uvicorn.

    registry = ModelRegistry.from_settings(settings)      # models + cache, once per process
    app = create_app(registry, settings=settings)

Routes: ``POST /v1/models/{model}/predict``, ``GET /v1/models``, ``GET /v1/models/{model}``,
``GET /healthz``, ``GET /openapi.json``. The app owns its micro-batchers (stopped on
lifespan shutdown) but not the registry: the host that built the registry closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from functions.errors import EXCEPTION_HANDLERS, CatchAllMiddleware
from functions.registry import ModelRegistry
from functions.routes import Endpoints, PredictObserver
from functions.settings import Settings


def create_app(
    registry: ModelRegistry,
    *,
    settings: Settings,
    observer: PredictObserver | None = None,
    extra_routes: list[Route] | None = None,
) -> Starlette:
    """Build the app. ``settings.micro_batch`` turns on per-model request coalescing."""
    batchers = (
        registry.batchers(max_batch_size=settings.max_batch_size, wait_ms=settings.batch_wait_ms)
        if settings.micro_batch
        else {}
    )
    ep = Endpoints(registry, settings, batchers=batchers, observer=observer)
    routes = [
        Route("/healthz", ep.healthz, methods=["GET"]),
        Route("/openapi.json", ep.openapi, methods=["GET"]),
        Route("/v1/models", ep.list_models, methods=["GET"]),
        Route("/v1/models/{model}", ep.model_info, methods=["GET"]),
        Route("/v1/models/{model}/predict", ep.predict, methods=["POST"]),
        *(extra_routes or []),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for batcher in batchers.values():
                await batcher.aclose()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(CatchAllMiddleware)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.batchers = batchers
    return app
