"""The DynamoDB cache backend against a real moto_server over HTTP.

Faults DynamoDB produces only under load (UnprocessedKeys, throttling) are injected with
botocore event hooks on the real client: the requests still go over the wire to
moto_server; only the answer of the first call is altered.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from function_events import load_event, response_json, with_body

from edge.cache import CacheEntry, cache_key, open_cache
from edge.cache.circuit import CLOSED, OPEN
from edge.cache.clients import FUNCTIONS, RetryProfile
from edge.cache.dynamodb import DynamoDBCache
from edge.exceptions import CacheUnavailableError
from optimize import corpus

pytestmark = pytest.mark.integration


def _create_table(endpoint: str) -> str:
    name = f"precast-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    return name


@pytest.fixture
def table(moto_reset: str) -> str:
    return _create_table(moto_reset)


@pytest.fixture
def cache(table: str, moto_endpoint: str) -> Iterator[DynamoDBCache]:
    # timeout_s=5: the functions' profile (one try), with timeouts a loaded machine's
    # moto_server always meets (production keeps the sub-second ones)
    url = f"dynamodb:{table}?endpoint={moto_endpoint}&region=us-east-1&timeout_s=5"
    c = DynamoDBCache.from_url(url)
    c._sleep = lambda s: None  # backoff waits are real; skip them to keep the suite fast
    yield c
    c.close()


def _vec(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _entries(version: str, n: int, *, offset: int = 0, ttl_s: float | None = None) -> list[Any]:
    texts = corpus.sample(n, offset=offset)
    return [CacheEntry.make(version, t, _vec(i + offset), ttl_s=ttl_s) for i, t in enumerate(texts)]


def test_an_entry_keeps_the_host_that_computed_it(cache: DynamoDBCache) -> None:
    """GIVEN entries tagged with the host kind and plan that computed them (and one from
    before the tag existed) WHEN read back THEN each tag round-trips unchanged."""
    tagged = CacheEntry.make("v1", "tagged text", _vec(1), computed_by="aarch64/per-text")
    legacy = CacheEntry.make("v1", "legacy text", _vec(2))
    assert cache.put_many([tagged, legacy]) == 2
    got = cache.get_many("v1", [tagged.key, legacy.key])
    assert got[tagged.key].computed_by == "aarch64/per-text"
    assert got[legacy.key].computed_by == ""


def test_round_trip_returns_the_same_vectors(cache: DynamoDBCache) -> None:
    """GIVEN 5 entries written WHEN read back by key THEN the same float32 vectors return."""
    entries = _entries("v1", 5)
    assert cache.put_many(entries) == 5
    got = cache.get_many("v1", [e.key for e in entries])
    assert set(got) == {e.key for e in entries}
    for e in entries:
        np.testing.assert_array_equal(got[e.key].vector, e.vector)
        assert got[e.key].model_version == "v1"


def test_open_cache_url_honours_aws_endpoint_url(table: str) -> None:
    """GIVEN only AWS_ENDPOINT_URL (set by the moto fixture) WHEN opened by URL THEN it works."""
    c = open_cache(f"dynamodb:{table}")
    try:
        entries = _entries("v1", 2, offset=10)
        assert c.put_many(entries) == 2
        assert len(c.get_many("v1", [e.key for e in entries])) == 2
    finally:
        c.close()


def test_more_than_100_keys_are_read_in_chunks(cache: DynamoDBCache) -> None:
    """GIVEN 150 cached entries WHEN all are read THEN two BatchGetItem calls return all 150."""
    entries = _entries("v1", 150, offset=20)
    assert cache.put_many(entries) == 150
    calls = []
    cache.client.meta.events.register(
        "before-call.dynamodb.BatchGetItem", lambda **kw: calls.append(1)
    )
    keys = [e.key for e in entries]
    got = cache.get_many("v1", keys + keys[:3])  # duplicates too: DynamoDB rejects them raw
    assert len(got) == 150
    assert len(calls) == 2


def test_expired_entries_are_not_returned(cache: DynamoDBCache) -> None:
    """GIVEN an entry whose expires_at has passed WHEN read THEN it is a miss (TTL is lazy)."""
    live = CacheEntry.make("v1", "a live text", _vec(1), ttl_s=3600)
    expired = CacheEntry(
        cache_key("v1", "old text"), "v1", _vec(2), time.time() - 10, time.time() - 1
    )
    assert cache.put_many([live, expired]) == 2
    item = cache.client.get_item(TableName=cache.table, Key={"pk": {"S": live.key}})["Item"]
    assert int(item["expires_at"]["N"]) >= int(live.expires_at or 0)
    assert set(cache.get_many("v1", [live.key, expired.key])) == {live.key}


def test_another_versions_entry_is_never_returned(cache: DynamoDBCache) -> None:
    """GIVEN an item stored under key K by version v1 WHEN v2 asks for K THEN it is a miss."""
    entry = CacheEntry.make("v1", "same text", _vec(3))
    cache.put_many([entry])
    assert cache.get_many("v2", [entry.key]) == {}
    assert set(cache.get_many("v1", [entry.key])) == {entry.key}


def test_conditional_writes_never_clobber(cache: DynamoDBCache) -> None:
    """GIVEN an existing item WHEN a write for the same key arrives (any version or vector)
    THEN it is a no-op, not counted, and the stored item is unchanged."""
    original = CacheEntry.make("v2", "text", _vec(4))
    assert cache.put_many([original]) == 1
    imposter = CacheEntry(original.key, "v1", _vec(5), time.time(), None)
    newcomer = CacheEntry.make("v2", "another text", _vec(6))
    assert cache.put_many([imposter, newcomer]) == 1
    assert cache.put_many([original]) == 0
    got = cache.get_many("v2", [original.key])
    np.testing.assert_array_equal(got[original.key].vector, original.vector)


def test_unprocessed_keys_are_retried(cache: DynamoDBCache) -> None:
    """GIVEN the first BatchGetItem answer moves 3 keys to UnprocessedKeys WHEN reading
    THEN they are asked again and every entry is returned."""
    entries = _entries("v1", 8, offset=200)
    cache.put_many(entries)
    calls: list[int] = []

    def unprocess(parsed: dict[str, Any], **kwargs: Any) -> None:
        calls.append(len(parsed.get("Responses", {}).get(cache.table, [])))
        if len(calls) == 1:
            items = parsed["Responses"][cache.table]
            moved, parsed["Responses"][cache.table] = items[:3], items[3:]
            parsed["UnprocessedKeys"] = {
                cache.table: {"Keys": [{"pk": item["pk"]} for item in moved]}
            }

    cache.client.meta.events.register("after-call.dynamodb.BatchGetItem", unprocess)
    got = cache.get_many("v1", [e.key for e in entries])
    assert calls == [8, 3]
    assert set(got) == {e.key for e in entries}


def test_keys_still_unprocessed_after_the_bound_are_misses(cache: DynamoDBCache) -> None:
    """GIVEN BatchGetItem never processes one key WHEN reading THEN bounded attempts, the
    rest are returned and that key is a miss (live inference covers it), counted in
    unprocessed_misses (the batch job logs it: never silent)."""
    entries = _entries("v1", 4, offset=300)
    cache.put_many(entries)
    calls: list[int] = []

    def keep_one_back(parsed: dict[str, Any], **kwargs: Any) -> None:
        calls.append(1)
        items = parsed["Responses"][cache.table]
        held = [i for i in items if i["pk"]["S"] == entries[0].key]
        parsed["Responses"][cache.table] = [i for i in items if i not in held]
        if held:
            parsed["UnprocessedKeys"] = {cache.table: {"Keys": [{"pk": held[0]["pk"]}]}}

    cache.client.meta.events.register("after-call.dynamodb.BatchGetItem", keep_one_back)
    got = cache.get_many("v1", [e.key for e in entries])
    assert len(calls) == cache.unprocessed_attempts
    assert set(got) == {e.key for e in entries[1:]}
    assert cache.unprocessed_misses == 1


def _throttled(code: str) -> AWSResponse:
    """What DynamoDB answers when it throttles: HTTP 400 with the error's type in the body."""
    http = AWSResponse("http://moto", 400, {"x-amzn-requestid": "throttled"}, None)
    http._content = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "Rate exceeded"}
    ).encode()
    return http


