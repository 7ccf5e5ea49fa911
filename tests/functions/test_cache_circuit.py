"""The circuit breaker's state machine, on an injected clock (unit: no network)."""

from __future__ import annotations

import pytest

from edge.cache.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from edge.exceptions import CacheUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_of_consecutive_failures() -> None:
    """GIVEN threshold 3 WHEN 2 failures, a success, then 3 failures THEN open only at the end."""
    b = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=Clock())
    b.record_failure("e1")
    b.record_failure("e2")
    b.record_success()
    b.record_failure("e3")
    b.record_failure("e4")
    assert b.state == CLOSED
    b.record_failure("e5")
    assert b.state == OPEN
    with pytest.raises(CacheUnavailableError, match="e5"):
        b.before_call()


def test_half_open_lets_one_trial_through_and_success_closes() -> None:
    """GIVEN an open breaker WHEN the cool-down passes THEN one trial call runs (others are
    refused meanwhile) and its success closes the circuit."""
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    b.record_failure("down")
    clock.now += 9.9
    with pytest.raises(CacheUnavailableError, match="next try in 0.1s"):
        b.before_call()
    clock.now += 0.1
    assert b.state == HALF_OPEN
    b.before_call()  # the trial
    with pytest.raises(CacheUnavailableError):
        b.before_call()  # a second caller while the trial runs
    b.record_success()
    assert b.state == CLOSED
    b.before_call()


def test_a_failed_trial_reopens_for_a_full_cooldown() -> None:
    """GIVEN a half-open breaker WHEN the trial fails THEN it is open for cooldown_s again."""
    clock = Clock()
    b = CircuitBreaker(failure_threshold=5, cooldown_s=10, clock=clock)
    for i in range(5):
        b.record_failure(f"e{i}")
    clock.now += 10
    b.before_call()
    b.record_failure("still down")
    assert b.state == OPEN
    clock.now += 9
    assert b.state == OPEN
    clock.now += 1
    assert b.state == HALF_OPEN


def test_rejects_nonsense_settings() -> None:
    """GIVEN a zero threshold WHEN built THEN ValueError says what is allowed."""
    with pytest.raises(ValueError, match="failure_threshold must be >= 1"):
        CircuitBreaker(failure_threshold=0)


def test_reset_closes_an_open_circuit_and_takes_a_new_clock() -> None:
    """GIVEN a breaker opened on one clock (a snapshotted environment's) WHEN reset with
    another clock (the restored one, far behind) THEN it is closed, counts from zero, and a
    new failure opens it on the new clock's time."""
    old, new = Clock(), Clock()
    b = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=old)
    b.record_failure("a")
    b.record_failure("b")
    assert b.state == OPEN
    new.now = 5.0  # behind the old clock: without a reset the cool-down would never end
    b.reset(clock=new)
    assert b.state == CLOSED and b.last_error is None
    b.before_call()  # does not raise
    b.record_failure("c")
    assert b.state == CLOSED  # one failure of two: the old count is gone
    b.record_failure("d")
    assert b.state == OPEN
    new.now += 10
    assert b.state == HALF_OPEN
