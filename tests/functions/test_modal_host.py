"""The Modal host run in-process with ``.local()``: no Modal account, token or network.

``Cls().method.local(...)`` runs the ``@modal.enter()`` hook and then the raw method here,
on CPU (the CUDA provider is absent, so the CPU fallback is what loads).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest
from function_events import assert_rows_identical, coalesce_by_size

from edge.exceptions import InputLimitError
from optimize import corpus


@pytest.fixture(scope="module")
def modal_app(
    sample_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "MODAL_TOKEN_ID",
            "MODAL_TOKEN_SECRET",
            "PRECAST_CACHE_URL",
            "PRECAST_MODELS_DIR",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("MODAL_CONFIG_PATH", str(tmp_path_factory.mktemp("modal") / "none.toml"))
        mp.setenv("PRECAST_ARTIFACT_DIR", str(sample_artifact))
        mp.setenv("PRECAST_MICRO_BATCH", "true")  # what the image's env sets in the container
        mp.setenv("PRECAST_MODAL_APP", "precast-test")
        sys.modules.pop("functions.modal_app", None)
        yield importlib.import_module("functions.modal_app")


def test_batched_embed_runs_locally_on_cpu(modal_app: ModuleType, sample_model: Any) -> None:
    """GIVEN the Embedder class WHEN embed.local(texts) THEN the enter hook loaded the model
    on the CPU fallback and one vector per text comes back, as edge computes it."""
    texts = corpus.sample(3, offset=1100)
    embedder = modal_app.Embedder()
    vectors = embedder.embed.local(texts)
    assert len(vectors) == 3 and all(isinstance(v, list) for v in vectors)
    np.testing.assert_allclose(np.asarray(vectors), sample_model.predict(texts), atol=1e-5)
    assert modal_app.app.name == "precast-test"
    assert "model.cuda-fp16.onnx" in modal_app.ARTIFACT_FILES  # the image carries the GPU variant


def test_batched_embed_answers_through_the_serving_path(
    modal_app: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN an Embedder whose cache fails WHEN embed.local runs THEN the text is served
    live and the failure is logged, as on every route (one serving path)."""
    from edge.cache import SQLiteCache
    from edge.exceptions import CacheError
    from functions.cache_log import logger as cache_logger

    class DownCache(SQLiteCache):
        def get_many(self, model_version: str, keys: Any) -> Any:
            raise CacheError("the cache is down")

    embedder = modal_app.Embedder()
    embedder.embed.local(corpus.sample(1, offset=1150))
    instance = embedder._cached_user_cls_instance()
    instance.registry.cache = DownCache(tmp_path / "down.sqlite")
    with caplog.at_level(logging.WARNING, logger=cache_logger.name):
        (vector,) = embedder.embed.local(corpus.sample(1, offset=1151))
    instance.registry.close()
    instance.registry.cache = None
    assert len(vector) == 384
    logged = [r.getMessage() for r in caplog.records if r.name == cache_logger.name]
    assert len(logged) == 1 and "the cache is down" in logged[0]


def test_batched_embed_rejects_an_invalid_item(modal_app: ModuleType) -> None:
    """GIVEN a batch with a blank text WHEN embedded THEN InputLimitError names the limit."""
    with pytest.raises(InputLimitError, match="empty"):
        modal_app.Embedder().embed.local(["fine", "   "])


def test_web_endpoint_serves_the_same_app_micro_batched(
    modal_app: ModuleType, sample_model: Any
) -> None:
    """GIVEN Web.api.local() WHEN 8 concurrent predicts go through it THEN each gets its own
    vectors and the app's micro-batcher coalesced them."""
    app = modal_app.Web().api.local()
    requests = [corpus.sample(2, offset=1200 + 3 * i) for i in range(8)]

    async def fire() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modal") as client:
            health = await client.get("/healthz")
            assert health.json()["models"] == {"minilm": sample_model.version}
            responses = await asyncio.gather(
                *(client.post("/v1/models/minilm/predict", json={"inputs": t}) for t in requests)
            )
        return [r.json() for r in responses]

    batcher = app.state.batchers["minilm"]
    with coalesce_by_size(batcher, sum(len(t) for t in requests)):
        bodies = asyncio.run(fire())
    assert batcher.requests == 8 and batcher.batches == 1
    got = [v for body in bodies for v in body["predictions"]]
    reference = sample_model.predict([t for texts in requests for t in texts])
    assert_rows_identical(got, reference)


def test_web_endpoint_serves_prometheus_metrics(modal_app: ModuleType, sample_model: Any) -> None:
    """GIVEN Web.api.local() WHEN one predict of 3 new texts is served THEN GET /metrics (text
    format) counts 3 items, 3 misses, one inference call of 3 texts, and names the version."""
    app = modal_app.Web().api.local()

    async def fire() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modal") as client:
            texts = corpus.sample(3, offset=1300)
            assert (
                await client.post("/v1/models/minilm/predict", json={"inputs": texts})
            ).is_success
            return await client.get("/metrics")

    response = asyncio.run(fire())
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'precast_items_total{model="minilm"} 3.0' in text
    assert 'precast_cache_misses_total{model="minilm"} 3.0' in text
    assert 'precast_batch_size_count{model="minilm"} 1.0' in text
    assert 'precast_batch_size_sum{model="minilm"} 3.0' in text
    assert f'precast_model_info{{model="minilm",version="{sample_model.version}"}} 1.0' in text