def _patient(table: str, endpoint: str) -> DynamoDBCache:
    """A cache with the batch job's kind of profile: botocore standard retries, 3 attempts."""
    profile = RetryProfile("test", "standard", 3, 5.0, 5.0)
    return DynamoDBCache.from_url(f"dynamodb:{table}?endpoint={endpoint}&region=us-east-1", profile)


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"],
)
def test_throttling_is_retried_by_botocore(table: str, moto_endpoint: str, code: str) -> None:
    """GIVEN a cache whose profile allows 3 attempts and the first two PutItem answers are
    DynamoDB's throttling error WHEN writing THEN botocore retries over HTTP and the write
    lands; the breaker stays closed (one call, not three failures)."""
    cache = _patient(table, moto_endpoint)
    sent: list[int] = []

    def throttle_twice(**kwargs: Any) -> AWSResponse | None:
        sent.append(1)
        return _throttled(code) if len(sent) <= 2 else None

    cache.client.meta.events.register("before-send.dynamodb.PutItem", throttle_twice)
    try:
        entry = CacheEntry.make("v1", "throttled text", _vec(7))
        assert cache.put_many([entry]) == 1
        assert len(sent) == 3
        assert cache.breaker.state == CLOSED
        assert set(cache.get_many("v1", [entry.key])) == {entry.key}
    finally:
        cache.close()


