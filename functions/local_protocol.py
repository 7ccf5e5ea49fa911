"""``precast serve``'s HTTP/1.1 protocol: uvicorn's h11 one with bounded request heads.

uvicorn's default protocol (httptools when installed) buffers a request head of any size
for as long as the client takes. Here h11's own receive-buffer bound
(``h11_max_incomplete_event_size``, set to ``max_header_bytes``) refuses a request line
plus headers past the limit: this class answers it 431 with the project's error body (any
other malformed head: 400) and closes. A head must also be complete within
``header_timeout_s`` of the connection opening (or of its first byte after a kept-alive
answer), else 408 and close: clients that drip header bytes are cut off. Bodies are
bounded by the app itself (``max_body_bytes``, ``body_timeout_s``).

Imported only by :func:`functions.local_host.serve` (uvicorn is not a Lambda dependency).
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from edge.environment import DEFAULT_HEADER_TIMEOUT_S, DEFAULT_MAX_HEADER_BYTES
from functions.errors import error_body


class LimitedH11Protocol(H11Protocol):
    """One connection; the limits are class attributes (see :func:`limited_protocol`)."""

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        waiting_for_head = self.conn.their_state is h11.IDLE
        if waiting_for_head:
            self._head_bytes += len(data)
            if self._head_timer is None:  # the first byte of a request on a kept-alive link
                self._arm_head_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in (or the link failed)
            self._disarm_head_timer()
            self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        """h11 refused the head: 431 when it outgrew the buffer bound, else 400."""
        if self._head_bytes > self.max_header_bytes:
            self._refuse(
                431,
                "header_too_large",
                f"the request line and headers passed max_header_bytes={self.max_header_bytes}"
                " bytes; send fewer or shorter headers",
                limit="max_header_bytes",
                allowed=self.max_header_bytes,
                actual=self._head_bytes,
            )
        else:
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
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
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
        """Answer the project's error body and close (the head was never read)."""
        data = error_body(error_type, message, limit=limit, allowed=allowed, actual=actual)
        body = json.dumps(data).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            for event in (
                h11.Response(status_code=status, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:  # h11 cannot answer in this state: just close
            pass
        self.transport.close()


def limited_protocol(*, max_header_bytes: int, header_timeout_s: float) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with these limits; pass
    ``h11_max_incomplete_event_size=max_header_bytes`` too (h11 enforces the size)."""
    return type(
        "LimitedH11Protocol",
        (LimitedH11Protocol,),
        {"max_header_bytes": max_header_bytes, "header_timeout_s": header_timeout_s},
    )
