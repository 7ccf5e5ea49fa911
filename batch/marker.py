"""Finishing a shard: the error budget, then the ``_SUCCESS-<shard>.json`` marker.

The marker is written last, only when every record was consumed and the rejects are
within budget. It lists the shard's parts and rejects files and holds the summary, so a
consumer reads exactly the listed files. A rerun of a complete shard re-reads the listed
parts against their digests (:func:`damaged_marker_parts`): a no-op when all match.
"""

from __future__ import annotations

import json
from typing import Any

from batch.checkpoint import Checkpoint, Counts, digest
from batch.exceptions import ErrorBudgetExceededError
from batch.layout import RunLayout
from batch.storage import Storage, join


def check_error_budget(counts: Counts, budget: float) -> None:
    """Raise :class:`ErrorBudgetExceededError` if the rejected fraction exceeds ``budget``."""
    if counts.read and counts.rejected / counts.read > budget:
        raise ErrorBudgetExceededError(
            f"{counts.rejected} of {counts.read} records rejected "
            f"({counts.rejected / counts.read:.2%}), over the error budget of {budget:.2%}. "
            "See the rejects-*.jsonl files in the run directory; fix the input or raise "
            "--error-budget.",
            rejected=counts.rejected,
            records=counts.read,
            budget=budget,
        )


def marker_bytes(
    layout: RunLayout, ckpt: Checkpoint, identity: dict[str, Any], summary: dict[str, Any]
) -> bytes:
    body = {
        "run_id": layout.run_id,
        "run": identity,
        "shard": str(layout.shard),
        "parts": [layout.part_name(s) for s in range(ckpt.seq)],
        # what the job verified (re-read, size and sha256) just before writing this marker
        "part_digests": [
            {"name": p.name, "rows": p.rows, "bytes": p.size, "sha256": p.sha256}
            for p in ckpt.parts
        ],
        "verified": {"parts": len(ckpt.parts), "rows": sum(p.rows for p in ckpt.parts)},
        "rejects": [layout.rejects_name(s) for s in ckpt.reject_parts],
        # sha256 of each local JSONL input file as read (batch.input_digest); [] otherwise
        "input_sha256": list(ckpt.input_sha256),
        "summary": summary,
    }
    return json.dumps(body, indent=1).encode()


def read_marker(storage: Storage, layout: RunLayout) -> dict[str, Any] | None:
    data = storage.read_bytes(layout.marker)
    if data is None:
        return None
    marker: dict[str, Any] = json.loads(data)
    return marker


def damaged_marker_parts(storage: Storage, layout: RunLayout, marker: dict[str, Any]) -> list[str]:
    """Names of the parts a complete run's marker lists whose bytes no longer match it
    (missing, truncated, overwritten, even at the same size): re-read and re-hashed. A
    marker from before ``part_digests`` existed has nothing to check against: []."""
    damaged: list[str] = []
    for entry in marker.get("part_digests") or []:
        name = str(entry["name"])
        data = storage.read_bytes(join(layout.run_dir, name))
        if data is None or len(data) != int(entry["bytes"]) or digest(data) != entry["sha256"]:
            damaged.append(name)
    return damaged
