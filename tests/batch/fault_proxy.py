"""A loopback HTTP proxy in front of moto_server that makes S3 and DynamoDB misbehave.

The batch job is pointed at it with ``AWS_ENDPOINT_URL``; every request goes over HTTP to
the proxy, which forwards it to moto_server unless a fault is switched on for its service
(DynamoDB requests carry ``X-Amz-Target: DynamoDB_20120810.<Op>``; everything else is S3):

- ``down``: the connection is closed without an answer (botocore: ConnectionClosedError);
- ``hang``: no answer until the fault is cleared or :attr:`FaultProxy.hang_bound_s`
  passes, so the client's read timeout must fire (bounded: a held request never outlives
  the bound, and :meth:`FaultProxy.close` releases them all);
- ``throttle``: the first attempt of a share of the distinct requests (identified by method,
  path and body; the 1st distinct request of the service and then every ``1/share``-th, so
  any run with at least one request sees a throttle, whatever the bodies hold) gets the real
  AWS throttling answer of its service (S3: 503 ``SlowDown`` XML; DynamoDB: 400
  ``ProvisionedThroughputExceededException`` JSON); ``share=1.0`` throttles every request;
- ``unprocessed``: DynamoDB ``BatchGetItem`` answers move every other found item into
  ``UnprocessedKeys`` (the CRC32 header is recomputed, as DynamoDB would send it).

Tests switch faults at the job's own pause points (``PRECAST_BATCH_PAUSE_AT``), never by
sleeping. Bound to 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SERVICES = ("s3", "dynamodb")
KINDS = ("down", "hang", "throttle", "unprocessed")
S3_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>"
)
DDB_THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class Fault:
    kind: str
    share: float = 1.0  # throttle: fraction of distinct requests whose first attempt fails

    def __post_init__(self) -> None:
        assert self.kind in KINDS and 0.0 <= self.share <= 1.0, self


class FaultProxy:
    """``with FaultProxy(moto_url) as proxy: proxy.set("dynamodb", Fault("hang"))``."""

    def __init__(self, upstream: str, *, hang_bound_s: float = 30.0) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname in ("127.0.0.1", "localhost"), "loopback upstreams only"
        self.upstream = (parts.hostname, parts.port or 80)
        self.hang_bound_s = hang_bound_s
        self._faults: dict[str, tuple[Fault, ...]] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._seen: set[str] = set()
        self._distinct: dict[str, int] = {}  # service -> distinct requests seen so far
        self.counts: dict[str, int] = {}  # "<service>:<what happened>" -> requests
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def set(self, service: str, *faults: Fault) -> None:
        """Switch ``service``'s faults (none: heal it). Healing releases held requests."""
        assert service in SERVICES
        with self._lock:
            if not faults:
                self._faults.pop(service, None)
                self._released.set()
            else:
                self._faults[service] = faults
                if any(f.kind == "hang" for f in faults):
                    self._released = threading.Event()

    def heal(self) -> None:
        for service in SERVICES:
            self.set(service)

    def count(self, service: str, what: str) -> int:
        with self._lock:
            return self.counts.get(f"{service}:{what}", 0)

    def _note(self, service: str, what: str) -> None:
        with self._lock:
            key = f"{service}:{what}"
            self.counts[key] = self.counts.get(key, 0) + 1

    def _decide(self, service: str, identity: str) -> tuple[str | None, threading.Event]:
        """The fault kind that applies to this request (throttle: with ``share`` < 1, only
        on the first attempt of a chosen request), or None: forward it."""
        with self._lock:
            faults = self._faults.get(service, ())
            released = self._released
            first = identity not in self._seen
            self._seen.add(identity)
            index = self._distinct.get(service, 0)
            if first:
                self._distinct[service] = index + 1
        for fault in faults:
            if fault.kind == "throttle":
                # exactly ceil(n * share) of the first n distinct requests, the 1st included
                chosen = math.ceil((index + 1) * fault.share) > math.ceil(index * fault.share)
                if fault.share >= 1.0 or (chosen and first):
                    return "throttle", released
            else:
                return fault.kind, released
        return None, released

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"proxy": self})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the tests read the job's own log

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = b""
        while size := int(self.rfile.readline().strip().split(b";")[0], 16):
            data += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return data

    def _any(self) -> None:
        body = self._body()
        target = self.headers.get("X-Amz-Target", "")
        service = "dynamodb" if target.startswith("DynamoDB_") else "s3"
        identity = f"{self.command} {self.path} {target} {hashlib.sha256(body).hexdigest()}"
        kind, released = self.proxy._decide(service, identity)
        if kind == "down":
            self.proxy._note(service, "dropped")
            self.close_connection = True
        elif kind == "hang":
            self.proxy._note(service, "held")
            released.wait(self.proxy.hang_bound_s)
            self.close_connection = True
        elif kind == "throttle":
            self.proxy._note(service, "throttled")
            self._throttled(service)
        else:
            self._pass_on(service, body, unprocessed=kind == "unprocessed")

    def _throttled(self, service: str) -> None:
        if service == "s3":
            self._answer(503, S3_SLOW_DOWN, {"Content-Type": "application/xml"})
        else:
            headers = {"Content-Type": "application/x-amz-json-1.0"}
            self._answer(400, DDB_THROTTLED, {**headers, "x-amz-crc32": _crc(DDB_THROTTLED)})

    def _pass_on(self, service: str, body: bytes, *, unprocessed: bool) -> None:
        status, headers, data = self._forward(body)
        target = self.headers.get("X-Amz-Target", "")
        if unprocessed and target.endswith(".BatchGetItem") and status == 200:
            data = _hold_back_half(data)
            self.proxy._note(service, "unprocessed")
            headers = {k: v for k, v in headers.items() if k.lower() != "x-amz-crc32"}
            headers["x-amz-crc32"] = _crc(data)
        self.proxy._note(service, "forwarded")
        self._answer(status, data, headers, head=self.command == "HEAD")

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def _answer(
        self, status: int, data: bytes, headers: dict[str, str], *, head: bool = False
    ) -> None:
        self.send_response_only(status)
        length = str(len(data))
        for key, value in headers.items():
            if key.lower() == "content-length" and head:
                length = value  # HEAD: the object's length, no body
            elif key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any


def _crc(data: bytes) -> str:
    return str(zlib.crc32(data))


def _hold_back_half(data: bytes) -> bytes:
    """A BatchGetItem answer with every other found item moved to UnprocessedKeys."""
    answer = json.loads(data)
    for table, items in answer.get("Responses", {}).items():
        kept, held = items[::2], items[1::2]
        answer["Responses"][table] = kept
        if held:
            keys = answer.setdefault("UnprocessedKeys", {}).setdefault(table, {"Keys": []})
            keys["Keys"] += [{"pk": item["pk"]} for item in held]
    return json.dumps(answer).encode()
