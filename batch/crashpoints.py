"""Fault injection for the crash and signal tests: named points in the job's own sequence.

The job calls :func:`reached` at each named point; the n-th arrival at a point (1-based,
counted per process) is ``<step>:<n>``. Two test-only switches act on that sequence:

- ``PRECAST_BATCH_CRASH_AT=<step>:<n>`` sends SIGKILL to the job itself there.
- ``PRECAST_BATCH_PAUSE_AT=<step>:<n>`` with ``PRECAST_BATCH_PAUSE_FIFO=<path>`` (a FIFO
  the test made with ``os.mkfifo``): the job prints ``{"event": "paused", "step": ...,
  "n": ...}`` on stderr and blocks until the test writes one byte to the FIFO. While it
  waits, the test may kill it (the kill provably lands mid-run, at that point) or send it
  SIGTERM and then release it (the signal provably arrives before the job is done).

Points, in order: ``after_chunk`` (one chunk read, validated and inferred, not yet
committed), ``after_renew`` (the shard's lease renewed, the commit about to start), then
the commit steps ``after_part``, ``after_rejects``, ``mid_cache`` (half
of the interval's cache entries written; crash only), ``after_cache``,
``after_checkpoint``. Unset (always, outside tests) a point costs two dict lookups.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from edge.environment import (
    PRECAST_BATCH_CRASH_AT,
    PRECAST_BATCH_PAUSE_AT,
    PRECAST_BATCH_PAUSE_FIFO,
)

ENV_CRASH_AT = PRECAST_BATCH_CRASH_AT.name
ENV_PAUSE_AT = PRECAST_BATCH_PAUSE_AT.name
ENV_PAUSE_FIFO = PRECAST_BATCH_PAUSE_FIFO.name
STEPS = ("after_part", "after_rejects", "mid_cache", "after_cache", "after_checkpoint")
POINTS = ("after_chunk", "after_renew", *STEPS)
PAUSED_EVENT = "paused"
_seen: dict[str, int] = {}


def _target(variable: str) -> tuple[str, int] | None:
    spec = os.environ.get(variable)
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    return name, int(nth or 1)


def _arrive(step: str) -> int:
    _seen[step] = _seen.get(step, 0) + 1
    return _seen[step]


def armed(step: str) -> bool:
    """Count an arrival at ``step``; True when this arrival should kill the process."""
    n = _arrive(step)
    return _target(ENV_CRASH_AT) == (step, n)


def reached(step: str) -> None:
    """Count an arrival at ``step``; kill or pause here when a test asked for it."""
    n = _arrive(step)
    if _target(ENV_CRASH_AT) == (step, n):
        kill_now()
    if _target(ENV_PAUSE_AT) == (step, n):
        pause(step, n)


def crash_point(step: str) -> None:
    reached(step)


def pause(step: str, n: int) -> None:
    """Announce the pause, then block until one byte arrives on the FIFO.

    The FIFO is opened read-write first, so the open never blocks and the test can open its
    write end without racing the job (a reader exists from the moment the event is out).
    A signal that arrives meanwhile runs its handler and the read resumes (PEP 475).
    """
    fifo = os.environ[ENV_PAUSE_FIFO]
    fd = os.open(fifo, os.O_RDWR)
    try:
        print(json.dumps({"event": PAUSED_EVENT, "step": step, "n": n}), file=sys.stderr)
        sys.stderr.flush()
        os.read(fd, 1)
    finally:
        os.close(fd)


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
