"""The end of an attempt of a shard: write the summary (and, when complete, the marker),
log it with the attempt's metrics, print it, and return the exit code; or, for a run
already complete, say so and print the marker's summary."""

from __future__ import annotations

import time
from typing import Any, TextIO

from batch import exit_codes
from batch.checkpoint import Checkpoint, Counts
from batch.exceptions import ErrorBudgetExceededError, TransientStorageError
from batch.layout import RunLayout
from batch.logs import JobLog
from batch.marker import marker_bytes
from batch.metrics import attempt_counts, batch_emf
from batch.settings import JobSettings
from batch.storage import Storage
from batch.summary import build_summary, encode_summary, format_summary
from edge.exceptions import CacheUnavailableError, PrecastError


def failure_code(exc: PrecastError) -> int:
    """The exit code of an attempt that failed with ``exc``."""
    if isinstance(exc, ErrorBudgetExceededError):
        return exit_codes.ERROR_BUDGET
    if isinstance(exc, CacheUnavailableError):  # checkpoint not advanced: a retry redoes it
        return exit_codes.CACHE_UNAVAILABLE
    if isinstance(exc, TransientStorageError):  # S3 down or throttled: the same, for storage
        return exit_codes.TEMPFAIL
    return exit_codes.FAILED  # storage, input format, a cache that rejects writes


class Finish:
    def __init__(
        self,
        *,
        settings: JobSettings,
        layout: RunLayout,
        identity: dict[str, Any],
        version: str,
        outputs: Storage,
        log: JobLog,
        out: TextIO,
        started: float,
    ) -> None:
        self.settings = settings
        self.layout = layout
        self.identity = identity
        self.version = version
        self.outputs = outputs
        self.log = log
        self.out = out
        self.started = started  # time.monotonic() when the attempt began

    def finish(
        self, ckpt: Checkpoint, counts_at_start: Counts, status: str, code: int, error: str | None
    ) -> int:
        """Write the summary (and the marker if complete), log and print it; the exit code.
        ``counts_at_start``: the checkpoint's totals when this attempt began (its metrics are
        the difference)."""

        def summarize() -> dict[str, Any]:
            return build_summary(
                status=status,
                exit_code=code,
                layout=self.layout,
                ckpt=ckpt,
                model_version=self.version,
                input_uri=self.settings.input,
                error_budget=self.settings.error_budget,
                attempt_s=time.monotonic() - self.started,
                error=error,
            )

        summary = summarize()
        try:
            self.outputs.write_bytes(self.layout.summary, encode_summary(summary))
            if status == "complete":
                marker = marker_bytes(self.layout, ckpt, self.identity, summary)
                self.outputs.write_bytes(self.layout.marker, marker)
        except PrecastError as exc:
            # S3 unavailable: still transient (a retry writes them); anything else is ours
            transient = isinstance(exc, TransientStorageError)
            if not (transient and code in exit_codes.RETRIED_BY_AWS_BATCH):
                code = exit_codes.TEMPFAIL if transient else exit_codes.FAILED
            status = "interrupted" if code == exit_codes.INTERRUPTED else "failed"
            error = f"{error + '; ' if error else ''}could not write the summary/marker: {exc}"
            summary = summarize()
        if error:
            self.log.event("error", error=error, exit_code=code)
        self.log.event("summary", **summary)
        metrics = batch_emf(summary, attempt_counts(counts_at_start, ckpt.counts))
        self.log.event("metrics", **metrics)
        print(format_summary(summary), file=self.out, flush=True)
        return code

    def already_complete(self, marker: dict[str, Any]) -> int:
        self.log.event("already_complete", run_id=self.layout.run_id, run_dir=self.layout.run_dir)
        print(
            f"shard {self.settings.shard} of run {self.layout.run_id} is already complete",
            file=self.out,
        )
        if marker.get("summary"):
            print(format_summary(marker["summary"]), file=self.out, flush=True)
        return exit_codes.OK
