"""The HTTP endpoints. Thin: read, validate, call the registry's hybrid path, shape JSON.

Blocking work never runs on the event loop: a remote cache lookup runs on the cache lane
(a local SQLite read, sub-millisecond and never waiting for a writer, runs inline); a
request whose texts are all cached is answered without entering the inference lane (its
bounded queue answers 503 when full) or the model's micro-batcher. Cache
failures are logged, rate-limited (:mod:`functions.cache_log`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.cache.base import reads_are_local
from edge.host import host_kind
from edge.hybrid import HybridResult
from edge.labels import top_labels
from edge.limits import check_texts
from functions.batcher import MicroBatcher
from functions.body import (
    check_content_type,
    check_unicode,
    parse_json,
    predict_options,
    predict_texts,
    read_body,
)
from functions.cache_log import CacheFailureLog
from functions.lanes import CacheLane, InferenceLane
from functions.openapi import build_openapi
from functions.registry import ModelRegistry
from functions.settings import Settings

if TYPE_CHECKING:
    from edge.model import EdgeModel


@dataclass(frozen=True)
class PredictStats:
    """What one predict request did; hosts turn it into metrics (Lambda: EMF)."""

    model: str
    items: int
    hits: int
    misses: int
    cache_error: str | None


PredictObserver = Callable[[PredictStats], None]
BatchObserver = Callable[[str, int], None]  # (model, texts in one inference call)


def predictions(model: EdgeModel, rows: Any, top_k: int | None) -> list[Any]:
    """Embeddings as lists of floats; a classifier's probabilities as label + score, best
    first (``top_k`` of them)."""
    if model.manifest.task != "text-classification":
        return list(rows.tolist())
    return [top_labels(model.manifest.labels, row, top_k) for row in rows]


class Endpoints:
    def __init__(
        self,
        registry: ModelRegistry,
        settings: Settings,
        *,
        inference: InferenceLane,
        cache_lane: CacheLane,
        batchers: dict[str, MicroBatcher] | None = None,
        observers: list[PredictObserver] | None = None,
        on_batch: BatchObserver | None = None,
        cache_failures: CacheFailureLog | None = None,
        metrics_route: bool = False,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.inference = inference
        self.cache_lane = cache_lane
        self.batchers = batchers or {}
        self.observers = observers or []
        self.on_batch = on_batch
        self.cache_failures = cache_failures or CacheFailureLog()
        self.metrics_route = metrics_route
        self._openapi: dict[str, Any] | None = None

    async def healthz(self, request: Request) -> Response:
        models = self.registry.models
        versions = {n: models[n].version for n in self.registry.names()}
        certified = {n: models[n].certified for n in self.registry.names()}
        warnings = [
            f"{n}: {models[n].certification.describe()}" for n, ok in certified.items() if not ok
        ]
        return JSONResponse(
            {
                "status": "ok",
                "models": versions,
                "cache": self.registry.cache is not None,
                "host": host_kind(),
                "certified": certified,
                "warnings": warnings,
            }
        )

    async def list_models(self, request: Request) -> Response:
        models = [self.registry.models[n].manifest.summary() for n in self.registry.names()]
        return JSONResponse({"models": models})

    async def model_info(self, request: Request) -> Response:
        model = self.registry.get(request.path_params["model"])
        return JSONResponse(model.manifest.summary())

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            self._openapi = build_openapi(self.registry, self.settings, metrics=self.metrics_route)
        return JSONResponse(self._openapi)

    async def predict(self, request: Request) -> Response:
        name = request.path_params["model"]
        model = self.registry.get(name)
        check_content_type(request)
        body = await read_body(
            request, self.settings.max_body_bytes, timeout_s=self.settings.body_timeout_s
        )
        payload = parse_json(body)
        texts = check_unicode(check_texts(predict_texts(payload), model.limits))
        prompt_name, top_k = predict_options(payload)
        result = await self._predict(name, model.prompted(texts, prompt_name))
        misses = len(result.cached) - result.hits
        if result.cache_error is not None:
            self.cache_failures(name, result.cache_error)
        stats = PredictStats(name, len(texts), result.hits, misses, result.cache_error)
        for observe in self.observers:
            observe(stats)
        return JSONResponse(
            {
                "model": name,
                "model_version": result.model_version,
                "predictions": predictions(model, result.vectors, top_k),
                "cached": result.cached,
                "cache": {"hits": result.hits, "misses": misses, "error": result.cache_error},
            }
        )

    async def _predict(self, name: str, texts: list[str]) -> HybridResult:
        cache = self.registry.cache
        if cache is None or reads_are_local(cache):
            read = self.registry.read(name, texts)  # keys only, or a local SQLite read
        else:
            read = await self.cache_lane.run(self.registry.read, name, texts)
        if not read.misses:  # every text cached: assemble here, no inference lane
            return self.registry.predict(name, texts, enforce_limits=False, read=read)
        batcher = self.batchers.get(name)
        if batcher is not None:  # coalesced with other requests (looks the batch up again)
            return await batcher.submit(texts)
        if self.on_batch is not None:
            self.on_batch(name, len(read.misses))
        run = partial(self.registry.predict, name, texts, enforce_limits=False, read=read)
        return await self.inference.run(run)
