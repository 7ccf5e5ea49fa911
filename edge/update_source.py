"""Where a device reads its channel from, and how every byte of it is bounded.

A channel is a TUF repository (edge/channel_repository.py) served from a directory (a
mount, a USB stick), ``http(s)://`` (any static server or CDN) or ``s3://bucket/prefix/``
(boto3, imported only for ``s3://``; ``AWS_ENDPOINT_URL`` is honoured). python-tuf's
``ngclient`` does every check; :class:`ChannelFetcher` is the ``FetcherInterface`` it
downloads through. ngclient caps every file at its signed (or configured) length; the
fetcher adds what TUF leaves to the application against slow retrieval: one overall
deadline for the whole update and a minimum average rate per file, both measured with an
injectable clock, plus a per-read socket timeout. The deadline is absolute: it covers
connecting, the status line and headers, and every file of the run (a watchdog shuts the
socket down when the time left runs out, so a server that drips its headers or accepts and
never answers is cut off too).
"""

from __future__ import annotations

import http.client
import math
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.exceptions import UpdateError

USER_AGENT = "precast-edge-updater/2"
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds on one update run. ``deadline_s``: all of its downloads together;
    ``min_rate``: bytes/s averaged over a file, enforced once ``grace_s`` have passed;
    ``read_timeout_s``: one socket read."""

    deadline_s: float = 900.0
    min_rate: float = 4096.0
    grace_s: float = 30.0
    read_timeout_s: float = 30.0


def channel_url(source: str | Path) -> str:
    """The channel's base URL (``file://``, ``http(s)://`` or ``s3://``, ending in ``/``).

    A URL naming one object (a presigned ``.pcb`` / ``.json`` URL, anything with a query
    string) is refused: a channel is a directory of metadata and targets, and a presigned
    URL signs exactly one object.
    """
    text = str(source)
    if text.startswith(("http://", "https://", "s3://")):
        parsed = urllib.parse.urlsplit(text)
        if parsed.query or parsed.path.endswith((".pcb", ".json")):
            raise UpdateError(
                f"{text!r} names one object, not a channel. A channel is the directory "
                "holding metadata/ and targets/ (e.g. https://cdn.example.com/bundles/minilm/); "
                "a presigned URL signs a single object, so serve the channel through a CDN "
                "or give the device s3:// credentials instead"
            )
        return text.rstrip("/") + "/"
    if text.startswith("file://"):
        text = urllib.parse.unquote(urllib.parse.urlsplit(text).path)
    if "://" in text:
        raise UpdateError(
            f"unsupported channel {text!r}; use a directory, http(s)://..., or s3://..."
        )
    return Path(text).resolve().as_uri().rstrip("/") + "/"


def file_chunks(url: str, tuf_errors: Any) -> Generator[bytes, None, None]:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the generator
    except FileNotFoundError:
        raise tuf_errors.DownloadHTTPError(f"{path} does not exist", 404) from None
    except OSError as exc:
        raise tuf_errors.DownloadError(f"cannot read {path}: {exc}") from None

    def read() -> Generator[bytes, None, None]:
        with fh:
            while chunk := fh.read(CHUNK_BYTES):
                yield chunk

    return read()


class Watchdog:
    """Shuts down the sockets of one request when ``seconds`` (the update's time left) have
    passed, wherever the request is: connecting, TLS, status line, headers or body. A
    per-read timeout cannot do this: a server that drips one byte a second never trips it."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        delay = min(max(seconds, 0.0), threading.TIMEOUT_MAX)
        self._timer = threading.Timer(delay, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(sock)
            if self.fired:
                _shutdown(sock)
        return sock

    def cancel(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv; the reader sees EOF
    except OSError:
        pass  # already closed, or detached by the TLS wrapper (which is watched too)


def _watched_opener(watchdog: Watchdog) -> urllib.request.OpenerDirector:
    """urllib (redirects, proxies, TLS as usual) whose connections ``watchdog`` can cut."""

    def watched(cls: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Watched(cls):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                create: Callable[..., socket.socket] = self._create_connection  # type: ignore[has-type]
                self._create_connection = lambda *a, **k: watchdog.watch(create(*a, **k))

            def connect(self) -> None:
                super().connect()
                watchdog.watch(self.sock)  # the TLS socket, once wrapped

        return Watched

    plain, tls = watched(http.client.HTTPConnection), watched(http.client.HTTPSConnection)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(plain, req)

    class TlsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            kw: dict[str, Any] = {"context": getattr(self, "_context", None)}
            if hasattr(self, "_check_hostname"):  # Python < 3.12
                kw["check_hostname"] = self._check_hostname
            return self.do_open(tls, req, **kw)

    return urllib.request.build_opener(Handler, TlsHandler)


def http_chunks(
    url: str, timeout: float, tuf_errors: Any, time_left: float = math.inf
) -> Generator[bytes, None, None]:
    """GET ``url`` in chunks: each socket operation waits at most ``timeout`` and the whole
    request (connect, headers, body) at most ``time_left`` seconds (the update's deadline)."""

    def deadline(what: str) -> Exception:
        error: Exception = tuf_errors.SlowRetrievalError(
            f"deadline: {url}: {what} when the update's deadline passed"
        )
        return error

    if time_left <= 0:
        raise deadline("not started")
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    watchdog = Watchdog(time_left)
    try:
        resp = _watched_opener(watchdog).open(req, timeout=min(timeout, time_left))
    except urllib.error.HTTPError as exc:
        watchdog.cancel()
        raise tuf_errors.DownloadHTTPError(f"GET {url}: HTTP {exc.code}", exc.code) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        watchdog.cancel()
        if watchdog.fired:
            raise deadline("no status line and headers yet") from None
        raise tuf_errors.DownloadError(f"cannot reach {url}: {exc}") from None

    def read() -> Generator[bytes, None, None]:
        try:
            with resp:
                while chunk := resp.read1(CHUNK_BYTES):  # returns what has arrived: drips count
                    yield chunk
        except (OSError, http.client.HTTPException):
            if not watchdog.fired:
                raise
        finally:
            watchdog.cancel()
        if watchdog.fired:  # the socket was shut down under the reader: not a short file
            raise deadline("the body was still arriving")

    return read()


def s3_chunks(client: Any, url: str, tuf_errors: Any) -> Generator[bytes, None, None]:
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urllib.parse.urlsplit(url)
    key = urllib.parse.unquote(parsed.path.lstrip("/"))
    try:
        body = client.get_object(Bucket=parsed.netloc, Key=key)["Body"]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "?"))
        status = (
            404 if code in ("NoSuchKey", "404") else 403 if code in ("AccessDenied", "403") else 0
        )
        if status:
            raise tuf_errors.DownloadHTTPError(f"{url}: {code}", status) from None
        raise tuf_errors.DownloadError(f"{url}: {code}") from None
    except BotoCoreError as exc:
        raise tuf_errors.DownloadError(f"{url}: {exc}") from None

    def read() -> Generator[bytes, None, None]:
        try:
            while chunk := body.read(CHUNK_BYTES):
                yield chunk
        finally:
            body.close()

    return read()
