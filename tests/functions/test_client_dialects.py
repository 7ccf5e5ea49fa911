"""The clients users already have, unmodified, against the one app: the real ``openai`` SDK
(``client.embeddings.create``) and ``huggingface_hub.InferenceClient.feature_extraction``,
over real HTTP to the local host and, for the SDK, through the Lambda handler itself (an
httpx transport that turns each request into a Function URL event). Every vector equals
``edge``'s for the text alone, bit for bit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from function_events import LambdaTransport, LiveServer

from edge.cache import SQLiteCache
from functions.local_host import create_local_app
from functions.registry import ModelRegistry
from functions.settings import Settings
from optimize import corpus

pytestmark = pytest.mark.integration
Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def server(sample_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    cache = SQLiteCache(tmp_path_factory.mktemp("dialects") / "cache.sqlite")
    registry = ModelRegistry({sample_model.name: sample_model}, cache)
    settings = Settings(artifact_dirs=(sample_model.directory,))
    app = create_local_app(registry, settings)
    with LiveServer(app) as live:
        yield live
    app.state.replay.close()


def alone(model: Any, texts: list[str]) -> np.ndarray:
    return np.vstack([model.predict([t]) for t in texts])


def test_the_openai_sdk_gets_edges_vectors_as_base64_and_as_floats(
    server: LiveServer, sample_model: Any
) -> None:
    """GIVEN the openai SDK pointed at the local host WHEN embeddings.create runs with its
    default (base64) and with encoding_format="float" THEN both give every text's vector
    bit for bit, in order, and usage counts the tokens the model saw."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0)
    texts = corpus.sample(5, offset=5100)
    packed = client.embeddings.create(model="minilm", input=texts)
    floats = client.embeddings.create(model="minilm", input=texts, encoding_format="float")
    expected = alone(sample_model, texts)
    for response in (packed, floats):
        got = np.asarray([d.embedding for d in response.data], dtype=np.float32)
        np.testing.assert_array_equal(got, expected)
        assert [d.index for d in response.data] == list(range(5))
        assert response.model == "minilm"
    tokens = sum(len(e.ids) for e in sample_model.tokenizer.encode(texts))
    assert packed.usage.prompt_tokens == packed.usage.total_tokens == tokens


def test_the_openai_sdk_raises_its_own_errors_for_our_4xx(server: LiveServer) -> None:
    """GIVEN the SDK WHEN the model is unknown, too many inputs, token ids, a dimension the
    model cannot give or an unknown encoding are sent THEN the SDK raises NotFoundError /
    UnprocessableEntityError with our message (OpenAI's error shape: message, type, param)."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="bert"):
        client.embeddings.create(model="bert", input="hi")
    with pytest.raises(openai.UnprocessableEntityError, match="max_batch=64") as too_many:
        client.embeddings.create(model="minilm", input=["x"] * 65)
    assert too_many.value.body["param"] == "input"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError, match="token ids"):
        client.embeddings.create(model="minilm", input=[[101, 102]])
    with pytest.raises(openai.UnprocessableEntityError, match="384-d"):
        client.embeddings.create(model="minilm", input="hi", dimensions=128)
    r = httpx.post(
        f"{server.url}/v1/embeddings",
        json={"model": "minilm", "input": "hi", "encoding_format": "int8"},
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "encoding_format"


def test_huggingface_inference_client_feature_extraction(
    server: LiveServer, sample_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN huggingface_hub.InferenceClient pointed at the local host's /embed WHEN
    feature_extraction runs THEN it gets the text's vector, bit for bit; /info describes
    the model as text-embeddings-inference does."""
    import huggingface_hub.constants
    from huggingface_hub import InferenceClient

    # The suite runs with HF_HUB_OFFLINE=1 (no hub downloads, ever); the client's guard
    # refuses every URL under it, loopback included, so it is lifted for this loopback call.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    client = InferenceClient(model=f"{server.url}/embed", token="not-needed")
    text = corpus.sample(1, offset=5200)[0]
    got = client.feature_extraction(text)
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float32), alone(sample_model, [text]))
    info = httpx.get(f"{server.url}/info").json()
    assert info["model_id"] == "minilm" and info["model_sha"] == sample_model.version
    assert info["max_input_length"] == sample_model.manifest.max_tokens
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    refused = httpx.post(f"{server.url}/embed", json={"inputs": "hi", "normalize": False})
    assert refused.status_code == 422 and "normalized" in refused.json()["error"]["message"]


def test_the_openai_sdk_through_the_lambda_handler(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN the SDK whose HTTP goes through the Lambda handler as Function URL events
    WHEN embeddings.create runs THEN the handler answers it with edge's vectors."""
    http = httpx.Client(transport=LambdaTransport(invoke), base_url="https://lambda-url.aws")
    client = openai.OpenAI(
        base_url="https://lambda-url.aws/v1", api_key="sigv4-in-prod", http_client=http
    )
    texts = corpus.sample(3, offset=5300)
    response = client.embeddings.create(model="minilm", input=texts)
    got = np.asarray([d.embedding for d in response.data], dtype=np.float32)
    np.testing.assert_array_equal(got, alone(sample_model, texts))
    raw = json.loads(http.post("/info").content)  # POST is not a TEI route: 405 JSON
    assert raw["error"]["type"] == "method_not_allowed"
