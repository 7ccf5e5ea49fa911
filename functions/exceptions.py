"""Errors of the HTTP layer. All subclass :class:`edge.exceptions.PrecastError`.

Each carries the HTTP status it maps to and the data a client needs (``limit``,
``allowed``, ``actual``), so :mod:`functions.errors` renders them without parsing text.
Input limits themselves (batch size, characters per text) are
:class:`edge.exceptions.InputLimitError`, raised by the one checker in ``edge.limits``.
"""

from __future__ import annotations

import json

from edge.exceptions import PrecastError

# An error body quotes a client's value (a field, a header, a model name) in at most this
# many characters: a 6 MB body must not come back in its own error, nor make it slow.
ECHO_MAX_CHARS = 80


def echo(value: object) -> str:
    """``repr(value)`` for an error message, cut to :data:`ECHO_MAX_CHARS` characters."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past the digit limit, a deep nest
        return f"<{type(value).__name__}>"
    return text if len(text) <= ECHO_MAX_CHARS else text[: ECHO_MAX_CHARS - 1] + "\u2026"


def echoable(value: object) -> object:
    """``value`` as an error body's ``allowed``/``actual`` may carry it: itself when it is
    short, finite JSON; else its bounded :func:`echo` (a string)."""
    if isinstance(value, str):
        short = len(value) <= ECHO_MAX_CHARS
        return value if short else value[: ECHO_MAX_CHARS - 1] + "\u2026"
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):  # NaN/inf, or not JSON at all
        return echo(value)
    return value if len(text) <= ECHO_MAX_CHARS else echo(value)


class RequestError(PrecastError):
    """A client mistake. ``status`` is the HTTP status; ``error_type`` the JSON ``type``."""

    status = 400
    error_type = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        limit: str | None = None,
        allowed: object = None,
        actual: object = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.allowed = allowed
        self.actual = actual


class InvalidJSONError(RequestError):
    """The body is not valid UTF-8 JSON."""

    status = 400
    error_type = "invalid_json"


class RequestValidationError(RequestError):
    """The JSON is valid but has the wrong shape (not an object, missing or unknown keys)."""

    status = 422
    error_type = "validation_error"


class BodyTooLargeError(RequestError):
    """The body is larger than ``max_body_bytes``; raised before any parsing."""

    status = 413
    error_type = "body_too_large"


class UnsupportedMediaTypeError(RequestError):
    """The request declares a Content-Type that is not JSON."""

    status = 415
    error_type = "unsupported_media_type"


class ModelNotFoundError(RequestError):
    """The path names a model this deployment does not serve."""

    status = 404
    error_type = "model_not_found"


class SettingsError(PrecastError):
    """A host setting (argument or environment variable) is missing or malformed."""


class BodyTimeoutError(RequestError):
    """The client did not send its whole body within ``body_timeout_s`` (local server)."""

    status = 408
    error_type = "body_timeout"


class ClientDisconnectedError(RequestError):
    """The client went away before its body was complete; nobody reads the answer.

    Logged at INFO, not as a server fault. 499 is the status nginx records for it.
    """

    status = 499
    error_type = "client_disconnected"


class InvalidEventError(RequestError):
    """A Function URL event (payload 2.0) that is malformed: the Lambda host answers 400."""

    status = 400
    error_type = "invalid_event"


class UnsupportedEventError(RequestError):
    """A Lambda event from a source this handler does not serve (SQS, EventBridge, ...)."""

    status = 400
    error_type = "unsupported_event"


class ServiceOverloadedError(PrecastError):
    """The inference queue is full: answered 503 with ``Retry-After: retry_after_s``."""

    status = 503
    error_type = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int, queued: int, limit: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.queued = queued
        self.limit = limit