def test_throttling_beyond_the_retries_is_cache_unavailable(table: str, moto_endpoint: str) -> None:
    """GIVEN every BatchGetItem is throttled WHEN reading THEN CacheUnavailableError after the
    profile's attempts (botocore's), and repeated failures open the breaker."""
    cache = _patient(table, moto_endpoint)
    sent: list[int] = []

    def throttle(**kwargs: Any) -> AWSResponse:
        sent.append(1)
        return _throttled("ProvisionedThroughputExceededException")

    cache.client.meta.events.register("before-send.dynamodb.BatchGetItem", throttle)
    try:
        for _ in range(cache.breaker.failure_threshold):
            with pytest.raises(CacheUnavailableError, match="after 3 attempt"):
                cache.get_many("v1", ["k"])
        assert len(sent) == 3 * cache.breaker.failure_threshold
        assert cache.breaker.state == OPEN
    finally:
        cache.close()


def test_the_functions_profile_tries_once_with_a_sub_second_worst_case(
    cache: DynamoDBCache,
) -> None:
    """GIVEN the default (functions) profile WHEN one PutItem is throttled THEN it is not
    retried (the breaker and live inference cover it), and the worst case of one call,
    every timeout and backoff included, is under a second."""
    sent: list[int] = []

    def throttle(**kwargs: Any) -> AWSResponse:
        sent.append(1)
        return _throttled("ThrottlingException")

    cache.client.meta.events.register("before-send.dynamodb.PutItem", throttle)
    with pytest.raises(CacheUnavailableError, match="ThrottlingException"):
        cache.put_many([CacheEntry.make("v1", "once", _vec(9))])
    assert sent == [1]
    assert (cache.retry.mode, cache.retry.max_attempts) == ("standard", 1)
    assert FUNCTIONS.worst_case_s < 1.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_cache_opens_the_breaker_and_fails_fast(moto_endpoint: str) -> None:
    """GIVEN DynamoDB on a closed port WHEN called repeatedly THEN the first calls fail with
    CacheUnavailableError, the breaker opens, and later calls fail without any network."""
    port = _closed_port()
    c = DynamoDBCache.from_url(f"dynamodb:t?endpoint=http://127.0.0.1:{port}&failures=2")
    sent: list[int] = []
    c.client.meta.events.register("before-send.dynamodb.*", lambda **kw: sent.append(1))
    try:
        for _ in range(2):
            with pytest.raises(CacheUnavailableError, match="unreachable"):
                c.get_many("v1", ["k"])
        assert c.breaker.state == OPEN
        attempts = len(sent)
        with pytest.raises(CacheUnavailableError, match="circuit open"):
            c.get_many("v1", ["k"])
        with pytest.raises(CacheUnavailableError, match="circuit open"):
            c.put_many([CacheEntry.make("v1", "t", _vec(8))])
        assert len(sent) == attempts  # failed fast: not one more request went out
    finally:
        c.close()


