"""Sentence pairs: TEI ``/predict`` reads ``["a", "b"]`` as one pair and ``[["a", "b"], ...]``
as a batch (as TEI's router does), and pairs, for ``/predict`` and ``/rerank`` alike, go
through the cache under their own key (``edge.cache.base.pair_cache_key``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from edge.cache import CacheEntry, pair_cache_key
from optimize import corpus

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def url(tiny_server: Any) -> str:
    return str(tiny_server.url)


def hf_pair_probabilities(source: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(source))
    model = AutoModelForSequenceClassification.from_pretrained(str(source)).eval()
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    with torch.no_grad():
        batch = tok(first, second, padding=True, truncation=True, return_tensors="pt")
        logits = model(**batch).logits
    return np.asarray(torch.softmax(logits, dim=-1).numpy(), dtype=np.float32)


def test_predict_reads_inputs_as_tei_does(
    url: str, tiny_sources: dict[str, Path], tiny_registry: Any
) -> None:
    """GIVEN a BERT classifier WHEN /predict gets ["a", "b"], [["a", "b"], ["c"]] and ["a"]
    THEN the first is ONE pair (one list of labels, transformers' pair probabilities), the
    second a batch of a pair and a text, the third one text, as TEI reads them."""
    a, b, c = corpus.sample(3, offset=6200)
    expected = hf_pair_probabilities(tiny_sources["bert-sentiment"], [(a, b)])[0]
    model = tiny_registry.get("bert-sentiment")
    one_pair = httpx.post(f"{url}/predict?model=bert-sentiment", json={"inputs": [a, b]}).json()
    assert isinstance(one_pair[0], dict)  # one list of labels, not a list per text
    got = {d["label"]: d["score"] for d in one_pair}
    labels = model.manifest.labels
    np.testing.assert_allclose([got[lab] for lab in labels], expected, rtol=0, atol=2e-6)
    assert np.abs(expected - model.predict([a])[0]).max() > 1e-5  # a pair, not text a
    batch = httpx.post(f"{url}/predict?model=bert-sentiment", json={"inputs": [[a, b], [c]]}).json()
    assert len(batch) == 2 and batch[0] == one_pair
    single = {d["label"]: d["score"] for d in batch[1]}
    np.testing.assert_array_equal([single[lab] for lab in labels], model.predict([c])[0])
    alone = httpx.post(f"{url}/predict?model=bert-sentiment", json={"inputs": [c]}).json()
    assert alone == batch[1]


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        (["a", "b", "c"], "flat list of 3 strings"),
        ([["a", "b", "c"]], "inputs[0] must be"),
        ([["a"], "b"], "inputs[1] must be"),
        ([], "'inputs' must be"),
        ([["a", 3]], "inputs[0] must be"),
    ],
)
def test_predict_refuses_other_shapes_with_a_422(url: str, inputs: Any, says: str) -> None:
    """GIVEN shapes TEI refuses WHEN /predict gets them THEN a 422 naming the item and what
    TEI accepts (a string, a pair, a batch of [text] / [text, text_pair])."""
    got = httpx.post(f"{url}/predict?model=bert-sentiment", json={"inputs": inputs})
    assert got.status_code == 422
    message = got.json()["error"]["message"]
    assert says in message and '["text", "text_pair"]' in message


def test_pair_limits_count_sequences(url: str) -> None:
    """GIVEN max_batch = 64 WHEN /predict gets 65 pairs, or a pair with a blank half THEN a
    422 with the limit (max_batch / empty), as for texts."""
    many = httpx.post(f"{url}/predict?model=bert-sentiment", json={"inputs": [["a", "b"]] * 65})
    assert many.status_code == 422 and many.json()["error"]["limit"] == "max_batch"
    blank = httpx.post(f"{url}/predict?model=bert-sentiment", json={"inputs": ["a", "  "]})
    assert blank.status_code == 422 and blank.json()["error"]["limit"] == "empty"


def test_rerank_reads_and_writes_the_pair_cache(url: str, tiny_registry: Any) -> None:
    """GIVEN a cross-encoder behind a SQLite cache WHEN /rerank scores passages THEN each
    (query, passage) score is written under its pair key; an entry already there (here a
    marker score) is what /rerank answers for that pair, with no inference for it."""
    model = tiny_registry.get("xlmr-reranker")
    cache = tiny_registry.cache
    passages = corpus.sample(3, offset=6300)
    query = "which passage"
    got = httpx.post(f"{url}/rerank?model=xlmr-reranker", json={"query": query, "texts": passages})
    assert got.status_code == 200
    keys = [pair_cache_key(model.version, query, p) for p in passages]
    stored = cache.get_many(model.version, keys)
    scores = {g["index"]: g["score"] for g in got.json()}
    for i, key in enumerate(keys):
        assert stored[key].vector.tolist() == pytest.approx([scores[i]], abs=1e-7)
    marked = corpus.sample(1, offset=6400)[0]
    marker = CacheEntry.make(
        model.version,
        "",
        np.asarray([0.987654], dtype=np.float32),
        key=pair_cache_key(model.version, query, marked),
        computed_by=model.computed_by,
    )
    cache.put_many([marker])
    again = httpx.post(
        f"{url}/rerank?model=xlmr-reranker", json={"query": query, "texts": [passages[0], marked]}
    ).json()
    by_index = {g["index"]: g["score"] for g in again}
    assert by_index[1] == pytest.approx(0.987654, abs=1e-6)
    assert by_index[0] == pytest.approx(scores[0], abs=1e-7)
    assert float(model.score_pairs([(query, marked)])[0]) != pytest.approx(0.987654, abs=1e-4)


def test_the_pair_key_is_its_own(tiny_registry: Any) -> None:
    """GIVEN one version WHEN pairs and texts are keyed THEN a pair's key is none of its
    texts' (nor their concatenation's), the split point matters, and both halves are
    normalized like a text (NFC, outer whitespace)."""
    from edge.cache import cache_key

    v = tiny_registry.get("xlmr-reranker").version
    pair = pair_cache_key(v, "ab", "c")
    assert pair not in {cache_key(v, t) for t in ("ab", "c", "abc", "ab c", "ab\x00c")}
    assert pair != pair_cache_key(v, "a", "bc") != pair_cache_key(v, "c", "ab")
    assert pair_cache_key(v, " ab ", "c\n") == pair
    assert pair_cache_key(v, "caf\u00e9", "x") == pair_cache_key(v, "cafe\u0301", "x")
    assert pair_cache_key("other", "ab", "c") != pair
