"""A batch job (the real one, in process) on the tiny models: an embedder with prompts'
vectors and a classifier's probability rows, each equal to ``edge`` for the text alone."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import edge
from batch import exit_codes
from batch.job import run_job
from batch.settings import JobSettings
from optimize import corpus
from tests.batch.job_io import read_rows, run_dir, write_jsonl

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["xlm-roberta", "roberta-topics"])
def test_the_batch_job_writes_each_tasks_rows(
    name: str, tiny_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN 40 texts WHEN the batch job runs on a tiny embedder and on a multi-label
    classifier THEN every id's row is EdgeModel.predict's for that text (a vector, or the
    label probabilities in id2label order)."""
    texts = corpus.sample(40, offset=6500)
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)]
    )
    settings = JobSettings(
        artifact=str(tiny_artifacts[name]), input=str(source), output=str(tmp_path / "out")
    )
    assert run_job(settings, log_stream=io.StringIO(), out=io.StringIO()) == exit_codes.OK
    rows = dict(read_rows(run_dir(tmp_path / "out")))
    model = edge.load(tiny_artifacts[name])
    assert len(rows) == len(texts)
    for i, text in enumerate(texts):
        got = np.frombuffer(rows[f"t{i}"], dtype="<f4")
        np.testing.assert_array_equal(got, model.predict([text])[0])


def test_the_batch_job_precomputes_a_rankers_pair_scores(
    tiny_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN (query, passage) JSONL records (one without a passage) and a SQLite cache WHEN
    the batch job runs on the cross-encoder THEN each id's row is score_pairs' score, the
    record without a passage is rejected, and the cache now answers those very pairs (the
    pair key /rerank reads), with no inference."""
    from edge.cache import SQLiteCache
    from edge.hybrid import pairs_with_cache

    passages = corpus.sample(12, offset=6800)
    pairs = [(f"query {i % 3}", p) for i, p in enumerate(passages)]
    records = [{"id": f"p{i}", "query": q, "passage": p} for i, (q, p) in enumerate(pairs)]
    source = write_jsonl(tmp_path / "in.jsonl", [*records, {"id": "bad", "query": "q"}])
    cache_path = tmp_path / "cache.sqlite"
    settings = JobSettings(
        artifact=str(tiny_artifacts["xlmr-reranker"]),
        input=str(source),
        output=str(tmp_path / "out"),
        cache_url=f"sqlite:{cache_path}",
        error_budget=0.5,  # the one bad record of 13
    )
    assert run_job(settings, log_stream=io.StringIO(), out=io.StringIO()) == exit_codes.OK
    rows = dict(read_rows(run_dir(tmp_path / "out")))
    model = edge.load(tiny_artifacts["xlmr-reranker"])
    assert set(rows) == {r["id"] for r in records}
    expected = model.score_pairs(pairs)
    for i in range(len(pairs)):
        np.testing.assert_array_equal(
            np.frombuffer(rows[f"p{i}"], dtype="<f4"), expected[i : i + 1]
        )
    cache = SQLiteCache(cache_path)
    try:
        again = pairs_with_cache(model, cache, pairs, write_back=False)
    finally:
        cache.close()
    assert again.hits == len(pairs)
    np.testing.assert_array_equal(again.vectors[:, 0], expected)
