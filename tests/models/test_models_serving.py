"""The tiny models served by the one app, to the clients users have: our route, TEI's
``/embed`` ``/predict`` ``/rerank`` (``huggingface_hub.InferenceClient`` where it has the
call, TEI's documented JSON where it does not), the ``openai`` SDK, over real HTTP and
through the Lambda handler; every answer equals ``edge``'s, and the task heads agree
with transformers / sentence-transformers fp32."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from optimize import corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
from function_events import LambdaTransport, LiveServer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def server(tiny_server: LiveServer) -> LiveServer:
    return tiny_server


@pytest.fixture
def hub_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """InferenceClient refuses every URL under HF_HUB_OFFLINE, loopback included."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_prompts_on_our_route_and_tei_embed(server: LiveServer, tiny_registry: Any) -> None:
    """GIVEN XLM-R with query:/passage: prompts WHEN our route and TEI /embed get
    prompt_name THEN the vectors are edge's with that prompt (and differ per prompt); an
    unknown prompt is a 422 that lists the choices."""
    model = tiny_registry.get("xlm-roberta")
    texts = corpus.sample(2, offset=5400)
    ours = httpx.post(
        f"{server.url}/v1/models/xlm-roberta/predict",
        json={"inputs": texts, "prompt_name": "query"},
    ).json()
    tei = httpx.post(
        f"{server.url}/embed?model=xlm-roberta", json={"inputs": texts, "prompt_name": "passage"}
    ).json()
    np.testing.assert_array_equal(
        np.asarray(ours["predictions"], dtype=np.float32),
        np.vstack([model.predict([t], prompt_name="query") for t in texts]),
    )
    np.testing.assert_array_equal(
        np.asarray(tei, dtype=np.float32),
        np.vstack([model.predict([t], prompt_name="passage") for t in texts]),
    )
    assert not np.allclose(ours["predictions"], tei)
    bad = httpx.post(
        f"{server.url}/v1/models/xlm-roberta/predict", json={"inputs": texts, "prompt_name": "x"}
    )
    assert bad.status_code == 422 and "passage|query" in bad.json()["error"]["message"]


