"""Where a device looks for bundles: a directory, an http(s) URL, or an s3:// prefix.

Each source serves one channel: ``latest.json`` (see :class:`IndexEntry`) next to the
bundles it names. Downloads resume: bytes already in the ``.part`` file are kept and only
the rest is fetched (HTTP ``Range``, S3 ``Range``, a seek for a directory); the finished file
must match the index's size and sha256 before anyone opens it.

Only the standard library is used, except ``boto3`` for ``s3://``, imported when used.
``AWS_ENDPOINT_URL`` (e.g. a local moto_server) is honoured.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from edge.bundle_format import INDEX_NAME, MAX_META_BYTES, IndexEntry, parse_index
from edge.exceptions import DownloadError, UpdateError
from edge.manifest import sha256_file

HTTP_TIMEOUT_S = 30.0
USER_AGENT = "precast-edge-updater/1"
_CHUNK = 1 << 20


class UpdateSource(Protocol):
    uri: str

    def read_index(self) -> IndexEntry: ...

    def fetch(self, entry: IndexEntry, target: Path) -> None:
        """Append the bundle's bytes from ``target``'s current size on (resume)."""


def open_source(source: str | Path) -> UpdateSource:
    """A source from a URI: ``s3://bucket/prefix/``, ``http(s)://host/path/`` (or the URL of
    its ``latest.json``), or a local directory path / ``file://`` URL."""
    text = str(source)
    if text.startswith("s3://"):
        return S3Source(text)
    if text.startswith(("http://", "https://")):
        return HttpSource(text)
    if text.startswith("file://"):
        text = urllib.parse.unquote(urllib.parse.urlparse(text).path)
    if "://" in text:
        raise UpdateError(
            f"unsupported update source {text!r}; use a directory, http(s)://..., or s3://..."
        )
    return DirectorySource(Path(text))


def _append(chunks: Iterator[bytes], target: Path, entry: IndexEntry) -> None:
    """Append ``chunks`` to ``target`` without ever growing it past ``entry.size``."""
    with open(target, "ab") as out:
        for chunk in chunks:
            if out.tell() + len(chunk) > entry.size:
                raise DownloadError(
                    f"{entry.bundle}: the source sent more than the {entry.size} bytes its "
                    "index states; the index and the bundle disagree. Republish both."
                )
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def download(source: UpdateSource, entry: IndexEntry, part: Path) -> Path:
    """Fetch ``entry`` into ``part`` (resuming), then check size and sha256 against the index.

    A short file raises :class:`DownloadError` and is kept, so the next run resumes; a file
    of the right size with the wrong digest is deleted.
    """
    if part.exists() and part.stat().st_size > entry.size:
        part.unlink()
    have = part.stat().st_size if part.exists() else 0
    if have < entry.size:
        try:
            source.fetch(entry, part)
        except OSError as exc:  # the local disk: full, read-only, gone
            raise DownloadError(f"cannot write {part}: {exc}. Nothing was changed.") from None
    size = part.stat().st_size if part.exists() else 0
    if size != entry.size:
        raise DownloadError(
            f"download of {entry.bundle} from {source.uri} is truncated: {size} of {entry.size} "
            "bytes. Nothing was changed; run the update again to resume."
        )
    actual = sha256_file(part)
    if actual != entry.sha256:
        part.unlink()
        raise DownloadError(
            f"{entry.bundle} from {source.uri}: sha256 {actual[:12]}… does not match the "
            f"index's {entry.sha256[:12]}…; discarded it. Nothing was changed."
        )
    return part


