"""The task heads through optimize and edge: text-classification (softmax and sigmoid,
labels from id2label) and text-ranking (a cross-encoder's score), their gates (top-1
agreement + probability change; top-1 + Kendall's tau), and the library predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge
from edge.manifest import read_manifest
from optimize import corpus
from optimize.evaluate import Scores, label_agreement, rank_agreement
from optimize.select import Budget

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("name", "labels", "problem"),
    [
        ("bert-sentiment", 3, "single_label_classification"),
        ("roberta-topics", 4, "multi_label_classification"),
    ],
)
def test_classifier_artifacts_carry_logits_labels_and_their_gate(
    name: str, labels: int, problem: str, tiny_artifacts: dict[str, Path]
) -> None:
    """GIVEN a classifier built with the fp32 recipe THEN the manifest's output is the
    head's logits (batch, labels), labels come from id2label, the problem type picks
    softmax or sigmoid, and the gate measured top-1 agreement 1.0 and ~0 probability change."""
    manifest = read_manifest(tiny_artifacts[name])
    out = manifest.outputs[0]
    assert (out.name, out.shape) == ("logits", ("batch", labels))
    assert manifest.labels == tuple(f"LABEL_{chr(65 + i)}" for i in range(labels))
    assert manifest.multi_label is (problem == "multi_label_classification")
    metrics = manifest.metrics
    assert metrics.top1_agreement == 1.0
    assert metrics.max_probability_change is not None and metrics.max_probability_change < 1e-4
    probs = edge.load(tiny_artifacts[name]).predict(corpus.sample(3, offset=6000))
    assert probs.shape == (3, labels)
    sums = probs.sum(axis=1)
    if manifest.multi_label:  # independent sigmoids
        assert not np.allclose(sums, 1.0, atol=1e-3)
    else:
        np.testing.assert_allclose(sums, 1.0, atol=1e-5)


def test_ranker_artifact_scores_pairs_and_records_rank_agreement(
    tiny_artifacts: dict[str, Path], tiny_sources: dict[str, Path]
) -> None:
    """GIVEN the cross-encoder THEN score_pairs equals sentence-transformers' CrossEncoder
    fp32 (pairs truncated longest-first to max_tokens), and the gate measured Kendall's tau
    and top-1 agreement 1.0 over query groups."""
    from sentence_transformers import CrossEncoder

    model = edge.load(tiny_artifacts["xlmr-reranker"])
    passages = corpus.sample(4, offset=6100)
    pairs = [("what does this do", p) for p in passages] + [("long", " ".join(passages * 20))]
    ce = CrossEncoder(str(tiny_sources["xlmr-reranker"]), device="cpu", max_length=128)
    np.testing.assert_allclose(model.score_pairs(pairs), ce.predict(pairs), atol=1e-5)
    metrics = read_manifest(tiny_artifacts["xlmr-reranker"]).metrics
    assert metrics.kendall_tau == 1.0 and metrics.top1_agreement == 1.0


def test_task_gates_refuse_what_moves_labels_or_rankings() -> None:
    """GIVEN a candidate that flips one top label in four (and moves a probability by 0.3),
    and one that reorders a query's passages THEN the classification and ranking budgets
    name exactly those failures, while cosine thresholds do not apply to them."""
    ref = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    cand = ref.copy()
    cand[2] = [0.3, 0.7]
    top1, change = label_agreement(cand, ref)
    assert (top1, round(change, 4)) == (0.75, 0.3)
    classify = Budget(0.99, 0.9, 0.9, 25.0, task="text-classification")
    failures = classify.failures(Scores(0.1, 0.1, top1, 1.0, 1000, top1, change))
    assert len(failures) == 2
    assert failures[0] == "top-1 agreement 0.750 < 0.95"
    assert failures[1].startswith("probability change 0.3") and failures[1].endswith("> 0.05")
    scores = np.array([[0.9], [0.5], [0.3], [0.1], [0.8], [0.6], [0.4], [0.2]], dtype=np.float32)
    swapped = scores.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    top1, tau = rank_agreement(swapped, scores)
    assert top1 == 0.5 and tau < 1.0
    rank = Budget(0.99, 0.9, 0.9, 25.0, task="text-ranking", min_kendall_tau=0.95)
    failed = rank.failures(Scores(1.0, 1.0, top1, 1.0, 1000, top1, 0.4, tau))
    assert [f.split(" ")[0] for f in failed] == ["top-1", "Kendall"]
    assert rank.failures(Scores(1.0, 1.0, 1.0, 1.0, 1000, 1.0, 0.0, 1.0)) == []


def test_library_predict_takes_any_number_of_texts_of_any_length(
    tiny_artifacts: dict[str, Path],
) -> None:
    """GIVEN max_batch = 64 and max_chars = 8192 in the manifest (request limits) WHEN the
    library predicts 150 texts, one of 20,000 characters THEN every row equals the text
    alone, the long one cut by tokens; enforce_limits=True refuses as a server does."""
    from edge.exceptions import InputLimitError

    model: Any = edge.load(tiny_artifacts["bert"])
    texts = corpus.sample(149, offset=6200) + ["word " * 4000]
    out = model.predict(texts)
    assert out.shape == (150, model.manifest.dim)
    for i in (0, 77, 149):
        np.testing.assert_array_equal(out[i], model.predict([texts[i]])[0])
    with pytest.raises(InputLimitError, match="max_batch=64"):
        model.predict(texts, enforce_limits=True)