@pytest.mark.parametrize("name", ["bert", "distilbert", "roberta", "mpnet"])
def test_the_openai_sdk_gets_edges_vectors_for_each_architecture(
    server: LiveServer, tiny_registry: Any, name: str
) -> None:
    """GIVEN each tiny embedder WHEN the openai SDK asks for embeddings THEN they are edge's."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0)
    texts = corpus.sample(3, offset=5500)
    got = client.embeddings.create(model=name, input=texts)
    model = tiny_registry.get(name)
    np.testing.assert_array_equal(
        np.asarray([d.embedding for d in got.data], dtype=np.float32),
        np.vstack([model.predict([t]) for t in texts]),
    )


def hf_probabilities(source: Path, texts: list[str], *, multi: bool) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(source))
    model = AutoModelForSequenceClassification.from_pretrained(str(source)).eval()
    with torch.no_grad():
        logits = model(**tok(texts, padding=True, truncation=True, return_tensors="pt")).logits
    probs = torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1)
    return np.asarray(probs.numpy(), dtype=np.float32)


@pytest.mark.parametrize(("name", "multi"), [("bert-sentiment", False), ("roberta-topics", True)])
def test_classifiers_answer_label_and_score_like_transformers(
    server: LiveServer,
    tiny_sources: dict[str, Path],
    name: str,
    multi: bool,
    hub_online: None,
) -> None:
    """GIVEN a single-label (softmax) and a multi-label (sigmoid) classifier WHEN
    InferenceClient.text_classification, TEI /predict and our route ask THEN each gives
    labels from id2label, best first, with transformers fp32's probabilities (top label
    equal, |delta p| < 1e-4); top_k keeps the best k; /info lists id2label."""
    from huggingface_hub import InferenceClient

    texts = corpus.sample(4, offset=5600)
    expected = hf_probabilities(tiny_sources[name], texts, multi=multi)
    labels = [f"LABEL_{chr(65 + i)}" for i in range(expected.shape[1])]
    client = InferenceClient(model=f"{server.url}/predict?model={name}", token="not-needed")
    ours = httpx.post(
        f"{server.url}/v1/models/{name}/predict", json={"inputs": texts, "top_k": 2}
    ).json()["predictions"]
    batch = [[t] for t in texts]  # TEI's batch: one [text] (or [text, text_pair]) each
    tei = httpx.post(f"{server.url}/predict?model={name}", json={"inputs": batch}).json()
    for i, text in enumerate(texts):
        hub = client.text_classification(text)
        best = int(expected[i].argmax())
        assert hub[0].label == tei[i][0]["label"] == ours[i][0]["label"] == labels[best]
        got = {d["label"]: d["score"] for d in tei[i]}
        np.testing.assert_allclose([got[lab] for lab in labels], expected[i], atol=1e-4)
        assert [h.label for h in hub] == [d["label"] for d in tei[i]]
        assert len(ours[i]) == 2
        if not multi:
            assert abs(sum(got.values()) - 1.0) < 1e-5
    single = httpx.post(f"{server.url}/predict?model={name}", json={"inputs": texts[0]}).json()
    assert single == tei[0]  # TEI: one string in, one list of labels out
    info = httpx.get(f"{server.url}/info?model={name}").json()
    assert info["model_type"]["classifier"]["id2label"] == {
        str(i): lab for i, lab in enumerate(labels)
    }


def test_rerank_orders_passages_like_the_cross_encoder(
    server: LiveServer, tiny_sources: dict[str, Path], tiny_registry: Any
) -> None:
    """GIVEN a cross-encoder (one-label XLM-R head) WHEN TEI /rerank gets a query and
    passages THEN the order and the scores are sentence-transformers' CrossEncoder fp32
    (sigmoid scores); return_text adds each passage; /predict on it is a 422."""
    from sentence_transformers import CrossEncoder

    passages = corpus.sample(5, offset=5700)
    query = " ".join(passages[2].split()[:5])
    ce = CrossEncoder(str(tiny_sources["xlmr-reranker"]), device="cpu", max_length=128)
    expected = np.asarray(ce.predict([(query, p) for p in passages]), dtype=np.float32)
    got = httpx.post(
        f"{server.url}/rerank?model=xlmr-reranker",
        json={"query": query, "texts": passages, "return_text": True},
    ).json()
    assert [g["index"] for g in got] == list(np.argsort(-expected, kind="stable"))
    np.testing.assert_allclose([g["score"] for g in got], np.sort(expected)[::-1], atol=1e-5)
    assert all(g["text"] == passages[g["index"]] for g in got)
    assert "reranker" in httpx.get(f"{server.url}/info?model=xlmr-reranker").json()["model_type"]
    wrong = httpx.post(f"{server.url}/predict?model=xlmr-reranker", json={"inputs": "x"})
    assert wrong.status_code == 422 and "text-classification" in wrong.json()["error"]["message"]
    too_many = httpx.post(
        f"{server.url}/rerank?model=xlmr-reranker", json={"query": query, "texts": ["p"] * 65}
    )
    assert too_many.status_code == 422 and too_many.json()["error"]["limit"] == "max_batch"


def test_the_task_routes_through_the_lambda_handler(
    tiny_registry: Any, tiny_artifacts: dict[str, Path]
) -> None:
    """GIVEN the Lambda handler (Mangum + powertools) around the same app WHEN /predict,
    /rerank and the openai SDK go through it as Function URL events THEN the answers are
    the local host's: edge's labels, rankings and vectors."""
    from mangum import Mangum

    from functions.app import create_app
    from functions.lambda_host import build_handler, make_logger, make_metrics
    from functions.settings import Settings

    app = create_app(tiny_registry, settings=Settings(artifact_dirs=tuple(tiny_artifacts.values())))
    handler = build_handler(
        Mangum(app, lifespan="off"), logger=make_logger(), metrics=make_metrics()
    )
    from functions.local_host import LocalLambdaContext

    invoke = partial(handler, context=LocalLambdaContext())
    http = httpx.Client(transport=LambdaTransport(invoke), base_url="https://lambda-url.aws")
    text = corpus.sample(1, offset=5800)[0]
    labels = http.post("/predict?model=bert-sentiment", json={"inputs": text}).json()
    probs = tiny_registry.get("bert-sentiment").predict([text])[0]
    assert labels[0]["label"] == f"LABEL_{chr(65 + int(probs.argmax()))}"
    ranked = http.post("/rerank?model=xlmr-reranker", json={"query": "a", "texts": [text, "b"]})
    assert ranked.status_code == 200 and {r["index"] for r in ranked.json()} == {0, 1}
    client = openai.OpenAI(base_url="https://lambda-url.aws/v1", api_key="x", http_client=http)
    got = client.embeddings.create(model="roberta", input=[text]).data[0].embedding
    np.testing.assert_array_equal(
        np.asarray(got, dtype=np.float32), tiny_registry.get("roberta").predict([text])[0]
    )
