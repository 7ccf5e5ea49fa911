"""The same answer whatever the company: a text's vector does not depend on its batch.

The hybrid mode rests on it: what the batch job precomputed is exactly what a function
would compute live. Real model, real texts of varied lengths (stdlib docstrings outside the
calibration and evaluation sets, some longer than max_tokens), compared bit for bit."""

from __future__ import annotations

import random
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge
from edge.cache import SQLiteCache
from edge.execution import BUCKETED, PER_TEXT, SAME_LENGTH
from edge.hybrid import predict_with_cache
from edge.manifest import read_manifest
from edge.session import SessionConfig
from optimize import corpus
from optimize.isa import cpu_info
from optimize.variants import CUDA_FILE
from tests.batch.job_io import batch_args, read_rows, run_dir, run_to_end, write_jsonl

N_TEXTS = 240


@pytest.fixture(scope="module")
def texts() -> list[str]:
    docs = corpus.sample(N_TEXTS - 20, offset=2000)
    long = [" ".join(corpus.sample(12, offset=3000 + 12 * i)) for i in range(20)]  # truncated
    return docs + long


@pytest.fixture(scope="module")
def alone(sample_model: Any, texts: list[str]) -> np.ndarray:
    """Each text's vector computed in a call of its own."""
    return np.vstack([sample_model.predict([t]) for t in texts])


def test_the_sample_set_spans_short_and_truncated_texts(
    sample_model: Any, texts: list[str]
) -> None:
    lengths = [len(e.ids) for e in sample_model.tokenizer.encode(texts)]
    assert min(lengths) < 16 and max(lengths) == sample_model.manifest.max_tokens


def test_a_cpu_model_runs_each_text_alone(sample_model: Any) -> None:
    """GIVEN the sample model on this CPU WHEN loaded THEN its plan is per-text."""
    assert sample_model.plan.mode == PER_TEXT and sample_model.plan.batch_invariant


def test_random_batches_of_2_to_64_neighbours_change_no_bit(
    sample_model: Any, texts: list[str], alone: np.ndarray
) -> None:
    """GIVEN every text's vector alone WHEN the texts are predicted in random batches of
    2-64 (random neighbours, random order) THEN every row is bit-identical to alone."""
    rng = random.Random(13)
    order = list(range(len(texts)))
    rng.shuffle(order)
    start = 0
    while start < len(order):
        idx = order[start : start + rng.randint(2, 64)]
        start += len(idx)
        got = sample_model.predict([texts[i] for i in idx], enforce_limits=False)
        np.testing.assert_array_equal(got, alone[idx])


@pytest.mark.parametrize(("threads", "workers"), [(1, 1), (2, 1), (1, 2)])
def test_thread_counts_change_no_bit(
    sample_artifact: Path, texts: list[str], alone: np.ndarray, threads: int, workers: int
) -> None:
    """GIVEN sessions with 1 or 2 intra-op threads and 1 or 2 parallel runs (what a Lambda,
    a batch job and a device may each pick) WHEN the texts are predicted THEN bit-identical."""
    cfg = SessionConfig(intra_op_threads=threads, text_workers=workers)
    model = edge.load(sample_artifact, session_config=cfg)
    assert (model.plan.threads, model.plan.workers) == (threads, workers)
    np.testing.assert_array_equal(model.predict(texts, enforce_limits=False), alone)


def test_the_hybrid_path_cold_and_warm_is_bit_identical(
    sample_model: Any, texts: list[str], alone: np.ndarray, tmp_path: Path
) -> None:
    """GIVEN an empty SQLite cache WHEN a mix of texts goes through the hybrid path twice,
    the second time half of them cached in other company THEN live rows, written rows and
    read-back rows are all the vectors of each text alone."""
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    try:
        half = texts[::2]
        cold = predict_with_cache(sample_model, cache, half, enforce_limits=False)
        assert cold.hits == 0
        np.testing.assert_array_equal(cold.vectors, alone[::2])
        warm = predict_with_cache(sample_model, cache, texts, enforce_limits=False)
        assert warm.cached == [i % 2 == 0 for i in range(len(texts))]
        np.testing.assert_array_equal(warm.vectors, alone)
    finally:
        cache.close()


