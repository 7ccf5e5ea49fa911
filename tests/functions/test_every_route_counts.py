"""Every inference route counts its cache hits and misses, and logs a cache failure.

One request that misses, then the same request that hits, on each route that answers with
model output: ``/v1/models/{model}/predict``, OpenAI ``/v1/embeddings``, TEI ``/embed``,
``/predict`` (a text, and a sentence pair) and ``/rerank``. Prometheus ``/metrics`` (local
and Modal hosts, with and without micro-batching) and the Lambda host's EMF blob must each
count exactly one miss, then exactly one hit; a cache that fails is logged (rate-limited
WARNING) and counted as unavailable, whatever the route.

The classifier and the ranker are the sample MiniLM under another manifest task (a head
made of its first embedding values): what is tested is the serving path, not the model.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from function_events import LambdaTransport, emf_blobs
from mangum import Mangum
from starlette.testclient import TestClient

from edge.cache import CacheEntry, SQLiteCache
from edge.exceptions import CacheError
from edge.model import EdgeModel
from edge.pooling import sigmoid, softmax
from edge.tokenization import Encoded
from functions import metric_names as names
from functions.app import create_app
from functions.cache_log import logger as cache_logger
from functions.lambda_host import MetricsObserver, build_handler, make_logger, make_metrics
from functions.local_host import LocalLambdaContext
from functions.registry import ModelRegistry
from functions.settings import Settings

LABELS = ("negative", "neutral", "positive")
F32 = np.ndarray[Any, np.dtype[np.float32]]


class Head(EdgeModel):
    """The sample model with a task head: its first embedding values as logits."""

    def __init__(self, base: EdgeModel, name: str, task: str) -> None:
        labels = LABELS if task == "text-classification" else ()
        manifest = replace(
            base.manifest,
            name=name,
            task=task,
            version=f"{base.version}-{name}",
            labels=labels,
            problem_type="single_label_classification" if labels else "",
            prompts={},
            default_prompt_name="",
        )
        super().__init__(base.directory, manifest, base.session, plan=base.plan)
        self.base = base

    def predict_encoded(self, encoded: list[Encoded], **kwargs: Any) -> F32:
        rows = self.base.predict_encoded(encoded, **kwargs)
        if self.manifest.task == "text-classification":
            return softmax(rows[:, : len(LABELS)])
        return sigmoid(rows[:, :1])


# (route, body); each names its model, as a client must when several are served
ROUTES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "predict": ("minilm", "/v1/models/minilm/predict", {"inputs": ["{text}"]}),
    "openai": ("minilm", "/v1/embeddings", {"model": "minilm", "input": ["{text}"]}),
    "tei-embed": ("minilm", "/embed?model=minilm", {"inputs": ["{text}"]}),
    "tei-predict": ("labels", "/predict?model=labels", {"inputs": "{text}"}),
    "tei-predict-pair": ("labels", "/predict?model=labels", {"inputs": ["{text}", "a pair"]}),
    "tei-rerank": ("ranker", "/rerank?model=ranker", {"query": "a query", "texts": ["{text}"]}),
}


def _body(route: str, text: str) -> tuple[str, str, dict[str, Any]]:
    model, path, body = ROUTES[route]

    def fill(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace("{text}", text)
        if isinstance(v, list):
            return [fill(x) for x in v]
        return v

    return model, path, {k: fill(v) for k, v in body.items()}


def _answer(body: Any) -> Any:
    """What the model said, without what the cache did (our route reports both)."""
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in ("cached", "cache")}
    return body


class CountingCache(SQLiteCache):
    """The SQLite cache, counting its lookups."""

    reads = 0

    def get_many(self, model_version: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        self.reads += 1
        return super().get_many(model_version, keys)


class DownCache(SQLiteCache):
    """A remote-style cache (read on the cache lane) whose every read fails."""

    reads_are_local = False

    def get_many(self, model_version: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        raise CacheError("the cache is down")


@pytest.fixture(scope="module")
def models(sample_model: EdgeModel) -> dict[str, EdgeModel]:
    return {
        "minilm": sample_model,
        "labels": Head(sample_model, "labels", "text-classification"),
        "ranker": Head(sample_model, "ranker", "text-ranking"),
    }


@pytest.fixture
def registry(models: dict[str, EdgeModel], tmp_path: Path) -> Iterator[ModelRegistry]:
    registry = ModelRegistry(models, CountingCache(tmp_path / "cache.sqlite"))
    yield registry
    registry.close()


def _settings(models: dict[str, EdgeModel], micro_batch: bool) -> Settings:
    return Settings(
        artifact_dirs=tuple(m.directory for m in models.values()),
        micro_batch=micro_batch,
        batch_wait_ms=0,
    )


def _counter(scraped: str, metric: names.Metric, model: str) -> float:
    found = re.search(
        rf'^{metric.prometheus}_total{{model="{re.escape(model)}"}} (\S+)$', scraped, re.M
    )
    return float(found.group(1)) if found else 0.0


def _counts(scraped: str, model: str) -> tuple[float, float, float, float]:
    return (
        _counter(scraped, names.ITEMS, model),
        _counter(scraped, names.CACHE_HITS, model),
        _counter(scraped, names.CACHE_MISSES, model),
        _counter(scraped, names.CACHE_UNAVAILABLE, model),
    )


@pytest.mark.parametrize("micro_batch", [False, True], ids=["direct", "micro-batched"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_prometheus_counts_one_miss_then_one_hit(
    route: str, micro_batch: bool, registry: ModelRegistry, models: dict[str, EdgeModel]
) -> None:
    """GIVEN the local/Modal app with /metrics WHEN a request misses and the same request
    comes again THEN /metrics counts one item and one miss, then one more item and one hit,
    on every inference route; each request reads the cache once, micro-batched or not."""
    cache = registry.cache
    assert isinstance(cache, CountingCache)
    app = create_app(registry, settings=_settings(models, micro_batch), prometheus=True)
    model, path, body = _body(route, f"every route counts {route} {micro_batch}")
    with TestClient(app) as client:
        first = client.post(path, json=body)
        assert first.status_code == 200, first.text
        assert _counts(client.get("/metrics").text, model) == (1, 0, 1, 0)
        assert cache.reads == 1
        second = client.post(path, json=body)
        assert second.status_code == 200, second.text
        assert _answer(second.json()) == _answer(first.json())
        assert _counts(client.get("/metrics").text, model) == (2, 1, 1, 0)
        assert cache.reads == 2


@pytest.mark.parametrize("route", list(ROUTES))
def test_lambda_emf_counts_one_miss_then_one_hit(
    route: str,
    registry: ModelRegistry,
    models: dict[str, EdgeModel],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """GIVEN the Lambda host (Mangum + powertools, EMF observer) WHEN a request misses and
    the same request comes again THEN each invocation's EMF blob says one item with one
    miss, then one item with one hit, on every inference route."""
    metrics = make_metrics()
    app = create_app(registry, settings=_settings(models, False), observer=MetricsObserver(metrics))
    handler = build_handler(Mangum(app, lifespan="off"), logger=make_logger(), metrics=metrics)
    transport = LambdaTransport(lambda event: handler(event, LocalLambdaContext()))
    http = httpx.Client(transport=transport, base_url="https://lambda-url.aws")
    model, path, body = _body(route, f"every route emits EMF for {route}")
    blobs = []
    for _ in range(2):
        capsys.readouterr()
        assert http.post(path, json=body).status_code == 200
        (blob,) = [b for b in emf_blobs(capsys.readouterr().out) if names.LATENCY.emf in b]
        blobs.append(blob)
    counted = [
        (b.get(names.ITEMS.emf), b.get(names.CACHE_HITS.emf), b.get(names.CACHE_MISSES.emf))
        for b in blobs
    ]
    assert counted == [([1.0], [0.0], [1.0]), ([1.0], [1.0], [0.0])]  # one observation each
    assert [b.get(names.CACHE_UNAVAILABLE.emf) for b in blobs] == [[0.0], [0.0]]
    assert [b.get("model") for b in blobs] == [model, model]


@pytest.mark.parametrize("micro_batch", [False, True], ids=["direct", "micro-batched"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_a_cache_failure_is_logged_and_counted(
    route: str,
    micro_batch: bool,
    models: dict[str, EdgeModel],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GIVEN a cache whose reads fail WHEN a request comes on any inference route THEN it
    is answered live, the server logs the failure once (WARNING, naming the model) and
    /metrics counts the request as served without the cache."""
    registry = ModelRegistry(models, DownCache(tmp_path / "down.sqlite"))
    app = create_app(registry, settings=_settings(models, micro_batch), prometheus=True)
    model, path, body = _body(route, f"the cache is down for {route}")
    with caplog.at_level(logging.WARNING, logger=cache_logger.name), TestClient(app) as client:
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        scraped = client.get("/metrics").text
    registry.close()
    logged = [r.getMessage() for r in caplog.records if r.name == cache_logger.name]
    assert len(logged) == 1 and model in logged[0] and "the cache is down" in logged[0]
    assert _counts(scraped, model) == (1, 0, 1, 1)


def test_a_mixed_predict_batch_is_one_serving_call_answered_as_each_item_alone(
    registry: ModelRegistry, models: dict[str, EdgeModel]
) -> None:
    """GIVEN a TEI /predict batch of a text and a pair WHEN served THEN it is one request to
    the serving path (2 items, 2 misses on /metrics) and each item's labels are those it
    gets alone, in the order sent."""
    app = create_app(registry, settings=_settings(models, False), prometheus=True)
    text, pair = "one text", ["a text", "its pair"]
    with TestClient(app) as client:
        both = client.post("/predict?model=labels", json={"inputs": [[text], pair]}).json()
        assert _counts(client.get("/metrics").text, "labels") == (2, 0, 2, 0)
        alone = [
            client.post("/predict?model=labels", json={"inputs": i}).json() for i in (text, pair)
        ]
    assert both == alone
