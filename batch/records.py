"""Turn a raw record into a valid ``(id, text)`` or a :class:`Reject` saying why not.

A text-ranking model's records are (query, passage) pairs instead: JSONL objects with
:data:`PAIR_FIELDS` (``query`` and ``passage``), each checked like a text.

Text checks are edge's own (:func:`edge.limits.check_texts` with the model's limits), so
the batch job rejects exactly what the HTTP API would answer with a 4xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batch.readers import RawRecord
from batch.rejects import Reject
from edge.exceptions import InputLimitError
from edge.limits import InputLimits, check_texts

# InputLimitError.limit -> reject reason
LIMIT_REASONS = {
    "empty": "empty_text",
    "max_chars": "max_chars",
    "max_tokens": "max_tokens",
    "type": "bad_text",
}


PAIR_FIELDS = ("query", "passage")  # a text-ranking record's two texts (JSONL)


@dataclass(frozen=True, slots=True)
class ValidRecord:
    raw: RawRecord
    id: str | int
    text: str
    pair: tuple[str, str] | None = None  # text-ranking: (query, passage); text is unused


def validate(
    raw: RawRecord, *, id_field: str, text_field: str, limits: InputLimits, pairs: bool = False
) -> ValidRecord | Reject:
    """``pairs``: the record is a (query, passage) pair (:data:`PAIR_FIELDS`)."""
    if raw.payload is None:
        return reject(raw, None, "line_too_long", "line is longer than 16 MiB; not parsed")
    obj: dict[str, Any] = {}
    if isinstance(raw.payload, tuple):
        if pairs:
            detail = f"a text-ranking job reads JSONL records with {'/'.join(PAIR_FIELDS)}"
            return reject(raw, raw.payload[0], "missing_text", detail)
        record_id, text = raw.payload
    else:
        try:
            obj = json.loads(raw.payload)
        except (ValueError, UnicodeDecodeError) as exc:
            return reject(raw, None, "malformed_json", f"not valid JSON: {exc}")
        if not isinstance(obj, dict):
            return reject(
                raw, None, "not_an_object", f"a line must be a JSON object, got {_kind(obj)}"
            )
        record_id = obj.get(id_field)
        text = obj.get(PAIR_FIELDS[0]) if pairs else obj.get(text_field)
    if record_id is None or record_id == "":
        return reject(raw, None, "missing_id", f"no {id_field!r} field (or it is null/empty)")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        detail = f"{id_field!r} must be a string or an integer, got {_kind(record_id)}"
        return reject(raw, record_id, "bad_id", detail)
    fields = PAIR_FIELDS if pairs else (text_field,)
    values = [obj.get(f) for f in fields] if pairs else [text]
    for name, value in zip(fields, values, strict=True):
        if value is None:
            return reject(raw, record_id, "missing_text", f"no {name!r} field (or it is null)")
    try:
        checked = check_texts(values, limits)
    except InputLimitError as exc:
        return reject(raw, record_id, LIMIT_REASONS.get(exc.limit, exc.limit), str(exc))
    if pairs:
        return ValidRecord(raw, record_id, checked[0], (checked[0], checked[1]))
    return ValidRecord(raw, record_id, checked[0])


def reject(raw: RawRecord, record_id: Any, reason: str, detail: str) -> Reject:
    if record_id is not None and not isinstance(record_id, str | int | float | bool):
        record_id = repr(record_id)
    return Reject(
        record=raw.number,
        file=raw.file,
        line=raw.line,
        row=raw.row,
        id=record_id,
        reason=reason,
        detail=detail.replace("inputs[0]", "text"),
    )


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
