"""``precast serve``'s HTTP/1.1 protocol: uvicorn's httptools one with bounded request heads.

uvicorn's protocols buffer a request head of any size for as long as the client takes.
This subclass of the httptools protocol (the C parser ``precast serve`` runs on, with
uvloop, to keep the event loop's CPU per cache hit low) counts the bytes of each request
head as they are parsed: past ``max_header_bytes`` it answers 431 with the project's error
body and closes, so a connection holds at most the limit plus two socket reads (the read a
kept-alive link's next head begins in is not counted: it may end the previous body). A head must
also be complete within ``header_timeout_s`` of the connection opening (or of the first
byte of the next request on a kept-alive link), else 408 and close: clients that drip
header bytes, or connect and say nothing, are cut off. Any other malformed head is a 400
with the error body. Bodies are bounded by the app itself (``max_body_bytes``,
``body_timeout_s``).

Imported only by :func:`functions.local_host.serve` (uvicorn is not a Lambda dependency).
"""

from __future__ import annotations

import asyncio
import http
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from edge.environment import DEFAULT_HEADER_TIMEOUT_S, DEFAULT_MAX_HEADER_BYTES
from functions.errors import error_body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection; the limits are class attributes (see :func:`limited_protocol`)."""

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._in_head = True  # until the first request's headers are complete
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counted = self._in_head  # a head that begins inside this read may follow a body's end
        super().data_received(data)  # the parser streams: callbacks hold what it has seen
        if counted and self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(
                    431,
                    "header_too_large",
                    f"the request line and headers passed max_header_bytes="
                    f"{self.max_header_bytes} bytes; send fewer or shorter headers",
                    limit="max_header_bytes",
                    allowed=self.max_header_bytes,
                    actual=self._head_bytes,
                )

    def on_message_begin(self) -> None:
        """The first byte of a request: a kept-alive link starts a new head (and its clock)."""
        super().on_message_begin()
        if not self._in_head:
            self._in_head, self._head_bytes = True, 0
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """The parser refused the head: the project's error body instead of plain text."""
        self._refuse(400, "bad_request", f"malformed HTTP request: {msg}")

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        self._refuse(
            408,
            "header_timeout",
            f"the request line and headers did not arrive within "
            f"header_timeout_s={self.header_timeout_s:g} ({self._head_bytes} bytes received)",
            limit="header_timeout_s",
            allowed=self.header_timeout_s,
            actual=self._head_bytes,
        )

    def _refuse(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        limit: str | None = None,
        allowed: object = None,
        actual: object = None,
    ) -> None:
        """Answer the project's error body and close (the head was never handed to the app)."""
        self._disarm_head_timer()
        data = error_body(error_type, message, limit=limit, allowed=allowed, actual=actual)
        body = json.dumps(data).encode()
        head = (
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def limited_protocol(
    *, max_header_bytes: int, header_timeout_s: float
) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with these limits."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"max_header_bytes": max_header_bytes, "header_timeout_s": header_timeout_s},
    )
