"""One set of metric names: what Lambda emits as EMF, the local server serves on /metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from function_events import LiveServer, emf_blobs, load_event, with_body

from functions import metric_names as names
from functions.local_host import create_local_app
from functions.registry import ModelRegistry
from functions.settings import Settings
from optimize import corpus

Invoke = Callable[[dict[str, Any]], dict[str, Any]]
SHARED = (names.LATENCY, *names.PREDICT_EMF)


def test_prometheus_names_follow_the_emf_names() -> None:
    """GIVEN the table WHEN each Prometheus name is derived THEN it is precast_ + the EMF name
    in snake_case (+ the unit when it has one)."""
    assert [m.prometheus for m in SHARED] == [
        "precast_latency_milliseconds",
        "precast_items",
        "precast_cache_hits",
        "precast_cache_misses",
        "precast_cache_unavailable",
    ]


@pytest.mark.integration
def test_lambda_emf_and_local_prometheus_carry_the_same_metrics(
    invoke: Invoke, sample_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN one predict on Lambda and one on the local server WHEN their metrics are read
    THEN every shared metric is in the EMF blob under its EMF name and on /metrics under its
    Prometheus name, with the same item counts."""
    texts = corpus.sample(2, offset=3300)
    capsys.readouterr()
    invoke(with_body(load_event("function_url_predict.json"), json.dumps({"inputs": texts})))
    (blob,) = [b for b in emf_blobs(capsys.readouterr().out) if names.ITEMS.emf in b]
    registry = ModelRegistry({sample_model.name: sample_model})
    app = create_local_app(registry, Settings(artifact_dirs=(sample_model.directory,)))
    with LiveServer(app) as server:
        httpx.post(f"{server.url}/v1/models/minilm/predict", json={"inputs": texts}, timeout=60)
        scraped = httpx.get(f"{server.url}/metrics").text
    app.state.replay.close()
    for metric in SHARED:
        assert metric.emf in blob, metric
        assert f"# TYPE {metric.prometheus}" in scraped, metric
    assert blob[names.ITEMS.emf] == [2.0]
    assert f'{names.ITEMS.prometheus}_total{{model="minilm"}} 2.0' in scraped
