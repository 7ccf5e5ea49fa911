"""Execution plans: which texts of one call run together (no model, pure index logic)."""

from __future__ import annotations

import pytest

from edge.execution import BUCKETED, MAX_GROUP, PER_TEXT, SAME_LENGTH, ExecutionPlan


def test_per_text_runs_every_text_alone_in_input_order() -> None:
    """GIVEN a per-text plan WHEN grouping 4 texts (two of one length) THEN 4 runs of one."""
    plan = ExecutionPlan(PER_TEXT, workers=2, threads=1)
    assert plan.groups([5, 9, 5, 7]) == [[0], [1], [2], [3]]


def test_same_length_groups_hold_only_equal_lengths_and_at_most_max_group() -> None:
    """GIVEN a same-length plan WHEN grouping lengths with repeats (one length more than
    MAX_GROUP times) THEN each group has one length, none exceeds MAX_GROUP, every index
    appears exactly once, and the plan is batch-invariant (unlike bucketed)."""
    lengths = [5, 9, 5, 7, 9] + [256] * (MAX_GROUP + 3)
    plan = ExecutionPlan(SAME_LENGTH, workers=2, threads=1)
    groups = plan.groups(lengths)
    assert groups[:3] == [[0, 2], [1, 4], [3]]
    assert [len(g) for g in groups[3:]] == [MAX_GROUP, 3]
    assert all(len({lengths[i] for i in g}) == 1 for g in groups)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert plan.batch_invariant and not ExecutionPlan(BUCKETED, 1, 2).batch_invariant
    assert "texts of one length" in plan.describe()


def test_a_bucketed_plan_is_not_grouped_here() -> None:
    """GIVEN a bucketed plan WHEN asked for batch-invariant groups THEN a precise error."""
    with pytest.raises(ValueError, match="plan_batches"):
        ExecutionPlan(BUCKETED, workers=1, threads=2).groups([3, 4])
