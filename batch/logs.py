"""Structured logs (one JSON object per line on stderr) and the optional progress bar.

Every line has ``ts`` (UTC, ISO 8601), ``event`` and ``shard``; events are ``start``,
``checkpoint``, ``stop_requested``, ``interrupted``, ``cache_read_error``,
``already_complete``, ``error`` and ``summary``. The tqdm bar (records of this shard)
appears when stderr is a terminal or ``--progress`` is passed; log lines are printed
above it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO


class JobLog:
    def __init__(self, shard: str, *, stream: TextIO | None = None) -> None:
        self.shard = shard
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._unprocessed_seen = 0  # cache keys left unprocessed, already logged

    def event(self, name: str, **fields: Any) -> None:
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": name,
            "shard": self.shard,
            **fields,
        }
        line = json.dumps(record, default=str)
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def cache_keys_unprocessed(self, cache: object, seq: int) -> None:
        """Keys the cache left unprocessed (DynamoDB UnprocessedKeys after its retries) were
        computed live: identical vectors (per-text execution), but logged and counted."""
        total = int(getattr(cache, "unprocessed_misses", 0) or 0)
        new = total - self._unprocessed_seen
        if new > 0:
            self._unprocessed_seen = total
            self.event("cache_keys_unprocessed", keys=new, total=total, seq=seq)

    def cache_write_retry(self, seq: int, round_no: int, left: int, error: str) -> None:
        self.event("cache_write_retry", seq=seq, round=round_no, entries=left, error=error)

    def start_progress(self, enabled: bool | None, *, initial: int = 0) -> None:
        """``enabled=None``: a bar only when the log stream is a terminal."""
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        if not enabled:
            return
        from tqdm import tqdm

        self._bar = tqdm(
            file=self.stream,
            initial=initial,
            unit="rec",
            desc=f"shard {self.shard}",
            dynamic_ncols=True,
        )

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
