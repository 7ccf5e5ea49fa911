"""edge/cache/clients.py: one client factory, a retry profile per caller, bounded calls."""

from __future__ import annotations

import pytest

from edge.cache.clients import FUNCTIONS, RetryProfile, batch_profile, make_client
from edge.environment import PRECAST_BATCH_AWS_ATTEMPTS, PRECAST_BATCH_AWS_TIMEOUT_S, EnvVarError


def test_the_functions_profile_is_one_short_try_under_a_second() -> None:
    """GIVEN the request path's profile THEN botocore's standard mode, one attempt, and a
    worst case (connect + read timeout, no backoff) under a second: a miss is served live
    and the circuit breaker stops asking a cache that is down."""
    assert (FUNCTIONS.mode, FUNCTIONS.max_attempts, FUNCTIONS.circuit_breaker) == (
        "standard", 1, True,
    )  # fmt: skip
    assert FUNCTIONS.worst_case_s < 1.0


def test_the_batch_profile_comes_from_the_environment_and_is_bounded() -> None:
    """GIVEN the batch job's variables (or none) WHEN its profile is built THEN more attempts
    and patient timeouts, no circuit breaker, connect capped at 5 s, and a worst case per
    call of attempts x (connect + read) plus botocore's capped backoffs."""
    default = batch_profile({})
    assert (default.mode, default.max_attempts, default.read_timeout_s) == ("standard", 5, 30.0)
    assert default.connect_timeout_s == 5.0 and not default.circuit_breaker
    assert default.worst_case_s == 5 * (5 + 30) + (1 + 2 + 4 + 8)
    env = {PRECAST_BATCH_AWS_ATTEMPTS.name: "2", PRECAST_BATCH_AWS_TIMEOUT_S.name: "0.25"}
    quick = batch_profile(env)
    assert (quick.max_attempts, quick.connect_timeout_s, quick.read_timeout_s) == (2, 0.25, 0.25)
    assert quick.worst_case_s == 2 * 0.5 + 1
    with pytest.raises(EnvVarError, match="PRECAST_BATCH_AWS_ATTEMPTS"):
        batch_profile({PRECAST_BATCH_AWS_ATTEMPTS.name: "0"})


def test_the_factory_hands_the_profile_to_botocore() -> None:
    """GIVEN a profile WHEN the factory makes an S3 and a DynamoDB client THEN each carries
    botocore's retry mode, total attempts and timeouts of that profile (no network used)."""
    profile = RetryProfile("t", "adaptive", 4, 1.5, 2.5)
    for service in ("s3", "dynamodb"):
        client = make_client(
            service, profile, endpoint_url="http://127.0.0.1:9", region="us-east-1"
        )
        config = client.meta.config
        assert config.retries == {"mode": "adaptive", "total_max_attempts": 4}
        assert (config.connect_timeout, config.read_timeout) == (1.5, 2.5)
        client.close()


def test_a_profile_refuses_nonsense() -> None:
    """GIVEN a profile with an unknown mode or no attempts THEN ValueError at definition."""
    with pytest.raises(ValueError, match="mode"):
        RetryProfile("x", "legacy", 3, 1, 1)
    with pytest.raises(ValueError, match="attempts"):
        RetryProfile("x", "standard", 0, 1, 1)
