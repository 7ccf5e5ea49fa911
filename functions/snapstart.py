"""Lambda SnapStart runtime hooks: what environments restored from one snapshot must not share.

With SnapStart, Lambda runs the init phase (``functions.lambda_handler``: the model loaded,
verified and smoke-checked, the app built) once per published version, snapshots the
memory, and starts every new environment from that snapshot. So everything created at init
is shared by all of them unless a hook re-creates it:

- before the snapshot: the cache's connections and handles are closed (a snapshot must not
  carry open sockets or a SQLite handle);
- after each restore: the cache reconnects (a new boto3 client and connection pool, a new
  SQLite handle per thread, a closed circuit breaker: an ``opened_at`` read on the
  snapshotted clock means nothing now), ``random`` and NumPy's global generator are
  reseeded from the OS (the DynamoDB backoff jitter would otherwise be identical in every
  environment), the smoke check runs again (the restore may land on another CPU of the
  same architecture: refuse rather than answer with different vectors) and one
  ``restored from snapshot`` line is logged.

``snapshot_restore_py`` exists only in Lambda's Python runtime (3.12+), so it is imported
guarded: elsewhere :func:`register` registers nothing and the hooks are plain functions a
test calls in-process.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from functions.registry import ModelRegistry


@dataclass
class SnapshotState:
    """What the hooks remember between the snapshot and a restore (for the restore log)."""

    snapshot_at: float | None = None  # wall clock when the snapshot was taken
    restores: int = 0
    last_restore: dict[str, object] | None = None  # what the restore logged


def register(registry: ModelRegistry, logger: Logger) -> SnapshotState | None:
    """Register both hooks with Lambda's runtime; None where the runtime has no SnapStart."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not in Lambda's runtime: no snapshot will be taken
        return None
    state = SnapshotState()
    register_before_snapshot(before_snapshot, registry, logger, state)
    register_after_restore(after_restore, registry, logger, state)
    return state


def before_snapshot(registry: ModelRegistry, logger: Logger, state: SnapshotState) -> None:
    """Close the cache's connections so the snapshot holds none."""
    if registry.cache is not None:
        registry.cache.close()
    state.snapshot_at = time.time()
    logger.info("taking snapshot", extra={"models": registry.names()})


def after_restore(registry: ModelRegistry, logger: Logger, state: SnapshotState) -> None:
    """Re-create what must be unique per environment, check the model, log the restore."""
    from edge.smoke import require_smoke

    start = time.perf_counter()
    random.seed()  # from os.urandom: every restored environment draws its own jitter
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    registry.reconnect()
    smoke = {name: require_smoke(registry.get(name)).min_cosine for name in registry.names()}
    state.restores += 1
    record: dict[str, object] = {
        "snapshot_age_s": None if state.snapshot_at is None else time.time() - state.snapshot_at,
        "restore_hooks_ms": round((time.perf_counter() - start) * 1000, 2),
        "cache_reconnected": registry.cache is not None,
        "smoke_min_cosine": smoke,
    }
    state.last_restore = record
    logger.info("restored from snapshot", extra=record)