@pytest.mark.slow
def test_the_batch_job_writes_the_vectors_a_live_call_returns(
    sample_artifact: Path, texts: list[str], alone: np.ndarray, tmp_path: Path
) -> None:
    """GIVEN the texts as a batch job's JSONL input WHEN `python -m batch run` precomputes them
    (chunks of 40 texts) THEN every output row is bit-identical to the text predicted alone."""
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"t{i:04d}", "text": t} for i, t in enumerate(texts)]
    )
    run_to_end(batch_args(sample_artifact, source, tmp_path / "out", None, "--chunk-size", "40"))
    rows = dict(read_rows(run_dir(tmp_path / "out")))
    got = np.vstack([np.frombuffer(rows[f"t{i:04d}"], dtype="<f4") for i in range(len(texts))])
    np.testing.assert_array_equal(got, alone)


def test_bucketed_execution_is_what_depends_on_neighbours(
    sample_artifact: Path, texts: list[str], alone: np.ndarray
) -> None:
    """GIVEN the bucketed plan forced on CPU (what GPU hosts run) WHEN the texts are batched
    THEN rows do differ from alone (the int8 scales are per batch): this is what the per-text
    plan prevents, so the tests above can fail."""
    recipe = read_manifest(sample_artifact).quantization.recipe  # chosen by measured speed
    if not recipe.startswith("dynamic"):  # static int8 / fp32 scales do not see the batch
        pytest.skip(f"the build chose {recipe}: only dynamic int8 scales depend on the batch")
    model = edge.load(sample_artifact, session_config=SessionConfig(execution=BUCKETED))
    assert model.plan.mode == BUCKETED and not model.plan.batch_invariant
    got = model.predict(texts, enforce_limits=False)
    identical = (got == alone).all(axis=1)
    assert identical.mean() < 0.5
    cos = (got * alone).sum(axis=1)
    assert cos.min() > 0.95  # close, but not the same answer


def openvino_copy(artifact: Path, precision: str) -> str:
    """Add to ``artifact`` a variant running its fp16 file on the OpenVINO engine."""
    from tests.test_variants import add_variant, cpu_variant

    cuda = read_manifest(artifact).variants[1]
    shutil.copyfile(artifact / CUDA_FILE, artifact / "model.ov.onnx")
    name = f"openvino-{precision}"
    spec = replace(cpu_variant(artifact, name, "model.ov.onnx", {}), engine="openvino",
                   provider="CPU", precision=precision, smoke=cuda.smoke)  # fmt: skip
    add_variant(artifact, spec)
    return name


@pytest.mark.parametrize(
    "precision",
    [
        "fp16",  # computed in f32 by the CPU plugin
        pytest.param(
            "bf16",
            marks=pytest.mark.skipif(not cpu_info()["native_bf16"], reason="no native bf16"),
        ),
    ],
)
def test_openvino_same_length_groups_change_no_bit(
    artifact_copy: Path, texts: list[str], precision: str
) -> None:
    """GIVEN a real ONNX file on the OpenVINO engine and texts of which many share a token
    count (duplicates and truncated ones) WHEN predicted with its same-length plan (groups of
    up to 32, on 2 streams) THEN every row is bit-identical to the same engine run one text
    per request: the grouped plan is batch-invariant, so the cache equals a live call."""
    rng = random.Random(7)
    mixed = texts + rng.sample(texts, 60)
    rng.shuffle(mixed)
    name = openvino_copy(artifact_copy, precision)
    grouped = edge.load(artifact_copy, session_config=SessionConfig(variant=name, text_workers=2))
    one = edge.load(artifact_copy, session_config=SessionConfig(variant=name, execution=PER_TEXT))
    assert grouped.providers == one.providers == ["OpenVINO/CPU"]
    assert grouped.plan.mode == SAME_LENGTH and grouped.plan.batch_invariant
    assert one.plan.mode == PER_TEXT
    groups = grouped.plan.groups([len(e.ids) for e in grouped.tokenizer.encode(mixed)])
    assert max(len(g) for g in groups) > 8 and len(groups) < len(mixed)
    np.testing.assert_array_equal(
        grouped.predict(mixed, enforce_limits=False), one.predict(mixed, enforce_limits=False)
    )
