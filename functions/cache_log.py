"""Cache failures in the server's log, rate-limited: a cache that is down fails every request.

The response already says ``cache.error`` to its client; operators get one WARNING per
``interval_s`` (60 s) with the latest error and how many failures it stands for. Thread-safe;
the clock is injectable for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

DEFAULT_INTERVAL_S = 60.0
logger = logging.getLogger("precast.functions.cache")


class CacheFailureLog:
    def __init__(
        self,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger = logger,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._log = log
        self._lock = threading.Lock()
        self._last: float | None = None
        self._suppressed = 0

    def __call__(self, model: str, error: str) -> bool:
        """Record one failure; True when it was logged (the first one of its interval)."""
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last < self.interval_s:
                self._suppressed += 1
                return False
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        self._log.warning(
            "prediction cache failed for model %s (served live): %s; %d more failures in "
            "the last %.0f s were not logged",
            model,
            error,
            suppressed,
            self.interval_s,
        )
        return True
