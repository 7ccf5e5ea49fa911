"""Rejected records: one JSON object per line in ``rejects-<shard>-<seq>.jsonl``.

Fields: ``record`` (global record number, 0-based), ``file`` (input URI), ``line``
(JSONL, 1-based) or ``row`` (Parquet, 0-based), ``id`` (null when there is none),
``reason`` (a stable code, see REASONS) and ``detail`` (a sentence for people).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

REASONS = (
    "malformed_json",  # the line is not valid JSON (or not UTF-8)
    "not_an_object",  # valid JSON, but not an object
    "line_too_long",  # a line over 16 MiB; skipped unparsed
    "missing_id",  # no id field, or null/empty
    "bad_id",  # id is neither a string nor an integer
    "missing_text",  # no text field, or null
    "bad_text",  # text is not a string
    "empty_text",  # text is empty or only whitespace
    "max_chars",  # text longer than the model's max_chars
    "max_tokens",  # text longer than max_tokens and the model does not truncate
)


@dataclass(frozen=True, slots=True)
class Reject:
    record: int
    file: str
    line: int | None
    row: int | None
    id: Any
    reason: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("line", "row"):
            if out[key] is None:
                del out[key]
        return out


def encode_rejects(rejects: Sequence[Reject]) -> bytes:
    return "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in rejects).encode()
