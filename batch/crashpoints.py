"""Fault injection for the crash tests: kill -9 this process at a named commit step.

``PRECAST_BATCH_CRASH_AT=<step>:<n>`` sends SIGKILL to the job itself the n-th time it
reaches ``step`` (1-based). Steps, in commit order: ``after_part``, ``after_rejects``,
``mid_cache`` (half of the interval's cache entries written), ``after_cache``,
``after_checkpoint``. Unset (always, outside tests) it costs one dict lookup per commit.
"""

from __future__ import annotations

import os
import signal

ENV_CRASH_AT = "PRECAST_BATCH_CRASH_AT"
STEPS = ("after_part", "after_rejects", "mid_cache", "after_cache", "after_checkpoint")
_seen: dict[str, int] = {}


def armed(step: str) -> bool:
    """True when reaching ``step`` now should kill the process."""
    spec = os.environ.get(ENV_CRASH_AT)
    if not spec:
        return False
    name, _, nth = spec.partition(":")
    if name != step:
        return False
    _seen[step] = _seen.get(step, 0) + 1
    return _seen[step] == int(nth or 1)


def crash_point(step: str) -> None:
    if armed(step):
        kill_now()


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
