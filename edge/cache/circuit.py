"""A circuit breaker for remote cache backends: when the cache is down, stop asking.

After ``failure_threshold`` consecutive failed calls the circuit opens: for
``cooldown_s`` every call fails at once with :class:`CacheUnavailableError` (no network,
no added latency) and the caller serves live. Then one trial call is let through
(half-open): success closes the circuit, failure opens it for another cool-down.
Thread-safe; the clock is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge.exceptions import CacheUnavailableError

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        name: str = "cache",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or cooldown_s < 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s >= 0")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.last_error: str | None = None

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return HALF_OPEN
        return OPEN

    def before_call(self) -> None:
        """Raise :class:`CacheUnavailableError` at once while open (or while a trial runs)."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return
            assert self._opened_at is not None
            left = max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
            raise CacheUnavailableError(
                f"{self.name} is unavailable (circuit open after {self.failure_threshold} "
                f"consecutive failures; next try in {left:.1f}s). Last error: {self.last_error}"
            )

    def reset(self, clock: Callable[[], float] | None = None) -> None:
        """Closed, no failures counted; optionally a new clock. A SnapStart restore calls it:
        an ``opened_at`` read on the snapshotted environment's clock means nothing after."""
        with self._lock:
            if clock is not None:
                self._clock = clock
            self._failures = 0
            self._opened_at = None
            self._trial_running = False
            self.last_error = None

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self, error: str) -> None:
        with self._lock:
            self.last_error = error
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_running = False
