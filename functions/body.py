"""Request bodies: read with a byte cap, decode JSON, and check the predict request's shape.

The cap is enforced twice: a declared ``Content-Length`` over the cap is refused before a
byte is read, and the stream is read in chunks and refused as soon as it passes the cap
(a client may omit or understate the length). A body that does not arrive in time is a
408 (:class:`BodyTimeoutError`; only a streaming host waits), a client that goes away is
logged at INFO (:class:`ClientDisconnectedError`). Bodies are UTF-8 only: no UTF-16/32
auto-detection and no byte-order mark. Every decode failure is a precise 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from starlette.requests import ClientDisconnect, Request

from edge.exceptions import InputLimitError
from functions.exceptions import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientDisconnectedError,
    InvalidJSONError,
    RequestValidationError,
    UnsupportedMediaTypeError,
    echo,
    echoable,
)
from functions.request_types import PREDICT_KEYS


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


async def read_body(request: Request, max_bytes: int, *, timeout_s: float | None = None) -> bytes:
    """The whole body, or :class:`BodyTooLargeError` once it passes ``max_bytes``.

    ``timeout_s`` bounds the whole read (a client that declares 1000 bytes and sends 14 gets
    a 408 instead of holding the connection); ``None`` waits as long as the host does.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InvalidJSONError(f"Content-Length {echo(declared)} is not a byte count")
        if int(declared) > max_bytes:
            raise _too_large(max_bytes, int(declared), declared=True)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes, size, declared=False)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeoutError(
            f"the request body did not arrive within body_timeout_s={timeout_s:g} "
            f"({size} bytes received{f' of {declared} declared' if declared else ''})",
            limit="body_timeout_s",
            allowed=timeout_s,
            actual=size,
        ) from None
    except ClientDisconnect:
        raise ClientDisconnectedError(
            f"the client disconnected after {size} bytes of the body",
            limit="body",
            actual=size,
        ) from None
    return b"".join(chunks)


def check_content_type(request: Request) -> None:
    """A declared Content-Type must be JSON; none at all is accepted (curl --data-raw)."""
    ctype = request.headers.get("content-type")
    if ctype is None:
        return
    media = ctype.split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {echo(media)} is not supported; send application/json",
            allowed="application/json",
            actual=media,
        )


def parse_json(body: bytes) -> Any:
    """UTF-8 JSON (RFC 8259: no BOM, no other encoding); a failure is :class:`InvalidJSONError`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSONError(
            f"request body is not UTF-8: {exc.reason} at byte {exc.start}. Send UTF-8 JSON."
        ) from None
    if text.startswith("\ufeff"):
        raise InvalidJSONError("request body starts with a byte-order mark; send UTF-8 without one")
    if not text.strip():
        raise InvalidJSONError('request body is empty; send {"inputs": ["text", ...]}')
    refused: list[_NonFinite] = []

    def non_finite(literal: str) -> _NonFinite:
        refused.append(_NonFinite(literal))
        return refused[-1]

    def finite_float(literal: str) -> float | _NonFinite:
        value = float(literal)
        return value if math.isfinite(value) else non_finite(literal)

    try:
        payload = json.loads(text, parse_constant=non_finite, parse_float=finite_float)
    except json.JSONDecodeError as exc:
        raise InvalidJSONError(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidJSONError("request body JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than sys.get_int_max_str_digits() digits
        raise InvalidJSONError(f"request body has a number Python cannot read: {exc}") from None
    if refused:
        _refuse_non_finite(payload, refused[0])
    return payload


class _NonFinite:
    """Where the body held ``NaN``, ``Infinity``, ``-Infinity`` or a number past a double's
    range (``1e999``): JSON (RFC 8259) has no such numbers, and no response could carry one."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


def _refuse_non_finite(payload: Any, first: _NonFinite) -> None:
    """:class:`InvalidJSONError` naming where ``first`` sits (``dimensions``, ``inputs[2]``)."""
    stack: list[tuple[Any, str]] = [(payload, "")]
    where = "the body"
    while stack:  # iterative: the body may nest as deeply as json.loads allows
        value, path = stack.pop()
        if value is first:
            where = path or "the body"
            break
        if isinstance(value, dict):
            keys = [(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()]
            stack.extend(reversed(keys))
        elif isinstance(value, list):
            stack.extend(reversed([(v, f"{path}[{i}]") for i, v in enumerate(value)]))
    raise InvalidJSONError(
        f"{where if where == 'the body' else echo(where)} holds the number "
        f"{echoable(first.literal)}; JSON numbers must be finite "
        "(no NaN, Infinity, or magnitudes past 1.8e308)",
        limit="finite_number",
        allowed="a finite number",
        actual=first.literal,
    )


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
            f"unknown field {echo(unknown[0])}. Allowed fields: inputs (list of strings) or "
            "input (one string), prompt_name (string), top_k (integer)",
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


def predict_options(payload: dict[str, Any]) -> tuple[str | None, int | None]:
    """``prompt_name`` (one of the model's prompts) and ``top_k`` (labels per text), both
    optional; their values are checked against the model by the caller."""
    prompt, top_k = payload.get("prompt_name"), payload.get("top_k")
    if prompt is not None and not isinstance(prompt, str):
        raise RequestValidationError(
            f"'prompt_name' must be a string, got {_json_type(prompt)}",
            limit="prompt_name",
            allowed="string",
            actual=_json_type(prompt),
        )
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise RequestValidationError(
            f"'top_k' must be a positive integer, got {echo(top_k)}",
            limit="top_k",
            allowed=">= 1",
            actual=echo(top_k),
        )
    return prompt, top_k


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
