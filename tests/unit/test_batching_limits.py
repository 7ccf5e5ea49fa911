"""Length bucketing and input limits: pure logic, no model."""

from __future__ import annotations

import random

import numpy as np
import pytest

from edge.batching import plan_batches
from edge.exceptions import InputLimitError
from edge.limits import InputLimits, check_texts
from edge.pooling import l2_normalize, pool


@pytest.mark.parametrize("seed", range(5))
def test_plan_covers_every_index_once_and_respects_budget(seed: int) -> None:
    """GIVEN random lengths WHEN planned THEN each index appears once and padded size fits."""
    rng = random.Random(seed)
    lengths = [rng.randint(1, 300) for _ in range(rng.randint(1, 500))]
    budget = 2048
    batches = list(plan_batches(lengths, token_budget=budget, max_batch=64))
    seen = sorted(i for b in batches for i in b)
    assert seen == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 64
        padded = max(lengths[i] for i in b) * len(b)
        assert padded <= budget or len(b) == 1


@pytest.mark.parametrize("seed", range(5))
def test_plan_bounds_padding_waste(seed: int) -> None:
    """GIVEN a sparse long tail (as real text has) WHEN planned THEN no batch pads more than
    max_padding beyond its real tokens, and dense lengths still form big batches."""
    rng = random.Random(seed)
    lengths = [rng.randint(5, 40) for _ in range(400)] + [rng.randint(41, 256) for _ in range(30)]
    batches = list(plan_batches(lengths, token_budget=8192, max_batch=128, max_padding=0.2))
    for b in batches:
        real = sum(lengths[i] for i in b)
        assert max(lengths[i] for i in b) * len(b) <= real * 1.2 or len(b) == 1
    assert max(len(b) for b in batches) >= 32


def test_plan_groups_similar_lengths() -> None:
    """GIVEN short and long texts mixed WHEN planned THEN shorts and longs do not share a batch."""
    lengths = [5, 200, 6, 210, 7, 220] * 10
    batches = list(plan_batches(lengths, token_budget=1000, max_batch=32))
    for b in batches:
        spread = {lengths[i] >= 100 for i in b}
        assert len(spread) == 1


LIMITS = InputLimits(max_batch=3, max_chars=10, max_tokens=8, truncate=True)


@pytest.mark.parametrize(
    ("texts", "limit", "index"),
    [
        ("just a string", "type", None),
        ([], "empty", None),
        (["a", "b", "c", "d"], "max_batch", None),
        (["ok", 5], "type", 1),
        (["ok", "x" * 11], "max_chars", 1),
        (["   "], "empty", 0),
        (None, "type", None),
    ],
)
def test_limits_name_the_limit_and_value(texts: object, limit: str, index: int | None) -> None:
    with pytest.raises(InputLimitError) as err:
        check_texts(texts, LIMITS)
    assert err.value.limit == limit
    assert err.value.index == index
    if limit == "max_chars":
        assert "11 characters" in str(err.value) and "max_chars=10" in str(err.value)
    if limit == "max_batch":
        assert "4 texts" in str(err.value) and "max_batch=3" in str(err.value)


def test_limits_accept_good_input() -> None:
    assert check_texts(("a", "b"), LIMITS) == ["a", "b"]


def test_mean_pool_ignores_padding_and_normalizes() -> None:
    hidden = np.array([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]], dtype=np.int64)
    pooled = pool(hidden, mask, "mean")
    assert np.allclose(pooled, [[2.0, 2.0]])
    assert np.allclose(pool(hidden, mask, "cls"), [[1.0, 1.0]])
    assert np.allclose(np.linalg.norm(l2_normalize(pooled), axis=1), 1.0)
