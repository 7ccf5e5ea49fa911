"""Where a device reads its channel from, and how every byte of it is bounded.

A channel is a TUF repository (edge/channel_repository.py) served from a directory (a
mount, a USB stick), ``http(s)://`` (any static server or CDN) or ``s3://bucket/prefix/``
(boto3, imported only for ``s3://``; ``AWS_ENDPOINT_URL`` is honoured). python-tuf's
``ngclient`` does every check; :class:`ChannelFetcher` is the ``FetcherInterface`` it
downloads through. ngclient caps every file at its signed (or configured) length; the
fetcher adds what TUF leaves to the application against slow retrieval: one overall
deadline for the whole update and a minimum average rate per file, both measured with an
injectable clock, plus a per-read socket timeout.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.exceptions import UpdateError

if TYPE_CHECKING:
    from tuf.ngclient.fetcher import FetcherInterface

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


def make_fetcher(
    limits: DownloadLimits, clock: Callable[[], float] = time.monotonic
) -> FetcherInterface:
    """The ngclient fetcher for file://, http(s):// and s3:// URLs (tuf imported here)."""
    from edge.channel_fetcher import ChannelFetcher

    return ChannelFetcher(limits, clock)


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


def http_chunks(url: str, timeout: float, tuf_errors: Any) -> Generator[bytes, None, None]:
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - http(s) only
    except urllib.error.HTTPError as exc:
        raise tuf_errors.DownloadHTTPError(f"GET {url}: HTTP {exc.code}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        raise tuf_errors.DownloadError(f"cannot reach {url}: {exc}") from None

    def read() -> Generator[bytes, None, None]:
        with resp:
            while chunk := resp.read1(CHUNK_BYTES):  # returns what has arrived: drips count
                yield chunk

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
