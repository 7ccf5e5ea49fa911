"""Every error response is JSON of one shape, and a client mistake is never a 500.

``{"error": {"type", "message", "limit", "allowed", "actual", "index"}}``; the last four
are ``null`` when they do not apply. Client mistakes map from their exception's data
(:class:`functions.exceptions.RequestError`, :class:`edge.exceptions.InputLimitError`,
Starlette's 404/405); a full inference queue is a 503 with ``Retry-After``
(:class:`functions.exceptions.ServiceOverloadedError`); a client that disconnected is logged
at INFO. Anything else is a server fault: logged with its traceback and answered with a
generic 500 by :class:`CatchAllMiddleware`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.exceptions import InputLimitError
from functions.exceptions import (
    ClientDisconnectedError,
    RequestError,
    ServiceOverloadedError,
    echoable,
)

logger = logging.getLogger("precast.functions")

_HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def error_body(
    error_type: str,
    message: str,
    *,
    limit: str | None = None,
    allowed: Any = None,
    actual: Any = None,
    index: int | None = None,
) -> dict[str, Any]:
    """The one error shape, as a dict (the Lambda host also answers events with it).

    ``allowed`` and ``actual`` are bounded (:func:`functions.exceptions.echoable`): an
    error never echoes a long value, nor a NaN or an infinity (JSON has none)."""
    return {
        "error": {
            "type": error_type,
            "message": message,
            "limit": limit,
            "allowed": echoable(allowed),
            "actual": echoable(actual),
            "index": index,
        }
    }


def request_error_body(exc: RequestError) -> dict[str, Any]:
    return error_body(
        exc.error_type, str(exc), limit=exc.limit, allowed=exc.allowed, actual=exc.actual
    )


INTERNAL_ERROR_MESSAGE = "the server failed to handle this request; it was logged. Retry later."


def error_response(
    status: int,
    error_type: str,
    message: str,
    *,
    limit: str | None = None,
    allowed: Any = None,
    actual: Any = None,
    index: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = error_body(error_type, message, limit=limit, allowed=allowed, actual=actual, index=index)
    return JSONResponse(body, status_code=status, headers=headers)


async def on_request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    if isinstance(exc, ClientDisconnectedError):  # nobody reads the answer; not a fault
        logger.info("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(request_error_body(exc), status_code=exc.status)


async def on_input_limit(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputLimitError)
    return error_response(
        422,
        "input_limit",
        str(exc),
        limit=exc.limit,
        allowed=exc.allowed,
        actual=exc.actual,
        index=exc.index,
    )


async def on_overloaded(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceOverloadedError)
    return error_response(
        exc.status,
        exc.error_type,
        str(exc),
        limit="max_queue",
        allowed=exc.limit,
        actual=exc.queued,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = f"no route {request.url.path}; see GET /openapi.json for the API"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
    else:
        message = str(exc.detail)
    return error_response(
        status, _HTTP_TYPES.get(status, "http_error"), message, headers=exc.headers
    )


EXCEPTION_HANDLERS = {
    RequestError: on_request_error,
    InputLimitError: on_input_limit,
    ServiceOverloadedError: on_overloaded,
    HTTPException: on_http_exception,
}


class CatchAllMiddleware:
    """Turns an unexpected exception into a logged 500 JSON; client errors never get here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error serving %s %s", scope["method"], scope["path"])
            if started:  # headers are out; nothing valid can follow
                raise
            response = error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE)
            await response(scope, receive, send)
