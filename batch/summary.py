"""The shard's summary: what it read, skipped, predicted and rejected, how long it took.

Printed at the end of every run (stdout, human-readable), logged as the ``summary`` event
(stderr, JSON) and written as ``summary-<shard>.json`` in the run directory.

Fields: ``status`` (complete | interrupted | failed | already_complete), ``exit_code``,
``run_id``, ``run_dir``, ``shard``, ``model_version``, ``input``, ``records`` (read by this
shard, valid or not), ``skipped_cached``, ``predicted``, ``recovered``, ``rejected``,
``rejected_fraction``, ``error_budget``, ``cache_written``, ``output_rows``, ``parts``,
``reject_files``, ``attempts``, ``duration_s`` (all attempts), ``attempt_duration_s``,
``texts_per_s`` (output rows per second over ``duration_s``), ``peak_rss_mb`` (this
attempt's process), ``error`` (if any).
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

from batch.checkpoint import Checkpoint
from batch.layout import RunLayout


def build_summary(
    *,
    status: str,
    exit_code: int,
    layout: RunLayout,
    ckpt: Checkpoint,
    model_version: str,
    input_uri: str,
    error_budget: float,
    attempt_s: float,
    error: str | None = None,
) -> dict[str, Any]:
    c = ckpt.counts
    rows = c.cached + c.predicted + c.recovered
    duration = max(ckpt.elapsed_s, 1e-9)
    summary: dict[str, Any] = {
        "status": status,
        "exit_code": exit_code,
        "run_id": layout.run_id,
        "run_dir": layout.run_dir,
        "shard": str(layout.shard),
        "model_version": model_version,
        "input": input_uri,
        "records": c.read,
        "skipped_cached": c.cached,
        "predicted": c.predicted,
        "recovered": c.recovered,
        "rejected": c.rejected,
        "rejected_fraction": round(c.rejected / c.read, 6) if c.read else 0.0,
        "error_budget": error_budget,
        "cache_written": c.written,
        "output_rows": rows,
        "parts": ckpt.seq,
        "reject_files": len(ckpt.reject_parts),
        "attempts": ckpt.attempts,
        "duration_s": round(ckpt.elapsed_s, 3),
        "attempt_duration_s": round(attempt_s, 3),
        "texts_per_s": round(rows / duration, 1) if rows else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if error:
        summary["error"] = error
    return summary


def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"batch shard {s['shard']}: {s['status']} (exit {s['exit_code']}) "
        f"model {s['model_version']}",
        f"  run dir      {s['run_dir']}",
        f"  records      {s['records']:>10}   rejected {s['rejected']} "
        f"({s['rejected_fraction']:.2%} of budget {s['error_budget']:.2%})",
        f"  cached       {s['skipped_cached']:>10}   predicted {s['predicted']}"
        f"   recovered {s['recovered']}",
        f"  output rows  {s['output_rows']:>10}   in {s['parts']} parts; "
        f"cache entries written {s['cache_written']}",
        f"  duration     {s['duration_s']:>9.1f}s   {s['texts_per_s']} texts/s over "
        f"{s['attempts']} attempt(s); peak RSS {s.get('peak_rss_mb', 0):.0f} MB",
    ]
    if s.get("error"):
        lines.append(f"  error        {s['error']}")
    return "\n".join(lines)


def encode_summary(s: dict[str, Any]) -> bytes:
    return json.dumps(s, indent=1).encode()