class DirectorySource:
    """A channel on a local or mounted file system (USB stick, NFS, a synced folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    def read_index(self) -> IndexEntry:
        path = self.root / INDEX_NAME
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_META_BYTES + 1)
        except OSError as exc:
            raise UpdateError(
                f"cannot read {path}: {exc}; publish a bundle there with `precast bundle`"
            ) from None
        return parse_index(data, str(path))

    def fetch(self, entry: IndexEntry, target: Path) -> None:
        offset = target.stat().st_size if target.exists() else 0
        try:
            with open(self.root / entry.bundle, "rb") as src:
                src.seek(offset)
                _append(iter(lambda: src.read(_CHUNK), b""), target, entry)
        except OSError as exc:
            raise DownloadError(f"cannot read {self.root / entry.bundle}: {exc}") from None


class HttpSource:
    """A channel on any static web server or CDN (``Range`` support makes resumes cheap)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        if uri.rsplit("?", 1)[0].endswith(".json"):
            self.index_url = uri
        else:
            self.index_url = urllib.parse.urljoin(uri.rstrip("/") + "/", INDEX_NAME)

    def _open(self, url: str, headers: dict[str, str] | None = None) -> Any:
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        try:
            return urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S)  # noqa: S310 - http(s) only
        except urllib.error.HTTPError as exc:
            raise UpdateError(f"GET {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise UpdateError(
                f"cannot reach {url}: {exc}; check the network and --source"
            ) from None

    def read_index(self) -> IndexEntry:
        with self._open(self.index_url) as resp:
            data = resp.read(MAX_META_BYTES + 1)
        return parse_index(data, self.index_url)

    def fetch(self, entry: IndexEntry, target: Path) -> None:
        url = urllib.parse.urljoin(self.index_url, urllib.parse.quote(entry.bundle))
        offset = target.stat().st_size if target.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self._open(url, headers) as resp:
            if offset and resp.status != 206:  # server ignored Range: start over
                target.unlink()
            _stream(lambda: resp.read(_CHUNK), target, entry, url)


def _stream(read: Callable[[], bytes], target: Path, entry: IndexEntry, where: str) -> None:
    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = read()
            except (http.client.HTTPException, OSError) as exc:
                raise DownloadError(
                    f"download from {where} broke off ({exc}); the partial file is kept and "
                    "the next update resumes it. Nothing was changed."
                ) from None
            if not chunk:
                return
            yield chunk

    _append(chunks(), target, entry)


class S3Source:
    """A channel under an S3 prefix; needs only ``s3:GetObject`` (no listing)."""

    def __init__(self, uri: str) -> None:
        parsed = urllib.parse.urlparse(uri)
        if not parsed.netloc:
            raise UpdateError(f"{uri!r} names no bucket; use s3://bucket/prefix/")
        self.uri = uri
        self.bucket = parsed.netloc
        path = parsed.path.lstrip("/")
        if path.endswith(".json"):
            self.prefix, self.index_key = path[: path.rfind("/") + 1], path
        else:
            self.prefix = path.rstrip("/") + "/" if path else ""
            self.index_key = self.prefix + INDEX_NAME
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise UpdateError(
                    "s3:// sources need boto3 on the device (`pip install boto3`); "
                    "or serve the bundles over https"
                ) from None
            self._client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        return self._client

    def _get(self, key: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._s3().get_object(Bucket=self.bucket, Key=key, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise UpdateError(f"s3://{self.bucket}/{key}: {code}") from None
        except BotoCoreError as exc:
            raise UpdateError(f"s3://{self.bucket}/{key}: {exc}") from None

    def read_index(self) -> IndexEntry:
        body = self._get(self.index_key)["Body"]
        return parse_index(body.read(MAX_META_BYTES + 1), f"s3://{self.bucket}/{self.index_key}")

    def fetch(self, entry: IndexEntry, target: Path) -> None:
        from botocore.exceptions import BotoCoreError

        key = self.prefix + entry.bundle
        offset = target.stat().st_size if target.exists() else 0
        body = self._get(key, **({"Range": f"bytes={offset}-"} if offset else {}))["Body"]

        def read() -> bytes:
            try:
                data: bytes = body.read(_CHUNK)
            except BotoCoreError as exc:
                raise OSError(str(exc)) from None
            return data

        _stream(read, target, entry, f"s3://{self.bucket}/{key}")
