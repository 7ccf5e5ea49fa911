"""Request bodies: read with a byte cap, decode JSON, and check the predict request's shape.

The cap is enforced twice: a declared ``Content-Length`` over the cap is refused before a
byte is read, and the stream is read in chunks and refused as soon as it passes the cap
(a client may omit or understate the length). Parsing failures become precise 4xx errors,
never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from edge.exceptions import InputLimitError
from functions.exceptions import (
    BodyTooLargeError,
    InvalidJSONError,
    RequestValidationError,
    UnsupportedMediaTypeError,
)

PREDICT_KEYS = ("inputs", "input")


def _too_large(allowed: int, actual: int, *, declared: bool) -> BodyTooLargeError:
    how = "declares" if declared else "sent more than"
    shown = actual if declared else allowed
    return BodyTooLargeError(
        f"request body {how} {shown} bytes; the limit is max_body_bytes={allowed}. "
        "Send fewer or shorter texts per request.",
        limit="max_body_bytes",
        allowed=allowed,
        actual=actual,
    )


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or :class:`BodyTooLargeError` once it passes ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InvalidJSONError(f"Content-Length {declared!r} is not a byte count")
        if int(declared) > max_bytes:
            raise _too_large(max_bytes, int(declared), declared=True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes, size, declared=False)
        chunks.append(chunk)
    return b"".join(chunks)


def check_content_type(request: Request) -> None:
    """A declared Content-Type must be JSON; none at all is accepted (curl --data-raw)."""
    ctype = request.headers.get("content-type")
    if ctype is None:
        return
    media = ctype.split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported; send application/json",
            allowed="application/json",
            actual=media,
        )


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise InvalidJSONError('request body is empty; send {"inputs": ["text", ...]}')
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise InvalidJSONError(
            f"request body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidJSONError(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidJSONError("request body JSON is nested too deeply") from None


def predict_texts(payload: Any) -> object:
    """``{"inputs": [...]}`` -> the list; ``{"input": "text"}`` -> ``["text"]``.

    Item types and limits are checked afterwards by ``edge.limits.check_texts`` so that
    every host and the batch job report them the same way.
    """
    if not isinstance(payload, dict):
        raise RequestValidationError(
            f'request body must be a JSON object like {{"inputs": ["text"]}}, '
            f"got {_json_type(payload)}",
            allowed="object",
            actual=_json_type(payload),
        )
    unknown = sorted(set(payload) - set(PREDICT_KEYS))
    if unknown:
        raise RequestValidationError(
            f"unknown field {unknown[0]!r}. Allowed fields: inputs (list of strings) or "
            "input (one string)",
            allowed=list(PREDICT_KEYS),
            actual=unknown,
        )
    if "inputs" in payload and "input" in payload:
        raise RequestValidationError(
            "send either 'inputs' (a list) or 'input' (one string), not both",
            allowed=list(PREDICT_KEYS),
            actual=sorted(payload),
        )
    if "input" in payload:
        one = payload["input"]
        if not isinstance(one, str):
            raise RequestValidationError(
                f"'input' must be a string, got {_json_type(one)}; use 'inputs' for a list",
                allowed="string",
                actual=_json_type(one),
            )
        return [one]
    if "inputs" not in payload:
        raise RequestValidationError(
            "missing field 'inputs' (a list of strings) or 'input' (one string)",
            allowed=list(PREDICT_KEYS),
            actual=[],
        )
    inputs = payload["inputs"]
    if not isinstance(inputs, list):
        raise RequestValidationError(
            f"'inputs' must be a list of strings, got {_json_type(inputs)}",
            allowed="array of strings",
            actual=_json_type(inputs),
        )
    return inputs


def check_unicode(texts: list[str]) -> list[str]:
    """JSON may carry lone surrogates (``"\\ud800"``) that no tokenizer can encode: 422."""
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputLimitError(
                f"inputs[{i}] is not valid Unicode: {exc.reason} at character {exc.start}",
                limit="encoding",
                allowed="valid Unicode text (no lone surrogates)",
                actual=repr(text[exc.start : exc.end]),
                index=i,
            ) from None
    return texts


def _json_type(value: object) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
