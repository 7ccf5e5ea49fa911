"""Bearer-token authentication for ``precast serve`` (Lambda keeps IAM, Modal its proxy auth).

Every request but ``GET /healthz`` (``OPEN_PATHS``: liveness probes carry no credentials)
must send ``Authorization: Bearer <token>``; the token is compared with
:func:`hmac.compare_digest` (constant time). A missing or wrong token is a 401 with
``WWW-Authenticate: Bearer`` and the project's error body. ``/openapi.json``, ``/metrics``
and the Lambda replay path are protected like the API.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from functions.errors import error_response

OPEN_PATHS = frozenset({"/healthz"})


class BearerAuthMiddleware:
    def __init__(self, app: ASGIApp, *, token: str) -> None:
        if not token:
            raise ValueError("an empty bearer token would let anyone in")
        self.app = app
        self.expected = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        scheme, _, credentials = (sent or b"").partition(b" ")
        if sent is None or scheme.lower() != b"bearer":
            message = "send 'Authorization: Bearer <token>' (this server requires a token)"
            challenge = 'Bearer realm="precast"'
        elif not hmac.compare_digest(credentials.strip(), self.expected):
            message = "the bearer token is not valid for this server"
            challenge = 'Bearer realm="precast", error="invalid_token"'
        else:
            await self.app(scope, receive, send)
            return
        response = error_response(
            401, "unauthorized", message, headers={"WWW-Authenticate": challenge}
        )
        await response(scope, receive, send)
