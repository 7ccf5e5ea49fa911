"""precast's own endpoints. Thin: read and check the request once, call the one serving
path (:mod:`functions.inference`: cache lane, inference lane, micro-batcher, metrics,
cache-failure log), shape JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.host import host_kind
from edge.labels import top_labels
from edge.limits import check_texts
from functions.body import (
    check_content_type,
    check_unicode,
    parse_json,
    predict_options,
    predict_texts,
    read_body,
)
from functions.openapi import build_openapi
from functions.registry import ModelRegistry
from functions.settings import Settings

if TYPE_CHECKING:
    from edge.model import EdgeModel
    from functions.inference import ServingPath


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
        path: ServingPath,
        *,
        metrics_route: bool = False,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.path = path
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
        result = await self.path.serve(model, model.prompted(texts, prompt_name))
        return JSONResponse(
            {
                "model": name,
                "model_version": result.model_version,
                "predictions": predictions(model, result.vectors, top_k),
                "cached": result.cached,
                "cache": {
                    "hits": result.hits,
                    "misses": result.misses,
                    "error": result.cache_error,
                },
            }
        )
