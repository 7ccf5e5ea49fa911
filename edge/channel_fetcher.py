"""The python-tuf fetcher of a channel: file://, http(s):// and s3:// with bounded time.

Imported only when an update runs (``edge.updater.Updater``), so ``import edge`` never
loads tuf. ngclient caps each file at its signed length; this adds the overall
deadline and the minimum rate (edge.update_source.DownloadLimits) with an injected clock,
and hangs up on a server the moment a download ends or is refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import IO, Any

from tuf.api import exceptions as tuf_errors
from tuf.ngclient.fetcher import FetcherInterface

from edge.exceptions import UpdateError
from edge.update_source import DownloadLimits, file_chunks, http_chunks, s3_chunks

Chunks = Generator[bytes, None, None]


class ChannelFetcher(FetcherInterface):
    """The ngclient fetcher for file://, http(s):// and s3:// URLs."""

    def __init__(self, limits: DownloadLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.start = clock()
        self.s3: Any = None
        self.live: list[Chunks] = []

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        """ngclient's download_file, plus: the connection is closed as soon as the
        download ends or is refused (an endless or dripping server is hung up on)."""
        try:
            with super().download_file(url, max_length) as fh:
                yield fh
        finally:
            while self.live:
                self.live.pop().close()

    def _fetch(self, url: str) -> Iterator[bytes]:
        if url.startswith("file://"):
            chunks = file_chunks(url, tuf_errors)
        elif url.startswith("s3://"):
            chunks = s3_chunks(self._s3(), url, tuf_errors)
        else:
            chunks = http_chunks(url, self.limits.read_timeout_s, tuf_errors, self.time_left())
        bounded = self._bounded(url, chunks)
        self.live.append(bounded)
        return bounded

    def time_left(self) -> float:
        """Seconds left before the update's absolute deadline (every file, every phase)."""
        return self.limits.deadline_s - (self.clock() - self.start)

    def _bounded(self, url: str, chunks: Chunks) -> Chunks:
        try:
            yield from self._timed(url, chunks)
        finally:
            chunks.close()

    def _timed(self, url: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        limits, began, received = self.limits, self.clock(), 0
        for chunk in chunks:
            received += len(chunk)
            yield chunk
            now = self.clock()
            if now - self.start > limits.deadline_s:
                raise tuf_errors.SlowRetrievalError(
                    f"deadline: {url} still downloading after the update's "
                    f"{limits.deadline_s:g} s deadline ({received} bytes received)"
                )
            elapsed = now - began
            if elapsed > limits.grace_s and received / elapsed < limits.min_rate:
                raise tuf_errors.SlowRetrievalError(
                    f"min_rate: {url} arrives at {received / elapsed:.0f} B/s, below the "
                    f"minimum {limits.min_rate:g} B/s"
                )

    def _s3(self) -> Any:
        if self.s3 is None:
            try:
                import boto3
                import botocore  # noqa: F401 - boto3 without botocore fails late
            except ImportError:
                raise UpdateError(
                    "an s3:// channel needs boto3 on the device: `pip install boto3`; "
                    "or serve the channel over https"
                ) from None
            self.s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        return self.s3
