"""The one smoke comparison (edge.smoke.worst_cosine): the start-up check and the health
check both decide with it, against the manifest's one tolerance."""

from __future__ import annotations

import numpy as np

from edge.manifest import SMOKE_MIN_COSINE, SmokeSet
from edge.smoke import worst_cosine


def test_worst_cosine_is_the_smallest_row_cosine() -> None:
    expected = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    got = np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    assert worst_cosine(expected, expected) == 1.0
    assert worst_cosine(got, expected) == np.float32(1 / np.sqrt(2))


def test_a_shape_mismatch_is_none_and_a_non_finite_row_minus_infinity() -> None:
    expected = np.ones((2, 3), dtype=np.float32)
    assert worst_cosine(np.ones((2, 4), dtype=np.float32), expected) is None
    broken = np.array([[1.0, 1.0, 1.0], [np.nan, 1.0, 1.0]], dtype=np.float32)
    assert worst_cosine(broken, expected) == float("-inf")


def test_a_smoke_set_without_a_tolerance_asks_for_the_one_constant() -> None:
    assert SmokeSet().required == SMOKE_MIN_COSINE == 0.99
    assert SmokeSet.from_json({"min_cosine": 0.95}).required == 0.95
