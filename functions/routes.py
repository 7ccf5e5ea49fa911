"""The HTTP endpoints. Thin: read, validate, call the registry's hybrid path, shape JSON.

Blocking work (inference, cache I/O) runs in Starlette's threadpool or in the model's
micro-batcher, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.hybrid import HybridResult
from edge.limits import check_texts
from functions.batcher import MicroBatcher
from functions.body import (
    check_content_type,
    check_unicode,
    parse_json,
    predict_texts,
    read_body,
)
from functions.openapi import build_openapi
from functions.registry import ModelRegistry
from functions.settings import Settings


@dataclass(frozen=True)
class PredictStats:
    """What one predict request did; hosts turn it into metrics (Lambda: EMF)."""

    model: str
    items: int
    hits: int
    misses: int
    cache_error: str | None


PredictObserver = Callable[[PredictStats], None]


class Endpoints:
    def __init__(
        self,
        registry: ModelRegistry,
        settings: Settings,
        *,
        batchers: dict[str, MicroBatcher] | None = None,
        observer: PredictObserver | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.batchers = batchers or {}
        self.observer = observer
        self._openapi: dict[str, Any] | None = None

    async def healthz(self, request: Request) -> Response:
        versions = {n: self.registry.models[n].version for n in self.registry.names()}
        return JSONResponse(
            {"status": "ok", "models": versions, "cache": self.registry.cache is not None}
        )

    async def list_models(self, request: Request) -> Response:
        models = [self.registry.models[n].manifest.summary() for n in self.registry.names()]
        return JSONResponse({"models": models})

    async def model_info(self, request: Request) -> Response:
        model = self.registry.get(request.path_params["model"])
        return JSONResponse(model.manifest.summary())

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            self._openapi = build_openapi(self.registry, self.settings)
        return JSONResponse(self._openapi)

    async def predict(self, request: Request) -> Response:
        name = request.path_params["model"]
        model = self.registry.get(name)
        check_content_type(request)
        body = await read_body(request, self.settings.max_body_bytes)
        texts = check_unicode(check_texts(predict_texts(parse_json(body)), model.limits))
        result = await self._predict(name, texts)
        misses = len(result.cached) - result.hits
        if self.observer is not None:
            self.observer(PredictStats(name, len(texts), result.hits, misses, result.cache_error))
        return JSONResponse(
            {
                "model": name,
                "model_version": result.model_version,
                "predictions": result.vectors.tolist(),
                "cached": result.cached,
                "cache": {"hits": result.hits, "misses": misses, "error": result.cache_error},
            }
        )

    async def _predict(self, name: str, texts: list[str]) -> HybridResult:
        batcher = self.batchers.get(name)
        if batcher is not None:
            return await batcher.submit(texts)
        return await run_in_threadpool(self.registry.predict, name, texts)
