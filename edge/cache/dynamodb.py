"""DynamoDB prediction cache (AWS). boto3 is imported only when this backend is opened.

Table: partition key ``pk`` (S) = the cache key; attributes ``model_version`` (S),
``vector`` (B, little-endian float32), ``created_at`` (N), ``expires_at`` (N, epoch
seconds; the table's TTL attribute). DynamoDB deletes expired items lazily, so reads
filter them too, and an item of another model version is never returned.

- Retries are botocore's, as the caller's :class:`~edge.cache.clients.RetryProfile` says
  (the functions: one short try; the batch job: adaptive mode, more attempts): throttling
  (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
  ``RequestLimitExceeded``), 5xx answers and dropped connections are retried by the client,
  and what still fails raises :class:`CacheUnavailableError`.
- ``get_many``: BatchGetItem in chunks of 100 distinct keys. ``UnprocessedKeys`` (an
  answer, not an error, so botocore does not retry them) are asked again with exponential
  backoff and full jitter, ``unprocessed_attempts`` times; keys still unprocessed after
  that count as misses, and are counted in ``unprocessed_misses`` (the batch job logs
  and reports them: never silently).
- ``put_many``: one conditional PutItem per entry (``attribute_not_exists(pk)``) on a small
  thread pool. Entries are immutable per key: a duplicate is a no-op and an existing
  item, whatever its version, is never overwritten. Returns how many were new; if some
  writes fail transiently, :class:`CacheWriteIncompleteError` says which (the batch job
  retries those).
- A :class:`~edge.cache.circuit.CircuitBreaker` counts failed calls; once open, calls
  raise :class:`CacheUnavailableError` immediately and the hybrid path serves live.

URL: ``dynamodb:TABLE[?endpoint=URL&region=R&failures=3&cooldown_s=30&timeout_s=T]``
(``timeout_s``: connect and read timeout of each try, overriding the profile's).
Without ``endpoint`` boto3's own resolution applies (``AWS_ENDPOINT_URL_DYNAMODB``,
``AWS_ENDPOINT_URL``, then the regional endpoint).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.cache.base import CacheEntry, CacheWriteIncompleteError, decode_vector, encode_vector
from edge.cache.circuit import CircuitBreaker
from edge.cache.clients import FUNCTIONS, RetryProfile, make_client
from edge.exceptions import CacheError, CacheUnavailableError

BATCH_GET_LIMIT = 100  # DynamoDB's per-request maximum for BatchGetItem
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
TRANSIENT_CODES = THROTTLE_CODES | {"InternalServerError", "ServiceUnavailable"}
CONDITION_FAILED = "ConditionalCheckFailedException"
NEVER_OPENS = 2**62  # the failure threshold of a profile without a circuit breaker
URL_OPTIONS = ("endpoint", "region", "failures", "cooldown_s", "timeout_s")


class DynamoDBCache:
    def __init__(
        self,
        table: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        retry: RetryProfile = FUNCTIONS,
        unprocessed_attempts: int = 5,
        base_delay_s: float = 0.025,
        max_delay_s: float = 1.0,
        write_workers: int = 8,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not table:
            raise CacheError("dynamodb cache needs a table name: dynamodb:<table>")
        self.table = table
        self.retry = retry
        self.unprocessed_attempts = max(1, unprocessed_attempts)
        self.unprocessed_misses = 0  # keys DynamoDB never processed, read as misses
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.write_workers = max(1, write_workers)
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=3 if retry.circuit_breaker else NEVER_OPENS,
            name=f"DynamoDB table {table!r}",
        )
        self._sleep = sleep
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._endpoint_url, self._region = endpoint_url, region
        self.client = client or self._make_client()

    @classmethod
    def from_url(cls, url: str, retry: RetryProfile = FUNCTIONS) -> DynamoDBCache:
        """``dynamodb:TABLE?endpoint=http://127.0.0.1:5000&region=us-east-1``."""
        parts = urlsplit(url.removeprefix("dynamodb:"))
        opts = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(opts) - set(URL_OPTIONS))
        if unknown:
            raise CacheError(
                f"unknown option {unknown[0]!r} in cache URL {url!r}. "
                f"Choices are: {'|'.join(URL_OPTIONS)}"
            )
        try:
            breaker = CircuitBreaker(
                failure_threshold=int(
                    opts.get("failures", 3 if retry.circuit_breaker else NEVER_OPENS)
                ),
                cooldown_s=float(opts.get("cooldown_s", 30.0)),
                name=f"DynamoDB table {parts.path!r}",
            )
            if "timeout_s" in opts:
                retry = retry.with_timeout(float(opts["timeout_s"]))
        except ValueError as exc:
            raise CacheError(f"bad option in cache URL {url!r}: {exc}") from None
        return cls(
            parts.path,
            endpoint_url=opts.get("endpoint"),
            region=opts.get("region"),
            retry=retry,
            breaker=breaker,
        )

    # -- reads -----------------------------------------------------------------------

    def get_many(self, model_version: str, keys: Sequence[str]) -> dict[str, CacheEntry]:
        unique = list(dict.fromkeys(keys))  # BatchGetItem rejects duplicate keys
        out: dict[str, CacheEntry] = {}
        now = time.time()
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            for item in self._batch_get(unique[start : start + BATCH_GET_LIMIT]):
                entry = _decode(item)
                if entry.model_version == model_version and not entry.expired(now):
                    out[entry.key] = entry
        return out

    def _batch_get(self, keys: list[str]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {self.table: {"Keys": [{"pk": {"S": k}} for k in keys]}}
        items: list[dict[str, Any]] = []
        for attempt in range(self.unprocessed_attempts):
            if attempt:
                self._sleep(self._backoff(attempt))
            response = self._call("batch_get_item", RequestItems=request)
            items.extend(response.get("Responses", {}).get(self.table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        left = len(request.get(self.table, {}).get("Keys", [])) if request else 0
        if left:
            with self._pool_lock:
                self.unprocessed_misses += left
        return items  # keys still unprocessed after the bound are misses (counted)

    # -- writes ----------------------------------------------------------------------

    def put_many(self, entries: Sequence[CacheEntry]) -> int:
        unique = list({e.key: e for e in entries}.values())  # same key, same prediction
        if not unique:
            return 0
        if len(unique) == 1:
            return int(self._put(unique[0]))
        results = list(self._executor().map(self._put_capturing, unique))
        errors = [r for r in results if isinstance(r, CacheError)]
        written = sum(1 for r in results if r is True)
        if not errors:
            return written
        message = f"{len(errors)} of {len(unique)} writes failed ({written} written): {errors[0]}"
        if all(isinstance(e, CacheUnavailableError) for e in errors):
            pairs = zip(unique, results, strict=True)
            failed = [e.key for e, r in pairs if isinstance(r, CacheError)]
            raise CacheWriteIncompleteError(message, written=written, failed_keys=failed)
        raise CacheError(message)

    def _put_capturing(self, entry: CacheEntry) -> bool | CacheError:
        try:
            return self._put(entry)
        except CacheError as exc:
            return exc

    def _put(self, entry: CacheEntry) -> bool:
        item: dict[str, Any] = {
            "pk": {"S": entry.key},
            "model_version": {"S": entry.model_version},
            "vector": {"B": encode_vector(entry.vector)},
            "created_at": {"N": repr(float(entry.created_at))},
        }
        if entry.expires_at is not None:
            item["expires_at"] = {"N": str(math.ceil(entry.expires_at))}
        if entry.computed_by:
            item["computed_by"] = {"S": entry.computed_by}
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except _ConditionFailed:
            return False  # already cached (immutable entries): a no-op
        return True

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.write_workers, thread_name_prefix="precast-ddb-put"
                )
            return self._pool

    # -- one call (botocore retries it) and the breaker ---------------------------------

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**attempt)]."""
        return random.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2**attempt)))

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        self.breaker.before_call()
        retried = f"after {self.retry.max_attempts} attempt(s), botocore {self.retry.mode} mode"
        try:
            response: dict[str, Any] = getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == CONDITION_FAILED:
                self.breaker.record_success()  # the table answered
                raise _ConditionFailed() from None
            message = f"DynamoDB {operation} on {self.table!r} failed: {code}: {exc}"
            self.breaker.record_failure(message)
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in TRANSIENT_CODES or status >= 500:
                raise CacheUnavailableError(f"{message} ({retried})") from None
            raise CacheError(message) from None
        except BotoCoreError as exc:  # connection refused, timeouts, DNS
            message = f"DynamoDB {operation} on {self.table!r} unreachable: {exc} ({retried})"
            self.breaker.record_failure(message)
            raise CacheUnavailableError(message) from None
        except Exception as exc:  # anything else still must not wedge the breaker
            message = f"DynamoDB {operation} on {self.table!r} failed: {exc!r}"
            self.breaker.record_failure(message)
            raise CacheError(message) from None
        self.breaker.record_success()
        return response

    def _make_client(self) -> Any:
        return make_client(
            "dynamodb",
            self.retry,
            endpoint_url=self._endpoint_url,
            region=self._region,
            pool=self.write_workers,
        )

    def reconnect(self) -> None:
        """A new boto3 client (new connections, new credentials lookup), a new write pool on
        next use and a closed circuit: what an environment restored from a snapshot must not
        share with its siblings."""
        self.close()
        self.client = self._make_client()
        self.breaker.reset()

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        close = getattr(self.client, "close", None)
        if callable(close):
            close()


class _ConditionFailed(Exception):
    """Internal: a conditional put found the key already present."""


def _decode(item: dict[str, Any]) -> CacheEntry:
    expires = item.get("expires_at")
    return CacheEntry(
        key=item["pk"]["S"],
        model_version=item.get("model_version", {}).get("S", ""),
        vector=decode_vector(bytes(item["vector"]["B"])),
        created_at=float(item.get("created_at", {}).get("N", 0)),
        expires_at=float(expires["N"]) if expires else None,
        computed_by=item.get("computed_by", {}).get("S", ""),
    )
