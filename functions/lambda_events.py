"""Which Lambda events the handler serves, and a precise refusal for every other one.

The Lambda host serves Function URL events (payload format 2.0). :func:`read_event` checks
an event before Mangum sees it and returns a normalized copy (headers, query string,
cookies and body present with the right types; a base64 body decoded and checked), or
raises:

- :class:`~functions.exceptions.InvalidEventError` for a malformed payload-2.0 event
  (``headers: null`` is read as no headers; a non-string header, a missing
  ``requestContext.http.method``, invalid base64 are errors);
- :class:`~functions.exceptions.UnsupportedEventError` for any other source (SQS, SNS,
  S3, EventBridge, API Gateway REST / payload 1.0, ALB, an empty or non-object event),
  naming the source it recognized.

The host turns both into a Function URL response (400 + the JSON error shape), logs and
meters them like any request.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.exceptions import InvalidEventError, UnsupportedEventError

FUNCTION_URL_VERSION = "2.0"
_SERVED = "Function URL events (payload format 2.0)"


@dataclass(frozen=True)
class FunctionUrlRequest:
    """A checked Function URL event: ``event`` is what Mangum gets."""

    event: dict[str, Any]
    method: str
    path: str


def describe(event: object) -> str:
    """A short name for what ``event`` is, for the logs of an invocation."""
    if not isinstance(event, Mapping):
        return f"{_json_type(event)} event"
    source = _foreign_source(event)
    return source or f"payload {event.get('version')} event"


def read_event(event: object) -> FunctionUrlRequest:
    if not isinstance(event, Mapping):
        raise UnsupportedEventError(
            f"this handler serves {_SERVED}; the event is a JSON {_json_type(event)}, "
            "not an object",
            allowed=_SERVED,
            actual=_json_type(event),
        )
    source = _foreign_source(event)
    if source is not None:
        raise UnsupportedEventError(
            f"this handler serves {_SERVED}; got {source}. Invoke it through its Function "
            "URL, or route this source to a function built for it",
            allowed=_SERVED,
            actual=source,
        )
    context = _mapping(event, "requestContext", "event")
    http = _mapping(context, "http", "requestContext")
    method = _string(http, "method", "requestContext.http")
    path = _string(http, "path", "requestContext.http")
    if not path.startswith("/"):
        raise InvalidEventError(
            f"requestContext.http.path must start with '/', got {path[:40]!r}",
            allowed="an absolute path",
            actual=path[:40],
        )
    source_ip = http.get("sourceIp", "")
    if not isinstance(source_ip, str):
        raise _wrong_type("requestContext.http.sourceIp", "string", source_ip)
    normalized = dict(event)
    normalized["requestContext"] = {**context, "http": {**http, "sourceIp": source_ip}}
    normalized["headers"] = _headers(event.get("headers"))
    _check_host(normalized["headers"])
    normalized["rawQueryString"] = _optional_string(event, "rawQueryString")
    normalized["cookies"] = _cookies(event.get("cookies"))
    normalized["body"] = _body(event)
    normalized["isBase64Encoded"] = False  # _body decoded it
    return FunctionUrlRequest(normalized, method, path)


def _foreign_source(event: Mapping[str, Any]) -> str | None:
    """The event source when it is not a Function URL one; None for payload 2.0."""
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        first = records[0]
        name = first.get("eventSource") or first.get("EventSource") or "unknown"
        return f"a Records event from {name}"
    if "detail-type" in event and "source" in event:
        return "an EventBridge event"
    context = event.get("requestContext")
    if isinstance(context, Mapping) and "elb" in context:
        return "an Application Load Balancer event"
    if "httpMethod" in event:
        return "an API Gateway REST (payload 1.0) event"
    if "version" not in event and "requestContext" not in event:
        keys = sorted(str(k) for k in event)[:5]
        return f"an event with keys {keys}" if keys else "an empty event"
    if event.get("version") != FUNCTION_URL_VERSION:
        return f"a payload version {event.get('version')!r} event"
    return None


def _mapping(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise _wrong_type(f"{where}.{key}", "object", value)
    return value


def _string(parent: Mapping[str, Any], key: str, where: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise _wrong_type(f"{where}.{key}", "non-empty string", value)
    return value


def _optional_string(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _wrong_type(key, "string", value)
    return value


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _wrong_type("headers", "object of strings", value)
    headers: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise _wrong_type(f"headers[{str(name)[:40]!r}]", "string", item)
        headers[name] = item
    return headers


def _check_host(headers: Mapping[str, str]) -> None:
    """Mangum reads the server port from ``host`` (``name:port``) or ``x-forwarded-port``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    host = lowered.get("host", "")
    if ":" in host:
        name, _, port = host.partition(":")
        where, value = "headers['host']", port
    else:
        where, value = "headers['x-forwarded-port']", lowered.get("x-forwarded-port", "80")
    if not (value.isascii() and value.isdigit()):
        raise InvalidEventError(
            f"malformed Function URL event: {where} must name a numeric port, got {value[:20]!r}",
            limit=where,
            allowed="host[:port] with a numeric port",
            actual=value[:20],
        )


def _cookies(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _wrong_type("cookies", "list of strings", value)
    return value


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    encoded = event.get("isBase64Encoded", False)
    if encoded is None:
        encoded = False
    if not isinstance(encoded, bool):
        raise _wrong_type("isBase64Encoded", "boolean", encoded)
    if body is None:
        return b""
    if not isinstance(body, str):
        raise _wrong_type("body", "string", body)
    if not encoded:
        return body.encode("utf-8", "surrogatepass")  # bad text is the body parser's to judge
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEventError(
            "isBase64Encoded is true but body is not valid base64",
            limit="body",
            allowed="base64 (RFC 4648)",
            actual=body[:40],
        ) from None


def _wrong_type(where: str, expected: str, value: object) -> InvalidEventError:
    return InvalidEventError(
        f"malformed Function URL event: {where} must be a {expected}, got {_json_type(value)}",
        limit=where,
        allowed=expected,
        actual=_json_type(value),
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string" if value else "empty string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
