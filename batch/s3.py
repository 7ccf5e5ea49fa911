"""S3 backend of :mod:`batch.storage` (boto3, imported only when an ``s3://`` URI is used).

An input object is identified by its ETag, which changes with any new content (also in a
versioned bucket, where a new version gets a new VersionId but the same content keeps its
ETag). Reads are not pinned to a VersionId: that needs ``s3:GetObjectVersion``, which the
job role does not have, and the ETag pin already refuses a replaced object.

boto3 resolves the endpoint itself, so ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``)
points the job at moto_server or another S3-compatible store.

Reads pin the object's ETag (``IfMatch``): if the input is replaced while a job reads it,
the job stops with :class:`InputChangedError` instead of mixing two versions. A long
streaming read that breaks (connection reset, read timeout) reopens at the byte it had
reached, a few times, before giving up.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar

from batch.exceptions import InputChangedError, StorageError, TransientStorageError
from batch.storage import ObjectInfo, Readable

# Throttling and server-side errors worth a later retry of the whole attempt (botocore has
# already retried each call within its own budget, see _make_client).
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)

STREAM_RETRIES = 5
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} is not an S3 URI; expected s3://bucket/key")
    return bucket, key


class S3Storage:
    _shared: ClassVar[S3Storage | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, client: Any = None) -> None:
        self.client = client if client is not None else _make_client()

    @classmethod
    def shared(cls) -> S3Storage:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def info(self, uri: str) -> ObjectInfo:
        bucket, key = split_uri(uri)
        head = self._call("head_object", uri, Bucket=bucket, Key=key)
        if head is None:
            raise StorageError(f"{uri} does not exist")
        return ObjectInfo(
            uri=uri,
            size=int(head["ContentLength"]),
            tag=str(head["ETag"]),
            content_tagged=True,
        )

    def _pages(self, uri: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(bucket, prefix, page)`` of a delimited listing of ``uri``, page after page."""
        bucket, key = split_uri(uri)
        prefix = key if key.endswith("/") or not key else key + "/"
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", uri, **kwargs) or {}
            yield bucket, prefix, page
            token = page.get("NextContinuationToken")
            if not token:
                return

    def list_files(self, uri: str) -> list[ObjectInfo] | None:
        key = split_uri(uri)[1]
        found: list[ObjectInfo] = []
        for bucket, _, page in self._pages(uri):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):
                    modified = obj.get("LastModified")
                    found.append(
                        ObjectInfo(
                            f"s3://{bucket}/{obj['Key']}",
                            int(obj["Size"]),
                            obj["ETag"],
                            modified.timestamp() if modified is not None else 0.0,
                            content_tagged=True,
                        )
                    )
        if not found and not key.endswith("/") and key:
            return None
        return sorted(found, key=lambda o: o.uri)

    def list_dirs(self, uri: str) -> list[str]:
        names: list[str] = []
        for _, prefix, page in self._pages(uri):
            common = page.get("CommonPrefixes", [])
            names += [p["Prefix"][len(prefix) :].rstrip("/") for p in common]
        return sorted(names)

    def delete(self, uri: str) -> None:
        bucket, key = split_uri(uri)
        self._call("delete_object", uri, Bucket=bucket, Key=key)

    def open_stream(self, obj: ObjectInfo, offset: int = 0) -> Readable:
        return _S3Stream(self, obj, offset)

    def open_seekable(self, obj: ObjectInfo) -> BinaryIO:
        raw = _S3RangeReader(self, obj)
        return io.BufferedReader(raw, buffer_size=1 << 20)

    def read_bytes(self, uri: str) -> bytes | None:
        bucket, key = split_uri(uri)
        response = self._call("get_object", uri, Bucket=bucket, Key=key)
        if response is None:
            return None
        data: bytes = response["Body"].read()
        return data

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = split_uri(uri)
        self._call("put_object", uri, Bucket=bucket, Key=key, Body=data)

    def read_tagged(self, uri: str) -> tuple[bytes, str] | None:
        bucket, key = split_uri(uri)
        response = self._call("get_object", uri, Bucket=bucket, Key=key)
        if response is None:
            return None
        return response["Body"].read(), str(response["ETag"])

    def write_if(self, uri: str, data: bytes, expected: str | None) -> str | None:
        """S3 conditional writes: ``If-None-Match: *`` to create, ``If-Match: <ETag>`` to
        replace. A failed condition (412, or 409 for a concurrent conditional write) is None."""
        bucket, key = split_uri(uri)
        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            response = self._call("put_object", uri, Bucket=bucket, Key=key, Body=data, **condition)
        except InputChangedError:  # _call maps PreconditionFailed (412) to it
            return None
        except StorageError as exc:
            if "ConditionalRequestConflict" in str(exc):
                return None
            raise
        return str(response["ETag"]) if response else None

    def exists(self, uri: str) -> bool:
        bucket, key = split_uri(uri)
        return self._call("head_object", uri, Bucket=bucket, Key=key) is not None

    def get_range(self, obj: ObjectInfo, start: int, end: int | None) -> Any:
        """GET ``bytes=start-end`` (inclusive; ``end=None``: to the end), pinned to the ETag."""
        bucket, key = split_uri(obj.uri)
        span = f"bytes={start}-" if end is None else f"bytes={start}-{end}"
        response = self._call(
            "get_object", obj.uri, Bucket=bucket, Key=key, Range=span, IfMatch=obj.tag
        )
        if response is None:
            raise InputChangedError(f"{obj.uri} was deleted while the job was reading it")
        return response["Body"]

    def _call(self, operation: str, uri: str, **kwargs: Any) -> Any:
        """One S3 call; None when the object/bucket does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in MISSING:
                return None
            if code in ("PreconditionFailed", "412"):
                raise InputChangedError(
                    f"{uri} changed while the job was reading it (ETag no longer matches); "
                    "rerun the job: it starts a new run for the new input"
                ) from None
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            message = f"S3 {operation} {uri} failed: {code}: {error.get('Message')}"
            if code in TRANSIENT_CODES or status >= 500:
                raise TransientStorageError(f"{message} (after retries; retry the job)") from None
            raise StorageError(message) from None
        except BotoCoreError as exc:
            # connection refused/reset, timeouts, DNS: the network, not the request
            raise TransientStorageError(
                f"S3 {operation} {uri} failed after retries: {exc}; retry the job"
            ) from None


class _S3Stream:
    """Sequential read of an object from ``offset``; reconnects at the current byte."""

    def __init__(self, store: S3Storage, obj: ObjectInfo, offset: int) -> None:
        self.store = store
        self.obj = obj
        self.pos = offset
        self._body: Any = None

    def read(self, n: int = -1, /) -> bytes:
        if self.pos >= self.obj.size:
            return b""
        for attempt in range(STREAM_RETRIES):
            if self._body is None:
                self._body = self.store.get_range(self.obj, self.pos, None)
            try:
                data: bytes = self._body.read(None if n < 0 else n)
            except Exception as exc:  # botocore/urllib3 stream errors: reopen at self.pos
                self._drop()
                if attempt + 1 == STREAM_RETRIES:
                    raise StorageError(
                        f"reading {self.obj.uri} failed at byte {self.pos} after "
                        f"{STREAM_RETRIES} attempts: {exc}"
                    ) from None
                continue
            self.pos += len(data)
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self) -> None:
        if self._body is not None:
            try:
                self._body.close()
            except Exception:  # closing a broken stream may fail; ignore
                pass
            self._body = None

    def close(self) -> None:
        self._drop()


class _S3RangeReader(io.RawIOBase):
    """Random access for Parquet: every read is one ranged GET of exactly what is asked."""

    def __init__(self, store: S3Storage, obj: ObjectInfo) -> None:
        super().__init__()
        self.store = store
        self.obj = obj
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.obj.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.obj.size - self.pos)
        if want <= 0:
            return 0
        body = self.store.get_range(self.obj, self.pos, self.pos + want - 1)
        data = body.read()
        body.close()
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _make_client() -> Any:
    try:
        import boto3  # noqa: F401
    except ImportError:  # pragma: no cover - the batch image installs boto3
        raise StorageError(
            "s3:// URIs need boto3: `pip install 'precast[batch]'` (or `pip install boto3`)"
        ) from None
    from edge.cache.clients import batch_profile, make_client
    from edge.exceptions import CacheError

    # The batch profile (edge/cache/clients.py): botocore's adaptive mode, exponential backoff
    # with jitter plus client-side rate limiting when S3 throttles, PRECAST_BATCH_AWS_ATTEMPTS
    # attempts per call, bounded timeouts. What still fails is a TransientStorageError: the
    # job exits 75 and AWS Batch retries it.
    try:
        return make_client("s3", batch_profile(), pool=16)
    except CacheError as exc:
        raise StorageError(str(exc)) from None