def test_app_serves_live_when_the_cache_is_down(
    sample_model: Any, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN the Lambda handler path with a DynamoDB cache on a closed port WHEN a predict
    event arrives THEN 200 with live vectors, cache.error set, and CacheUnavailable=1."""
    from function_events import emf_blobs
    from mangum import Mangum

    from functions.app import create_app
    from functions.lambda_host import MetricsObserver, build_handler, make_logger, make_metrics
    from functions.local_host import LocalLambdaContext
    from functions.registry import ModelRegistry
    from functions.settings import Settings

    port = _closed_port()
    down = DynamoDBCache.from_url(f"dynamodb:t?endpoint=http://127.0.0.1:{port}&failures=1")
    registry = ModelRegistry({sample_model.name: sample_model}, down)
    settings = Settings(artifact_dirs=(sample_model.directory,))
    metrics = make_metrics()
    app = create_app(registry, settings=settings, observer=MetricsObserver(metrics))
    handler = build_handler(Mangum(app, lifespan="off"), logger=make_logger(), metrics=metrics)
    texts = corpus.sample(2, offset=400)
    event = with_body(load_event("function_url_predict.json"), json.dumps({"inputs": texts}))
    try:
        for expected in ("unreachable", "circuit open"):
            capsys.readouterr()
            response = handler(event, LocalLambdaContext())
            assert response["statusCode"] == 200
            body = response_json(response)
            assert body["cached"] == [False, False]
            assert expected in body["cache"]["error"]
            np.testing.assert_allclose(
                np.asarray(body["predictions"], np.float32), sample_model.predict(texts), atol=1e-5
            )
            (blob,) = [b for b in emf_blobs(capsys.readouterr().out) if "Items" in b]
            assert blob["CacheUnavailable"] == [1.0]
    finally:
        registry.close()


def test_a_partly_failed_batch_of_writes_says_which_keys_failed(cache: DynamoDBCache) -> None:
    """GIVEN three entries and DynamoDB throttling the PutItem of one of them (beyond the
    profile's tries) WHEN put_many writes them THEN the other two land and
    CacheWriteIncompleteError (a CacheUnavailableError) names the one that did not, so a
    caller can retry just that one."""
    from edge.cache.base import CacheWriteIncompleteError

    batch = _entries("v1", 3, offset=500)
    victim = batch[1].key

    def throttle_victim(request: Any, **kwargs: Any) -> AWSResponse | None:
        body = json.loads(request.body)
        return _throttled("ThrottlingException") if body["Item"]["pk"]["S"] == victim else None

    cache.client.meta.events.register("before-send.dynamodb.PutItem", throttle_victim)
    with pytest.raises(CacheWriteIncompleteError) as raised:
        cache.put_many(batch)
    assert raised.value.written == 2 and raised.value.failed_keys == [victim]
    assert set(cache.get_many("v1", [e.key for e in batch])) == {batch[0].key, batch[2].key}