def _import_modal_app(mp: pytest.MonkeyPatch, artifact: Path, tmp: Path, snapshot: str) -> Any:
    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "PRECAST_CACHE_URL"):
        mp.delenv(var, raising=False)
    mp.setenv("MODAL_CONFIG_PATH", str(tmp / "none.toml"))
    mp.setenv("PRECAST_ARTIFACT_DIR", str(artifact))
    mp.setenv("PRECAST_MODAL_APP", "precast-test")
    mp.setenv("PRECAST_MODAL_MEMORY_SNAPSHOT", snapshot)
    sys.modules.pop("functions.modal_app", None)
    try:
        return importlib.import_module("functions.modal_app")
    finally:
        sys.modules.pop("functions.modal_app", None)


@pytest.mark.parametrize("snapshot", ["true", "false"])
def test_enter_hooks_load_on_cpu_then_attach_the_device(
    sample_artifact: Path, tmp_path: Path, sample_model: Any, snapshot: str
) -> None:
    """GIVEN the Modal app with memory snapshots on (the default) or off (the deploy switch)
    WHEN an Embedder runs .local() THEN the load hook (the snapshot phase when on) ran before
    the attach hook, the model was loaded on the CPU, no GPU here means nothing moved, and
    it answers as edge does. Off, Modal sees no snapshot hook at all."""
    from modal._partial_function import (
        _find_partial_methods_for_user_cls,
        _PartialFunctionFlags,
    )

    with pytest.MonkeyPatch.context() as mp:
        modal_app = _import_modal_app(mp, sample_artifact, tmp_path, snapshot)
        assert modal_app.SNAPSHOT is (snapshot == "true")
        embedder = modal_app.Embedder()
        texts = corpus.sample(2, offset=1400)
        vectors = embedder.embed.local(texts)
    instance = embedder._cached_user_cls_instance()
    assert instance.phases == ["load", "attach"]
    assert instance.moved == []  # CUDA is absent: the CPU session from the snapshot stays
    assert instance.registry.get("minilm").providers == ["CPUExecutionProvider"]
    np.testing.assert_allclose(np.asarray(vectors), sample_model.predict(texts), atol=1e-5)
    pre = _find_partial_methods_for_user_cls(
        type(instance), _PartialFunctionFlags.ENTER_PRE_SNAPSHOT
    )
    post = _find_partial_methods_for_user_cls(
        type(instance), _PartialFunctionFlags.ENTER_POST_SNAPSHOT
    )
    if snapshot == "true":
        assert (set(pre), set(post)) == ({"load"}, {"attach"})
    else:
        assert (set(pre), list(post)) == (set(), ["load", "attach"])


def test_use_session_moves_a_model_only_when_its_providers_change(sample_artifact: Path) -> None:
    """GIVEN a registry loaded on CPU WHEN asked for "auto" providers on a host without CUDA
    THEN nothing moves (the snapshot's session is kept); WHEN a model is put on a new session
    (what a CUDA restore does) THEN the same artifact answers through the new session."""
    import edge
    from edge.model import with_session
    from edge.session import SessionConfig
    from functions.registry import ModelRegistry

    model = edge.load(sample_artifact, session_config=SessionConfig(providers=("CPU",)))
    registry = ModelRegistry({model.name: model})
    assert registry.use_session(SessionConfig(providers="auto")) == []
    assert registry.get(model.name) is model
    moved = with_session(model, SessionConfig(execution="bucketed", intra_op_threads=1))
    assert moved.session is not model.session and moved.plan.mode == "bucketed"
    assert moved.smoke is not None and moved.smoke.passed
    texts = corpus.sample(3, offset=1500)
    np.testing.assert_allclose(moved.predict(texts), model.predict(texts), atol=2e-2)


def _web_endpoint_config(module: ModuleType) -> Any:
    """The webhook config Modal deploys ``Web.api`` with (read from modal's own objects)."""
    from modal._utils.async_utils import synchronizer

    api = synchronizer._translate_in(module.Web._get_partial_functions()["api"])  # type: ignore[no-untyped-call]
    return api.params.webhook_config


@pytest.mark.parametrize(("auth", "required"), [(None, True), ("proxy", True), ("none", False)])
def test_the_web_endpoint_requires_modal_proxy_auth_unless_configured_off(
    modal_app: ModuleType,
    sample_artifact: Path,
    monkeypatch: pytest.MonkeyPatch,
    auth: str | None,
    required: bool,
) -> None:
    """GIVEN [models.X.modal] auth unset, "proxy" or "none" (PRECAST_MODAL_AUTH, set by the
    deployer) WHEN modal_app.py is imported THEN Web.api requires Modal's proxy auth
    (Modal-Key / Modal-Secret headers) unless it is "none"; the container gets the same
    setting; and the app still serves with .local()."""
    if auth is None:
        monkeypatch.delenv("PRECAST_MODAL_AUTH", raising=False)
    else:
        monkeypatch.setenv("PRECAST_MODAL_AUTH", auth)
    sys.modules.pop("functions.modal_app", None)
    try:
        module = importlib.import_module("functions.modal_app")
        assert _web_endpoint_config(module).requires_proxy_auth is required
        assert module.DEPLOY.container_env()["PRECAST_MODAL_AUTH"] == (auth or "proxy")
    finally:
        sys.modules["functions.modal_app"] = modal_app
    app = modal_app.Web().api.local()

    async def health() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modal") as client:
            return (await client.get("/healthz")).status_code

    assert asyncio.run(health()) == 200
